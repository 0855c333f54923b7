import { InvalidOptionError } from '../errors.js';
import { assertMiddlewares, compose } from '../middleware/compose.js';
import { toChain } from '../middleware/dispatcher.js';
import type {
  AnyMiddleware,
  Chain,
  Context,
  Dispatcher,
  DispatcherObject,
  Middleware,
} from '../middleware/types.js';
import { RESOLVED, takeNow } from './settled.js';
import type { Consumer, Delivery } from './types.js';

export interface PumpOptions {
  /** `false` (default): the first dispatch or middleware error stops the pump. `true`: nack it and go on. */
  failSilently?: boolean | undefined;
}

export interface DrainingOptions {
  /** Drain loops pulling from the consumer at once. Default 1 (dispatch in the consumer's order). */
  concurrency?: number | undefined;
  /** `true`: on stop, keep dispatching until the consumer ends. `false` (default): stop pulling now. */
  graceful?: boolean | undefined;
  /** Milliseconds a non-graceful stop waits for in-flight dispatches before releasing them. Default 10 s. */
  shutdownTimeout?: number | undefined;
}

/** What a pump's dispatcher and middlewares see: the dispatch context plus the delivery's attempt. */
export interface PumpContext<T> extends Context<T> {
  readonly attempt: number;
}

/** A bus (anything with `dispatch`) or a function of the message and the pump's context. */
export type PumpDispatcher<T> = ((message: T, context: PumpContext<T>) => unknown) | DispatcherObject<T>;

export interface PumpStats {
  /** Deliveries being dispatched now (or acked/nacked after their dispatch). */
  readonly inFlight: number;
  /** Dispatches that succeeded. */
  readonly processed: number;
  /** Dispatches that failed. */
  readonly failed: number;
}

/** Drains a consumer into a dispatcher: success acks, failure nacks with the error. */
export class Pump<T> {
  readonly #consumer: Consumer<T>;
  readonly #terminal: Chain<T, PumpContext<T>>;
  readonly #failSilently: boolean;
  readonly #middlewares: AnyMiddleware<T, PumpContext<T>>[] = [];

  constructor(consumer: Consumer<T>, dispatcher: PumpDispatcher<NoInfer<T>>, options: PumpOptions = {}) {
    if (typeof (consumer as Partial<Consumer<T>> | null)?.[Symbol.asyncIterator] !== 'function') {
      throw new InvalidOptionError('consumer', consumer, 'an async iterable of deliveries');
    }
    this.#consumer = consumer;
    this.#terminal = toChain<T, PumpContext<T>>(dispatcher as Dispatcher<T>);
    this.#failSilently = options.failSilently ?? false;
  }

  /** Middlewares around each dispatch, outer first; they apply to drainings started afterwards. */
  use(...middlewares: Middleware<T, PumpContext<T>>[]): this;
  use(...middlewares: AnyMiddleware<T, PumpContext<T>>[]): this;
  use(...middlewares: AnyMiddleware<T, PumpContext<T>>[]): this {
    assertMiddlewares(middlewares);
    this.#middlewares.push(...middlewares);
    return this;
  }

