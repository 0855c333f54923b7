import { QueueClosedError } from '../../errors.js';
import { takeNow } from '../../queuing/hand-off.js';
import type {
  DeadLetter,
  DeadLettersOptions,
  OperableQueue,
  QueueStats,
  RedriveOptions,
} from '../../queuing/operations.js';
import type { SendOptions } from '../../queuing/types.js';
import { Connection } from './connection.js';
import { SqliteConsumer } from './consumer.js';
import type { SqliteDelivery } from './delivery.js';
import { SqliteOperator } from './operator.js';
import { resolveOptions, type SqliteQueueOptions } from './options.js';
import { SqliteProducer } from './producer.js';

/**
 * A durable queue in an SQLite file, for one machine: several queues per file, several processes
 * per file. docs/adapters/sqlite.md gives the guarantees, and docs/wire-protocol.md (SQLite) the
 * tables other programs read and write, the counts `stats` reads and the pause every claim checks.
 *
 * @example
 * ```ts
 * import { SqliteQueue } from 'sluice/sqlite';
 *
 * const orders = new SqliteQueue<{ id: string }>('orders', { path: 'queues.db' });
 * await orders.send({ id: 'o-1' });
 * for await (const delivery of orders) {
 *   console.log(delivery.message.id);
 *   await delivery.ack();
 *   break;
 * }
 * await orders.close();
 * ```
 */
export class SqliteQueue<T> implements OperableQueue<T> {
  /** The queue's name, as given to the constructor. */
  readonly name: string;
  /** The retry policy's last attempt: a delivery nacked on it is dead-lettered. */
  readonly maxAttempts: number;
  readonly #connection: Connection;
  readonly #producer: SqliteProducer<T>;
  readonly #consumer: SqliteConsumer<T>;
  readonly #operator: SqliteOperator<T>;
  #closing: Promise<void> | undefined;

  /**
   * Checks the options and opens the file (one connection per file in a process, shared by its
   * queues), creating the tables if missing.
   * @throws {@link sluice!InvalidOptionError | InvalidOptionError} when the name or an option cannot work
   * @throws {@link sluice!BrokerUnavailableError | BrokerUnavailableError} when the file cannot be opened
   */
  constructor(name: string, options: SqliteQueueOptions<T>) {
    const resolved = resolveOptions(name, options);
    this.name = name;
    this.maxAttempts = resolved.maxAttempts;
    this.#connection = Connection.acquire(resolved.path);
    this.#producer = new SqliteProducer(name, this.#connection, resolved);
    this.#consumer = new SqliteConsumer(name, this.#connection, resolved);
    this.#operator = new SqliteOperator(name, this.#connection, resolved);
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Resolves once the message is committed to the file. A `key` already in the queue is not added again.
   * @throws (as a rejection) {@link sluice!QueueClosedError | QueueClosedError} once the handle is closing;
   * {@link sluice!InvalidOptionError | InvalidOptionError} for an invalid option;
   * {@link sluice!SerializationError | SerializationError} or
   * {@link sluice!MessageTooLargeError | MessageTooLargeError} for a message that cannot be sent as
   * it is
   */
  send(message: T, options?: SendOptions): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new QueueClosedError(this.name));
    return this.#producer.send(message, options);
  }

  /**
   * Records the queue in the file without sending anything, so that {@link queueNames} lists it (the
   * tables exist once the queue is constructed).
   */
  declare(): Promise<void> {
    return this.#operate(() => this.#operator.declare());
  }

  /** The queue's counts, read from those kept with every change: no message is counted. */
  stats(): Promise<QueueStats> {
    return this.#operate(() => this.#operator.stats());
  }

  deadLetters(options?: DeadLettersOptions): Promise<DeadLetter<T>[]> {
    return this.#operate(() => this.#operator.deadLetters(options));
  }

  /**
   * Moves dead letters back to the queue, oldest first, as new messages (attempt 1); resolves with
   * how many moved. Each batch's copies and deletions are one transaction.
   */
  redrive(options?: RedriveOptions): Promise<number> {
    return this.#operate(() => this.#operator.redrive(options));
  }

  discardDeadLetters(ids: readonly string[]): Promise<number> {
    return this.#operate(() => this.#operator.discardDeadLetters(ids));
  }

  purge(): Promise<number> {
    return this.#operate(() => this.#operator.purge());
  }

  /**
   * Every consumer of this queue stops taking messages until `resume`. The pause is stored in the
   * file: it holds for every process on it, and across restarts. Deliveries under way finish
   * normally; sends are still accepted.
   */
  pause(): Promise<void> {
    return this.#operate(() => this.#operator.pause());
  }

  resume(): Promise<void> {
    return this.#operate(() => this.#operator.resume());
  }

  /**
   * Claims messages for this handle's consumer. Sends from this process wake it at once; those of
   * other processes are seen within `pollInterval`. The iteration ends when the queue is closed.
   */
  [Symbol.asyncIterator](): AsyncIterator<SqliteDelivery<T>> {
    return this.#consumer.iterator();
  }

  /** @internal A claimed delivery, if one is ready now (the pump's fast path). */
  [takeNow](): SqliteDelivery<T> | undefined {
    return this.#closing === undefined ? this.#consumer.take() : undefined;
  }

  /**
   * Stops sends and claims; waiting `next()` calls end. Deliveries handed out can still be settled
   * for `closeTimeout`, then they are given back. Resolves once the file is released.
   */
  close(): Promise<void> {
    this.#closing ??= this.#consumer.close().finally(() => this.#connection.release());
    return this.#closing;
  }

  /** Closes the queue, as `close()`, when an `await using` block ends. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Like `send`, an operation rejects QueueClosedError once the handle is closed. */
  #operate<R>(operation: () => Promise<R>): Promise<R> {
    if (this.#closing !== undefined) return Promise.reject(new QueueClosedError(this.name));
    return operation();
  }
}
