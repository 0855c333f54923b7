import { setMaxListeners } from 'node:events';
import { InvalidOptionError } from '../../errors.js';
import type { Chain, Context } from '../../middleware/types.js';
import { Timer } from '../../timer.js';
import { takeNow, unwaitNow, type Waiter, waitNow } from '../hand-off.js';
import { Fifo } from '../memory/buffers.js';
import { RESOLVED } from '../settled.js';
import type { Consumer, Delivery, NackOptions } from '../types.js';

/** What a pump's dispatcher and middlewares see: the dispatch context plus the delivery's attempt. */
export interface PumpContext<T> extends Context<T> {
  readonly attempt: number;
}

export interface DrainingOptions {
  /** Drain loops pulling from the consumer at once. Default 1 (dispatch in the consumer's order). */
  concurrency?: number | undefined;
  /** `true`: on stop, keep dispatching until the consumer ends. `false` (default): stop pulling now. */
  graceful?: boolean | undefined;
  /** Milliseconds a non-graceful stop waits for in-flight dispatches before releasing them. Default 10 s. */
  shutdownTimeout?: number | undefined;
}

export interface PumpStats {
  /** Deliveries being dispatched now (or acked/nacked after their dispatch). */
  readonly inFlight: number;
  /** Dispatches that succeeded. */
  readonly processed: number;
  /** Dispatches that failed. */
  readonly failed: number;
}

/**
 * A running pump. States: running → stopping → stopped.
 *
 * - running: `concurrency` loops pull deliveries and dispatch them one at a time each. A loop exits
 *   when the consumer ends, or when there are more loops than `concurrency`: at once if it waits on a
 *   consumer that can withdraw it (`unwaitNow`), else after its current message. A surplus loop that
 *   receives a delivery hands it to the others (`#handed`) unless a dispatch slot is free. When the
 *   last loop exits on its own, the pump is stopped.
 * - stopping (a non-graceful stop, or the first error without `failSilently`): the shared signal
 *   aborts, the iterator is returned, and in-flight dispatches get `shutdownTimeout` to settle; what
 *   is still running then is released (nack with requeue). A dispatch that rejects once the signal
 *   aborted is released too, whatever its error: the abort's doing cannot be told apart reliably
 *   (an EventBus rejects with an AggregateError of its handlers' aborts), and a failure released
 *   by mistake is retried, where an abort nacked by mistake could be dropped. A loop still waiting
 *   on the consumer is not waited for: whatever it receives later is released at once.
 * - stopped: `done` resolves, or rejects with the error that stopped the pump.
 *
 * A loop is a chain of callbacks rather than an `async` function so that a queue offering `waitNow`
 * (MemoryQueue) can start a waiting loop's dispatch inside `send`, with no promise per hand-off:
 * `#continue` takes what is ready and dispatches it; a pending dispatch resumes the loop from its
 * `then` callbacks; a loop with nothing to take waits on the consumer and resumes in `#received`.
 */
