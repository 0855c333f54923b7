import { QueueClosedError } from '../../errors.js';
import { takeNow } from '../../queuing/hand-off.js';
import type {
  DeadLetter,
  DeadLettersOptions,
  OperableQueue,
  QueueStats,
  RedriveOptions,
} from '../../queuing/operations.js';
import { DONE_PROMISE } from '../../queuing/settled.js';
import type { SendOptions } from '../../queuing/types.js';
import { atMost } from '../shared/at-most.js';
import { Connection } from './connection.js';
import { RedisConsumer } from './consumer.js';
import type { RedisDelivery } from './delivery.js';
import { streamKey } from './keys.js';
import { RedisOperator } from './operator.js';
import { type RedisQueueOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { RedisProducer } from './producer.js';

/**
 * A queue on Redis Streams (Redis ≥ 7). A `RedisQueue` object is a handle: messages live in Redis,
 * and any number of handles in any number of processes share them (each delivery goes to one).
 * See the README (Redis) for the guarantees and docs/wire-protocol.md (Redis) for the data layout.
 */
export class RedisQueue<T> implements OperableQueue<T> {
  readonly name: string;
  readonly #options: ResolvedOptions<T>;
  readonly #connection: Connection;
  readonly #producer: RedisProducer;
  #consumer: RedisConsumer<T> | undefined;
  #operator: RedisOperator<T> | undefined;
  #closing: Promise<void> | undefined;

  constructor(name: string, options: RedisQueueOptions = {}) {
    this.#options = resolveOptions<T>(name, options);
    this.name = name;
    this.#connection = new Connection(this.#options, name);
    this.#producer = new RedisProducer(this.#connection, streamKey(name), name, this.#options);
  }

  /** The retry policy's last attempt: a delivery nacked on it is dead-lettered. */
  get maxAttempts(): number {
    return this.#options.maxAttempts;
  }

  /** Resolves once Redis stored the message (sends of one tick travel in one script call). */
  send(message: T, options?: SendOptions): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new QueueClosedError(this.name));
    return this.#producer.send(message, options);
  }

  [Symbol.asyncIterator](): AsyncIterator<RedisDelivery<T>> {
    if (this.#closing !== undefined) return { next: () => DONE_PROMISE, return: () => DONE_PROMISE };
    this.#consumer ??= new RedisConsumer<T>(this.name, this.#options, this.#connection);
    return this.#consumer.iterator();
  }

  [takeNow](): RedisDelivery<T> | undefined {
    return this.#consumer?.take();
  }

  /** Counts in one script call (docs/wire-protocol.md (Redis) says how each is read). */
  stats(): Promise<QueueStats> {
    return this.#operate((operator) => operator.stats());
  }

  deadLetters(options?: DeadLettersOptions): Promise<DeadLetter<T>[]> {
    return this.#operate((operator) => operator.deadLetters(options));
  }

  /** Moves dead letters in batches, each one script call: a crash leaves every letter in one of the two queues. */
  redrive(options?: RedriveOptions): Promise<number> {
    return this.#operate((operator) => operator.redrive(options));
  }

  discardDeadLetters(ids: readonly string[]): Promise<number> {
    return this.#operate((operator) => operator.discardDeadLetters(ids));
  }

  purge(): Promise<number> {
    return this.#operate((operator) => operator.purge());
  }

  /** Sets the queue's `:paused` key: every consumer stops taking messages within a second. */
  pause(): Promise<void> {
    return this.#operate((operator) => operator.pause());
  }

  resume(): Promise<void> {
    return this.#operate((operator) => operator.resume());
  }

  /**
   * Creates the queue's streams and consumer groups, and its dead-letter queue's, without sending
   * anything: a producer in another language can then send before any sluice process ran.
   */
  declare(): Promise<void> {
    return this.#operate((operator) => operator.declare());
  }

  /** Like `send`, an operator method of a closed handle rejects. */
  #operate<R>(call: (operator: RedisOperator<T>) => Promise<R>): Promise<R> {
    if (this.#closing !== undefined) return Promise.reject(new QueueClosedError(this.name));
    this.#operator ??= new RedisOperator<T>(this.name, this.#options.deadLetter, this.#connection);
    return call(this.#operator);
  }

  /**
   * Stops sending and fetching: pending `next()` calls end, prefetched messages go back to Redis,
   * handed-out deliveries may still be settled for `closeTimeout`, then are released too; sends
   * already made are stored first. While Redis cannot be reached, each of these waits lasts at most
   * `closeTimeout`, and the sends still unanswered then reject. Closes the connections the queue opened.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const { closeTimeout } = this.#options;
    await atMost(this.#producer.drain(), closeTimeout);
    await this.#consumer?.close(closeTimeout);
    await this.#connection.close(closeTimeout);
    this.#producer.abandon();
  }
}
