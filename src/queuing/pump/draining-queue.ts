import type { AnyMiddleware } from '../../middleware/types.js';
import type { Producer, Queue, RateLimit, SendOptions } from '../types.js';
import type { Draining, PumpContext, PumpStats } from './draining.js';
import { Pump, type PumpDispatcher } from './pump.js';

/** Options of `MemoryQueue.draining`: the pump's and its draining's, the draining always graceful. */
export interface MemoryDrainingOptions<T> {
  /**
   * Messages dispatched at once, as {@link DrainingOptions.concurrency}.
   *
   * @defaultValue `1`
   */
  concurrency?: number;
  /**
   * As {@link PumpOptions.failSilently}: `false` stops the pump (and closes the queue) on the first
   * error; `true` nacks and goes on.
   *
   * @defaultValue `false`
   */
  failSilently?: boolean;
  /** Middlewares around each dispatch, outer first; unset, none. */
  middlewares?: AnyMiddleware<T, PumpContext<T>>[];
  /** See {@link DrainingOptions.rateLimit}. */
  rateLimit?: RateLimit | undefined;
  /** See {@link DrainingOptions.groupConcurrency}. */
  groupConcurrency?: number | undefined;
}

/**
 * `queue.draining(dispatcher)`: a graceful pump on `queue`, and its producer end. The pump stopping
 * on an error closes the queue (`closeOnFailure`, by default `close()`), so senders learn of it.
 */
/** @internal */
export function drainingQueue<T>(
  queue: Queue<T>,
  dispatcher: PumpDispatcher<NoInfer<T>>,
  options: MemoryDrainingOptions<T> = {},
  closeOnFailure: (error: unknown) => unknown = () => queue.close(),
): DrainingQueue<T> {
  const { concurrency, failSilently, middlewares = [], rateLimit, groupConcurrency } = options;
  const pump = new Pump(queue, dispatcher, { failSilently }).use(...middlewares);
  const draining = pump.draining({ concurrency, graceful: true, rateLimit, groupConcurrency });
  draining.done.catch(closeOnFailure);
  return new DrainingQueue(queue, draining);
}

/**
 * The producer end of a queue with a graceful pump attached, as `MemoryQueue.draining` returns it;
 * disposing it drains everything sent. Its tuning properties re-tune the pump while it runs.
 */
export class DrainingQueue<T> implements Producer<T>, AsyncDisposable {
  readonly #queue: Queue<T>;
  readonly #draining: Draining<T>;

  /** @internal Made by `MemoryQueue.draining`. */
  constructor(queue: Queue<T>, draining: Draining<T>) {
    this.#queue = queue;
    this.#draining = draining;
  }

  /** Sends to the queue; the pump dispatches it. */
  send(message: T, options?: SendOptions): Promise<void> {
    return this.#queue.send(message, options);
  }

  /** Messages dispatched at once. */
  get concurrency(): number {
    return this.#draining.concurrency;
  }

  /**
   * More loops start now; fewer never run more dispatches than `value`.
   *
   * @throws {@link InvalidOptionError} when `value` is not an integer of at least 1
   */
  set concurrency(value: number) {
    this.#draining.concurrency = value;
  }

  /** At most `limit` dispatches start in any window of `interval` milliseconds; `undefined`: none. */
  get rateLimit(): RateLimit | undefined {
    return this.#draining.rateLimit;
  }

  /**
   * Applies to what the queue hands out from now on; `undefined` lifts it.
   *
   * @throws {@link InvalidOptionError} when the limit cannot work
   */
  set rateLimit(value: RateLimit | undefined) {
    this.#draining.rateLimit = value;
  }

  /** At most this many messages of one group dispatched at once; `undefined`: no cap. */
  get groupConcurrency(): number | undefined {
    return this.#draining.groupConcurrency;
  }

  /**
   * Lowering it takes nothing back from what is being dispatched; `undefined` lifts it.
   *
   * @throws {@link InvalidOptionError} when the value cannot work
   */
  set groupConcurrency(value: number | undefined) {
    this.#draining.groupConcurrency = value;
  }

  /** A snapshot of the pump's counters. */
  get stats(): PumpStats {
    return this.#draining.stats;
  }

  /** Resolves when the pump stopped; rejects with the error that stopped it. */
  get done(): Promise<void> {
    return this.#draining.done;
  }

  /** Closes the queue and resolves once every accepted message was dispatched. */
  async stop(): Promise<void> {
    await this.#queue.close();
    await this.#draining.stop();
  }

  /** Same as `stop()`: what `await using` calls. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