export class Draining<T> implements AsyncDisposable {
  readonly done: Promise<void>;
  readonly #iterator: AsyncIterator<Delivery<T>>;
  readonly #take: (() => Delivery<T> | undefined) | undefined;
  readonly #wait: ((waiter: Waiter<Delivery<T>>) => void) | undefined;
  readonly #unwait: ((waiter: Waiter<Delivery<T>>) => boolean) | undefined;
  readonly #chain: Chain<T, PumpContext<T>>;
  readonly #graceful: boolean;
  readonly #shutdownTimeout: number;
  readonly #failSilently: boolean;
  readonly #controller = new AbortController();
  readonly #loops = new Set<Loop<T>>();
  /** Deliveries surplus loops received after `concurrency` was lowered, in the order received. */
  readonly #handed = new Fifo<Delivery<T>>();
  /**
   * Acks under way. A loop does not wait for its ack before taking the next message (a durable
   * queue's ack is a write: waiting would cap each write at `concurrency` acks), but stopping does.
   */
  readonly #acking = new Set<Promise<unknown>>();
  #state: 'running' | 'stopping' | 'stopped' = 'running';
  #concurrency: number;
  /** Dispatches on the stack: a hand-off arriving meanwhile (a handler sending) waits a microtask. */
  #depth = 0;
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
    const wait = (this.#iterator as { [waitNow]?: (waiter: Waiter<Delivery<T>>) => void })[waitNow];
    this.#wait =
      this.#take !== undefined && typeof wait === 'function' ? wait.bind(this.#iterator) : undefined;
    const unwait = (this.#iterator as { [unwaitNow]?: (waiter: Waiter<Delivery<T>>) => boolean })[unwaitNow];
    this.#unwait =
      this.#wait !== undefined && typeof unwait === 'function' ? unwait.bind(this.#iterator) : undefined;
    this.#chain = chain;
    this.#concurrency = options.concurrency;
    this.#graceful = options.graceful;
    this.#shutdownTimeout = options.shutdownTimeout;
    this.#failSilently = failSilently;
    this.done = new Promise<void>((resolve, reject) => {
      this.#settleDone = (error) => (error ? reject(error.reason) : resolve());
    });
    this.done.catch(() => {}); // surfaced through stop() / disposal; never an unhandled rejection
    // Each in-flight dispatch may listen on the signal (timeout(), retry()): not a leak.
    setMaxListeners(0, this.#controller.signal);
    this.#spawn();
  }

  get concurrency(): number {
    return this.#concurrency;
  }

  /** Re-tunes while running: more loops start now; fewer never run more dispatches than `value`. */
  set concurrency(value: number) {
    assertConcurrency(value);
    this.#concurrency = value;
    this.#retireIdle();
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
    while (this.#state === 'running' && this.#loops.size < this.#concurrency) {
      const loop: Loop<T> = {
        iterator: this.#iterator,
        delivery: undefined,
        dispatched: () => {
          this.#succeeded(loop);
          this.#continue(loop);
        },
        failed: (error) => this.#failedDispatch(loop, error),
        received: (delivery) => this.#received(loop, delivery),
        next: (result) => this.#received(loop, result.done ? undefined : result.value),
        broken: (error) => {
          this.#fail(error); // the consumer's own iteration failed: always stops the pump
          this.#exit(loop);
        },
      };
      this.#loops.add(loop);
      this.#continue(loop);
    }
  }

  /** Dispatches what is ready until a dispatch is pending, nothing is ready, or the loop must exit. */
  #continue(loop: Loop<T>): void {
    while (this.#state === 'running') {
      let delivery: Delivery<T> | undefined;
      if (this.#handed.size > 0 || this.#loops.size > this.#concurrency) {
        delivery = this.#handedOver(); // concurrency was lowered
        if (delivery === undefined) break;
      } else {
        delivery = this.#take?.();
        if (delivery === undefined) {
          if (this.#wait !== undefined) this.#wait(loop);
          else this.#next(loop);
          return;
        }
      }
      if (this.#dispatch(loop, delivery)) return;
    }
    this.#exit(loop);
  }

  /**
   * What surplus loops handed over, oldest first, if a dispatch slot is free (always so for a loop
   * that is not surplus: the others hold fewer than `concurrency` dispatches); else the loop exits.
   */
  #handedOver(): Delivery<T> | undefined {
    return this.#handed.size > 0 && this.#inFlight() < this.#concurrency ? this.#handed.shift() : undefined;
  }

  /** Surplus loops waiting on a consumer that can withdraw them exit now: they hold nothing. */
  #retireIdle(): void {
    if (this.#unwait === undefined) return; // a pending `next()` cannot be withdrawn: see `#received`
    for (const loop of this.#loops) {
      if (this.#loops.size <= this.#concurrency) return;
      if (this.#unwait(loop)) this.#exit(loop);
    }
  }

  #next(loop: Loop<T>): void {
    let next: Promise<IteratorResult<Delivery<T>>>;
    try {
      next = this.#iterator.next();
    } catch (error) {
      loop.broken(error);
      return;
    }
    next.then(loop.next, loop.broken);
  }

  #received(loop: Loop<T>, delivery: Delivery<T> | undefined): void {
    if (delivery === undefined || this.#state !== 'running') {
      if (delivery !== undefined) void this.#release(delivery);
      this.#exit(loop);
      return;
    }
    if (this.#depth > 0) queueMicrotask(() => this.#received(loop, delivery));
    else if (this.#handed.size > 0 || this.#loops.size > this.#concurrency) {
      // concurrency was lowered while this loop waited: dispatch in turn, within the new cap
      this.#handed.push(delivery);
      this.#continue(loop);
    } else if (!this.#dispatch(loop, delivery)) this.#continue(loop);
  }

  /** Starts a dispatch; `true` while it is pending (the loop resumes from its callbacks). */
  #dispatch(loop: Loop<T>, delivery: Delivery<T>): boolean {
    loop.delivery = delivery;
    const message = delivery.message;
    let result: unknown;
    this.#depth++;
    try {
      result = this.#chain(message, { signal: this.#controller.signal, message, attempt: delivery.attempt });
    } catch (error) {
      loop.failed(error);
      return true;
    } finally {
      this.#depth--;
    }
    if (result instanceof Promise) {
      result.then(loop.dispatched, loop.failed);
      return true;
    }
    if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
      // a promise of another realm or library, or any thenable: adopted like an `await` would
      Promise.resolve(result).then(loop.dispatched, loop.failed);
      return true;
    }
    this.#succeeded(loop);
    return false;
  }

  /** Acks without waiting for the ack. */
  #succeeded(loop: Loop<T>): void {
    const delivery = loop.delivery;
    if (delivery === undefined) return; // released by a stop that timed out
    loop.delivery = undefined;
    this.#processed++;
    let acked: Promise<void>;
    try {
      acked = delivery.ack();
    } catch (error) {
      acked = Promise.reject(error); // a queue whose ack throws instead of rejecting
    }
    if (acked !== RESOLVED) this.#trackAck(acked);
    if (this.#onIdle !== undefined) this.#idleCheck();
  }

  #failedDispatch(loop: Loop<T>, error: unknown): void {
    const delivery = loop.delivery;
    if (delivery === undefined) {
      this.#continue(loop); // released by a stop that timed out: the loop exits
      return;
    }
    let settled: Promise<void>;
    if (this.#controller.signal.aborted) {
      settled = this.#release(delivery); // aborted by a stop: not an error, the message goes back
    } else {
      this.#failed++;
      // Recorded first, so that it is what the pump reports even if the nack fails; the stop begins
      // once the nack is done (returning the iterator may close what the nack goes through).
      if (!this.#failSilently) this.#error ??= { reason: error };
      settled = nackOf(delivery, { error }).then(
        () => {
          if (!this.#failSilently) this.#beginStop();
        },
        (nackError) => this.#nackFailed(delivery, nackError),
      );
    }
    void settled.then(() => {
      loop.delivery = undefined;
      this.#idleCheck();
      this.#continue(loop);
    });
  }

  #exit(loop: Loop<T>): void {
    this.#loops.delete(loop);
    if (this.#loops.size === 0 && this.#state === 'running') void this.#finishAfterAcks();
  }

  /**
   * Stops whatever `failSilently` says, so the message is neither lost nor silently retried for
   * ever; then puts it back, since a failed nack leaves the delivery unsettled (as a MemoryQueue does).
   */
  #nackFailed(delivery: Delivery<T>, error: unknown): Promise<void> {
    this.#fail(error);
    return this.#release(delivery);
  }

  async #release(delivery: Delivery<T>): Promise<void> {
    await nackOf(delivery, { requeue: true }).catch(() => {}); // at worst the queue redelivers it later
  }

  #fail(reason: unknown): void {
    this.#error ??= { reason };
    this.#beginStop();
  }

