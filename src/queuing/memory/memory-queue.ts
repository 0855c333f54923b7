import { takeNow } from '../hand-off.js';
import type {
  DeadLetter,
  DeadLettersOptions,
  OperableQueue,
  QueueStats,
  RedriveOptions,
} from '../operations.js';
import { assertIds, resolveDeadLettersOptions, resolveRedriveOptions } from '../operations-options.js';
import { type DrainingQueue, drainingQueue, type MemoryDrainingOptions } from '../pump/draining-queue.js';
import type { PumpDispatcher } from '../pump/pump.js';
import { RESOLVED } from '../settled.js';
import type { Delivery, FlowIterator, SendOptions } from '../types.js';
import { holderOf, type LetterHolder, letterHolder } from './letters.js';
import { MemoryCore } from './memory-core.js';
import { MemoryIterator } from './memory-iterator.js';
import { memoryDeadLetters, memoryDiscard, memoryRedrive, memoryStats } from './memory-operations.js';
import type { MemoryQueueOptions } from './options.js';

/**
 * The in-process queue: bounded, ordered, safe for several consumers on one event loop.
 * Its state and rules live in `MemoryCore`, shared with its deliveries and iterators.
 *
 * Its operator face works in-process: the queue object is the only handle, so `pause` holds for its
 * consumers until `resume` (or `close`). Its dead letters are those its `deadLetter` MemoryQueue
 * holds; with no `deadLetter`, or another kind of producer, it has none to show.
 */
export class MemoryQueue<T> implements OperableQueue<T> {
  readonly #core: MemoryCore<T>;
  readonly #deadLetters: LetterHolder<T> | undefined;

  constructor(options: MemoryQueueOptions<T> = {}) {
    this.#core = new MemoryCore(options);
    this.#deadLetters = holderOf(options.deadLetter);
  }

  get name(): string {
    return this.#core.name;
  }

  /** The retry policy's last attempt: a delivery nacked on it is dead-lettered. */
  get maxAttempts(): number {
    return this.#core.maxAttempts;
  }

  /** Messages held for consumers: ready, delayed or backing off (not deliveries being processed). */
  get size(): number {
    return this.#core.size;
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

  stats(): Promise<QueueStats> {
    return this.#operate(() => memoryStats(this.#core, this.#deadLetters));
  }

  deadLetters(options?: DeadLettersOptions): Promise<DeadLetter<T>[]> {
    return this.#operate(() => memoryDeadLetters(this.#deadLetters, resolveDeadLettersOptions(options)));
  }

  redrive(options?: RedriveOptions): Promise<number> {
    return this.#operate(() => memoryRedrive(this.#core, this.#deadLetters, resolveRedriveOptions(options)));
  }

  discardDeadLetters(ids: readonly string[]): Promise<number> {
    return this.#operate(() => memoryDiscard(this.#deadLetters, assertIds(ids)));
  }

  purge(): Promise<number> {
    return this.#operate(() => this.#core.remove(() => true).length);
  }

  pause(): Promise<void> {
    return this.#operate(() => {
      this.#core.paused = true;
    });
  }

  resume(): Promise<void> {
    return this.#operate(() => this.#core.resume());
  }

  [Symbol.asyncIterator](): FlowIterator<T> {
    return new MemoryIterator(this.#core);
  }

  [takeNow](): Delivery<T> | undefined {
    return this.#core.take();
  }

  /** For a MemoryQueue that dead-letters into this one: see letters.ts. */
  get [letterHolder](): LetterHolder<T> {
    return this.#core;
  }

  /**
   * Starts a graceful pump on this queue and returns its producer end. Disposing it (or `stop()`)
   * closes the queue and resolves once every accepted message was dispatched. A pump stopped by an
   * error closes the queue: nothing would take what is sent, so senders are refused (those waiting
   * for room too) rather than left waiting, and disposal rethrows the error.
   */
  draining(dispatcher: PumpDispatcher<NoInfer<T>>, options: MemoryDrainingOptions<T> = {}): DrainingQueue<T> {
    return drainingQueue(this, dispatcher, options, (error) => this.#core.close({ cause: error }));
  }

  /** Runs an operator's call: rejected once the queue is closed, or when its options are not valid. */
  #operate<R>(operation: () => R): Promise<R> {
    if (this.#core.closed) return Promise.reject(this.#core.closedError());
    try {
      return Promise.resolve(operation());
    } catch (error) {
      return Promise.reject(error);
    }
  }
}