  /** Starts draining now. Stop it with `stop()` or by disposing it (`await using`). */
  draining(options: DrainingOptions = {}): Draining<T> {
    const { concurrency = 1, graceful = false, shutdownTimeout = 10_000 } = options;
    assertConcurrency(concurrency);
    if (!(shutdownTimeout >= 0))
      throw new InvalidOptionError('shutdownTimeout', shutdownTimeout, 'milliseconds ≥ 0');
    const chain = compose(this.#middlewares, this.#terminal);
    return new Draining(
      this.#consumer,
      chain,
      { concurrency, graceful, shutdownTimeout },
      this.#failSilently,
    );
  }
}

/**
 * A running pump. States: running → stopping → stopped.
 *
 * - running: `concurrency` loops pull deliveries and dispatch them one at a time each. A loop exits
 *   when the consumer ends, or when there are more loops than `concurrency` (after it finished its
 *   current message). When the last loop exits on its own, the pump is stopped.
 * - stopping (a non-graceful stop, or the first error without `failSilently`): the shared signal
 *   aborts, the iterator is returned, and in-flight dispatches get `shutdownTimeout` to settle; what
 *   is still running then is released (nack with requeue). A loop still waiting on the consumer is
 *   not waited for: whatever it receives later is released at once.
 * - stopped: `done` resolves, or rejects with the error that stopped the pump.
 */
export class Draining<T> implements AsyncDisposable {
  readonly done: Promise<void>;
  readonly #iterator: AsyncIterator<Delivery<T>>;
  readonly #take: (() => Delivery<T> | undefined) | undefined;
  readonly #chain: Chain<T, PumpContext<T>>;
  readonly #graceful: boolean;
  readonly #shutdownTimeout: number;
  readonly #failSilently: boolean;
  readonly #controller = new AbortController();
  /** One slot per loop holding the delivery it is dispatching; a stop that times out releases them. */
  readonly #loops = new Set<LoopSlot<T>>();
  /**
   * Acks under way. A loop does not wait for its ack before taking the next message (a durable
   * queue's ack is a write: waiting would cap each write at `concurrency` acks), but stopping does.
   */
  readonly #acking = new Set<Promise<unknown>>();
  #state: 'running' | 'stopping' | 'stopped' = 'running';
  #concurrency: number;
  #processed = 0;
  #failed = 0;
  #error: { reason: unknown } | undefined;
  #onIdle: (() => void) | undefined;
  #settleDone!: (error?: { reason: unknown }) => void;

  constructor(
    consumer: Consumer<T>,
    chain: Chain<T, PumpContext<T>>,
    options: Required<DrainingOptions>,
    failSilently: boolean,
  ) {
    this.#iterator = consumer[Symbol.asyncIterator]();
    const take = (consumer as { [takeNow]?: () => Delivery<T> | undefined })[takeNow];
    this.#take = typeof take === 'function' ? take.bind(consumer) : undefined;
    this.#chain = chain;
    this.#concurrency = options.concurrency;
    this.#graceful = options.graceful;
    this.#shutdownTimeout = options.shutdownTimeout;
    this.#failSilently = failSilently;
    this.done = new Promise<void>((resolve, reject) => {
      this.#settleDone = (error) => (error ? reject(error.reason) : resolve());
    });
    this.done.catch(() => {}); // surfaced through stop() / disposal; never an unhandled rejection
    this.#spawn();
  }

  get concurrency(): number {
    return this.#concurrency;
  }

  /** Re-tunes while running: more loops start now; surplus loops exit after their current message. */
  set concurrency(value: number) {
    assertConcurrency(value);
    this.#concurrency = value;
    this.#spawn();
  }

