import type { AnyMiddleware } from '../../middleware/types.js';
import { takeNow } from '../hand-off.js';
import { DrainingQueue } from '../pump/draining-queue.js';
import { Pump, type PumpContext, type PumpDispatcher } from '../pump/pump.js';
import { RESOLVED } from '../settled.js';
import type { Delivery, Queue, SendOptions } from '../types.js';
import { MemoryCore } from './memory-core.js';
import { MemoryIterator } from './memory-iterator.js';
import type { MemoryQueueOptions } from './options.js';

export interface MemoryDrainingOptions<T> {
  concurrency?: number;
  failSilently?: boolean;
  middlewares?: AnyMiddleware<T, PumpContext<T>>[];
}

/**
 * The in-process queue: bounded, ordered, safe for several consumers on one event loop.
 * Its state and rules live in `MemoryCore`, shared with its deliveries and iterators.
 */
export class MemoryQueue<T> implements Queue<T> {
  readonly #core: MemoryCore<T>;

  constructor(options: MemoryQueueOptions<T> = {}) {
    this.#core = new MemoryCore(options);
  }

  get name(): string {
    return this.#core.name;
  }

  /** Messages held for consumers: ready, delayed or backing off (not deliveries being processed). */
  get size(): number {
    return this.#core.buffer.size + this.#core.scheduled;
  }

  get maxsize(): number {
    return this.#core.maxsize;
  }

  /** Growing wakes waiting senders; shrinking never drops what is held. */
  set maxsize(value: number) {
    this.#core.resize(value);
  }

  get closed(): boolean {
    return this.#core.closed;
  }

  send(message: T, options?: SendOptions): Promise<void> {
    return this.#core.send(message, options);
  }

  /**
   * Rejects senders not accepted yet; consumers drain what the queue holds, then their iteration
   * ends. From then on its timers keep the process alive only while an iterator is open on it.
   */
  close(): Promise<void> {
    this.#core.close();
    return RESOLVED;
  }

  [Symbol.asyncIterator](): AsyncIterator<Delivery<T>> {
    return new MemoryIterator(this.#core);
  }

  [takeNow](): Delivery<T> | undefined {
    return this.#core.take();
  }

  /**
   * Starts a graceful pump on this queue and returns its producer end. Disposing it (or `stop()`)
   * closes the queue and resolves once every accepted message was dispatched. A pump stopped by an
   * error closes the queue: nothing would take what is sent, so senders are refused (those waiting
   * for room too) rather than left waiting, and disposal rethrows the error.
   */
  draining(dispatcher: PumpDispatcher<NoInfer<T>>, options: MemoryDrainingOptions<T> = {}): DrainingQueue<T> {
    const { concurrency, failSilently, middlewares = [] } = options;
    const pump = new Pump(this, dispatcher, { failSilently }).use(...middlewares);
    const draining = pump.draining({ concurrency, graceful: true });
    draining.done.catch((error: unknown) => this.#core.close({ cause: error }));
    return new DrainingQueue(this, draining);
  }
}
