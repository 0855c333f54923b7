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
 * A queue on Redis Streams (Redis 7 or newer). A `RedisQueue` object is a handle: messages live in
 * Redis, and any number of handles in any number of processes share them (each delivery goes to
 * one). docs/adapters/redis.md gives the guarantees, docs/wire-protocol.md (Redis) the data layout.
 *
 * @example
 * ```ts
 * import { RedisQueue } from 'sluice/redis';
 *
 * const orders = new RedisQueue<{ id: string }>('orders', { url: 'redis://127.0.0.1:6379' });
 * await orders.send({ id: 'o-1' });
 * for await (const delivery of orders) {
 *   console.log(delivery.message.id);
 *   await delivery.ack();
 *   break;
 * }
 * await orders.close();
 * ```
 */
export class RedisQueue<T> implements OperableQueue<T> {
  /** The queue's name, as given to the constructor. */
  readonly name: string;
  readonly #options: ResolvedOptions<T>;
  readonly #connection: Connection;
  readonly #producer: RedisProducer;
  #consumer: RedisConsumer<T> | undefined;
  #operator: RedisOperator<T> | undefined;
  #closing: Promise<void> | undefined;

  /**
   * Checks the options and makes the handle; it connects on first use.
   * @throws {@link sluice!InvalidOptionError | InvalidOptionError} when the name or an option
   * cannot work (a name holding `}`, both `url` and `client`, a malformed URL...)
   */
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

  /**
   * Resolves once Redis stored the message (sends of one tick travel in one script call).
   * @throws (as a rejection) {@link sluice!QueueClosedError | QueueClosedError} once the handle is closing;
   * {@link sluice!InvalidOptionError | InvalidOptionError} for an invalid option;
   * {@link sluice!SerializationError | SerializationError} or
   * {@link sluice!MessageTooLargeError | MessageTooLargeError} for a message that cannot be sent as
   * it is; {@link RedisAccessError} when Redis refuses the queue's user
   */
  send(message: T, options?: SendOptions): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new QueueClosedError(this.name));
    return this.#producer.send(message, options);
  }

  /**
   * Reads messages for this handle's consumer. The iteration ends when the queue is closed; it ends
   * with {@link RedisAccessError} when Redis refuses the queue's user.
   */
  [Symbol.asyncIterator](): AsyncIterator<RedisDelivery<T>> {
    if (this.#closing !== undefined) return { next: () => DONE_PROMISE, return: () => DONE_PROMISE };
    this.#consumer ??= new RedisConsumer<T>(this.name, this.#options, this.#connection);
    return this.#consumer.iterator();
  }

  /** @internal A fetched delivery, if one is ready now (the pump's fast path). */
  [takeNow](): RedisDelivery<T> | undefined {
    return this.#consumer?.take();
  }

  /** The queue's counts, read in one script call (docs/wire-protocol.md, Redis, says how each is read). */
  stats(): Promise<QueueStats> {
    return this.#operate((operator) => operator.stats());
  }

  deadLetters(options?: DeadLettersOptions): Promise<DeadLetter<T>[]> {
    return this.#operate((operator) => operator.deadLetters(options));
  }

  /**
   * Moves dead letters back to the queue, oldest first, as new messages (attempt 1); resolves with
   * how many moved. Each batch moves in one script call: a crash leaves every letter in one of the
   * two queues.
   */
  redrive(options?: RedriveOptions): Promise<number> {
    return this.#operate((operator) => operator.redrive(options));
  }

  discardDeadLetters(ids: readonly string[]): Promise<number> {
    return this.#operate((operator) => operator.discardDeadLetters(ids));
  }

  purge(): Promise<number> {
    return this.#operate((operator) => operator.purge());
  }

  /**
   * Every consumer of this queue, in every process, stops taking messages within a second, until
   * `resume`: the queue's `:paused` key is set. Deliveries under way finish normally; sends are
   * still accepted.
   */
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