  get stats(): PumpStats {
    return { inFlight: this.#inFlight(), processed: this.#processed, failed: this.#failed };
  }

  /**
   * Graceful: resolves once the consumer ended and everything was dispatched. Otherwise stops now
   * (see the class comment). Rejects with the error that stopped the pump, if one did.
   */
  stop(): Promise<void> {
    if (!this.#graceful) this.#beginStop();
    return this.done;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  #spawn(): void {
    while (this.#state === 'running' && this.#loops.size < this.#concurrency) void this.#loop();
  }

  async #loop(): Promise<void> {
    const slot: LoopSlot<T> = { delivery: undefined };
    this.#loops.add(slot);
    try {
      while (this.#state === 'running' && this.#loops.size <= this.#concurrency) {
        let delivery = this.#take?.();
        if (delivery === undefined) {
          const next = await this.#iterator.next();
          if (next.done) break;
          delivery = next.value;
          if (this.#state !== 'running') {
            await this.#release(delivery);
            break;
          }
        }
        // The hot path: dispatch, then ack without waiting for the ack.
        slot.delivery = delivery;
        const message = delivery.message;
        try {
          const result = this.#chain(message, {
            signal: this.#controller.signal,
            message,
            attempt: delivery.attempt,
          });
          if (result instanceof Promise) await result;
        } catch (error) {
          await this.#onDispatchError(slot, delivery, error);
          continue;
        }
        if (slot.delivery !== delivery) continue; // released by a stop that timed out
        this.#processed++;
        const acked = delivery.ack();
        if (acked !== RESOLVED) this.#trackAck(acked);
        slot.delivery = undefined;
        if (this.#onIdle !== undefined) this.#idleCheck();
      }
    } catch (error) {
      this.#fail(error); // the consumer's own iteration failed: always stops the pump
    } finally {
      this.#loops.delete(slot);
      if (this.#loops.size === 0 && this.#state === 'running') void this.#finishAfterAcks();
    }
  }

  async #onDispatchError(slot: LoopSlot<T>, delivery: Delivery<T>, error: unknown): Promise<void> {
    if (slot.delivery !== delivery) return; // released by a stop that timed out
    if (this.#controller.signal.aborted) {
      // Aborted by a stop: not an error, the message goes back for another consumer.
      await this.#release(delivery);
    } else {
      this.#failed++;
      await delivery.nack({ error }).catch((nackError) => this.#settlementFailed(nackError));
      if (!this.#failSilently) this.#fail(error);
    }
    slot.delivery = undefined;
    this.#idleCheck();
  }

  #settlementFailed(error: unknown): void {
    if (!this.#failSilently) this.#fail(error);
  }

  async #release(delivery: Delivery<T>): Promise<void> {
    await delivery.nack({ requeue: true }).catch(() => {}); // at worst the queue redelivers it later
  }

  #fail(reason: unknown): void {
    this.#error ??= { reason };
    this.#beginStop();
  }

  #beginStop(): void {
    if (this.#state !== 'running') return;
    this.#state = 'stopping';
    this.#controller.abort();
    this.#iterator.return?.().catch(() => {});
    void this.#settleInFlight();
  }

  #trackAck(acked: Promise<void>): void {
    const settled: Promise<unknown> = acked
      .catch((error) => this.#settlementFailed(error))
      .then(() => {
        this.#acking.delete(settled);
        this.#idleCheck();
      });
    this.#acking.add(settled);
  }

  /** The consumer ended: done once the last acks are settled. */
  async #finishAfterAcks(): Promise<void> {
    await Promise.all(this.#acking);
    this.#finish();
  }

  async #settleInFlight(): Promise<void> {
    if (this.#inFlight() > 0 || this.#acking.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.#onIdle = resolve;
        // Infinity waits for ever; Node would fire a longer timer after 1 ms, so cap at its maximum.
        if (Number.isFinite(this.#shutdownTimeout))
          timer = setTimeout(resolve, Math.min(this.#shutdownTimeout, 2 ** 31 - 1));
      });
      clearTimeout(timer);
    }
    const unfinished: Delivery<T>[] = [];
    for (const slot of this.#loops) {
      if (slot.delivery !== undefined) unfinished.push(slot.delivery);
      slot.delivery = undefined;
    }
    await Promise.all(unfinished.map((delivery) => this.#release(delivery)));
    this.#finish();
  }

  #inFlight(): number {
    let count = 0;
    for (const slot of this.#loops) if (slot.delivery !== undefined) count++;
    return count;
  }

  #idleCheck(): void {
    if (this.#onIdle !== undefined && this.#inFlight() === 0 && this.#acking.size === 0) this.#onIdle();
  }

  #finish(): void {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#settleDone(this.#error);
  }
}

interface LoopSlot<T> {
  delivery: Delivery<T> | undefined;
}

function assertConcurrency(concurrency: unknown): asserts concurrency is number {
  if (!Number.isInteger(concurrency) || (concurrency as number) < 1) {
    throw new InvalidOptionError('concurrency', concurrency, 'an integer ≥ 1');
  }
}
