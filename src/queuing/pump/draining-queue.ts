import type { AnyMiddleware } from '../../middleware/types.js';
import type { Producer, Queue, RateLimit, SendOptions } from '../types.js';
import type { Draining, PumpContext, PumpStats } from './draining.js';
import { Pump, type PumpDispatcher } from './pump.js';

export interface MemoryDrainingOptions<T> {
  concurrency?: number;
  failSilently?: boolean;
  middlewares?: AnyMiddleware<T, PumpContext<T>>[];
  /** See `DrainingOptions.rateLimit`. */
  rateLimit?: RateLimit | undefined;
  /** See `DrainingOptions.groupConcurrency`. */
  groupConcurrency?: number | undefined;
}

/**
 * `queue.draining(dispatcher)`: a graceful pump on `queue`, and its producer end. The pump stopping
 * on an error closes the queue (`closeOnFailure`, by default `close()`), so senders learn of it.
 */
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

/** The producer end of a queue with a graceful pump attached; disposing it drains everything sent. */
export class DrainingQueue<T> implements Producer<T>, AsyncDisposable {
  readonly #queue: Queue<T>;
  readonly #draining: Draining<T>;

  constructor(queue: Queue<T>, draining: Draining<T>) {
    this.#queue = queue;
    this.#draining = draining;
  }

  send(message: T, options?: SendOptions): Promise<void> {
    return this.#queue.send(message, options);
  }

  get concurrency(): number {
    return this.#draining.concurrency;
  }

  set concurrency(value: number) {
    this.#draining.concurrency = value;
  }

  get rateLimit(): RateLimit | undefined {
    return this.#draining.rateLimit;
  }

  set rateLimit(value: RateLimit | undefined) {
    this.#draining.rateLimit = value;
  }

  get groupConcurrency(): number | undefined {
    return this.#draining.groupConcurrency;
  }

  set groupConcurrency(value: number | undefined) {
    this.#draining.groupConcurrency = value;
  }

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

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