  #beginStop(): void {
    if (this.#state !== 'running') return;
    this.#state = 'stopping';
    this.#controller.abort();
    for (let d = this.#handed.shift(); d !== undefined; d = this.#handed.shift()) void this.#release(d);
    this.#iterator.return?.().catch(() => {});
    void this.#settleInFlight();
  }

  #trackAck(acked: Promise<void>): void {
    const settled: Promise<unknown> = acked
      .catch((error) => {
        if (!this.#failSilently) this.#fail(error);
      })
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
      let timer: Timer | undefined;
      await new Promise<void>((resolve) => {
        this.#onIdle = resolve;
        // Infinity waits for ever, with no timer that would keep the process alive meanwhile.
        if (Number.isFinite(this.#shutdownTimeout)) timer = new Timer(this.#shutdownTimeout, resolve);
      });
      timer?.cancel();
    }
    const unfinished: Delivery<T>[] = [];
    for (const loop of this.#loops) {
      if (loop.delivery !== undefined) unfinished.push(loop.delivery);
      loop.delivery = undefined;
    }
    await Promise.all(unfinished.map((delivery) => this.#release(delivery)));
    this.#finish();
  }

  #inFlight(): number {
    let count = 0;
    for (const loop of this.#loops) if (loop.delivery !== undefined) count++;
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

/** One drain loop: the delivery it is dispatching, and its callbacks, made once per loop. */
interface Loop<T> extends Waiter<Delivery<T>> {
  /** Until settled; a stop that times out releases it and clears this. */
  delivery: Delivery<T> | undefined;
  readonly dispatched: () => void;
  readonly failed: (error: unknown) => void;
  readonly received: (delivery: Delivery<T> | undefined) => void;
  readonly next: (result: IteratorResult<Delivery<T>>) => void;
  readonly broken: (error: unknown) => void;
}

/** `delivery.nack(options)`, a queue whose nack throws instead of rejecting included. */
function nackOf<T>(delivery: Delivery<T>, options: NackOptions): Promise<void> {
  try {
    return delivery.nack(options);
  } catch (error) {
    return Promise.reject(error);
  }
}

export function assertConcurrency(concurrency: unknown): asserts concurrency is number {
  if (!Number.isInteger(concurrency) || (concurrency as number) < 1) {
    throw new InvalidOptionError('concurrency', concurrency, 'an integer ≥ 1');
  }
}
