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
 *
 * @example
 * ```ts
 * import { MemoryQueue } from 'sluice';
 *
 * const emails = new MemoryQueue<{ to: string }>({ maxAttempts: 3 });
 * await emails.send({ to: 'ada@example.com' });
 * for await (const delivery of emails) {
 *   console.log('sending to', delivery.message.to);
 *   await delivery.ack();
 *   break;
 * }
 * await emails.close();
 * ```
 */
export class MemoryQueue<T> implements OperableQueue<T> {
  readonly #core: MemoryCore<T>;
  readonly #deadLetters: LetterHolder<T> | undefined;

  /** @throws {@link InvalidOptionError} naming the first option that cannot work */
  constructor(options: MemoryQueueOptions<T> = {}) {
    this.#core = new MemoryCore(options);
    this.#deadLetters = holderOf(options.deadLetter);
  }

  /** The `name` option: names the queue in error messages. */
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

  /**
   * Messages held before `send` waits for room (`Infinity`: never waits).
   *
   * @throws {@link InvalidOptionError} (setter) when the value is not an integer of at least 0 or
   * `Infinity`
   */
  get maxsize(): number {
    return this.#core.maxsize;
  }

  /** Growing wakes waiting senders; shrinking never drops what is held. */
  set maxsize(value: number) {
    this.#core.resize(value);
  }

  /** True once `close()` was called, or a draining pump stopped by an error closed the queue. */
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

  /** Lifts a `pause`: consumers take messages again. */
  resume(): Promise<void> {
    return this.#operate(() => this.#core.resume());
  }

  /** Opens a consumer on the queue; several may be open at once, each taking different messages. */
  [Symbol.asyncIterator](): FlowIterator<T> {
    return new MemoryIterator(this.#core);
  }

  /** @internal */
  [takeNow](): Delivery<T> | undefined {
    return this.#core.take();
  }

  /** @internal For a MemoryQueue that dead-letters into this one: see letters.ts. */
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
