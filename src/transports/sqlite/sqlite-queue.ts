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
 * per file. See the README section "SQLite: durable on one machine" for the guarantees, and
 * docs/wire-protocol.md (SQLite) for the tables other programs read and write, the counts `stats`
 * reads and the pause every claim checks.
 */
export class SqliteQueue<T> implements OperableQueue<T> {
  readonly name: string;
  /** The retry policy's last attempt: a delivery nacked on it is dead-lettered. */
  readonly maxAttempts: number;
  readonly #connection: Connection;
  readonly #producer: SqliteProducer<T>;
  readonly #consumer: SqliteConsumer<T>;
  readonly #operator: SqliteOperator<T>;
  #closing: Promise<void> | undefined;

  constructor(name: string, options: SqliteQueueOptions<T>) {
    const resolved = resolveOptions(name, options);
    this.name = name;
    this.maxAttempts = resolved.maxAttempts;
    this.#connection = Connection.acquire(resolved.path);
    this.#producer = new SqliteProducer(name, this.#connection, resolved);
    this.#consumer = new SqliteConsumer(name, this.#connection, resolved);
    this.#operator = new SqliteOperator(name, this.#connection, resolved);
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Resolves once the message is committed to the file. A `key` already in the queue is not added again. */
  send(message: T, options?: SendOptions): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new QueueClosedError(this.name));
    return this.#producer.send(message, options);
  }

  /** The tables exist once the queue is constructed; this also lists the queue (see queueNames). */
  declare(): Promise<void> {
    return this.#operate(() => this.#operator.declare());
  }

  /** From the counts kept with every change (see tables.ts): no message is counted. */
  stats(): Promise<QueueStats> {
    return this.#operate(() => this.#operator.stats());
  }

  deadLetters(options?: DeadLettersOptions): Promise<DeadLetter<T>[]> {
    return this.#operate(() => this.#operator.deadLetters(options));
  }

  /** Batch by batch, each batch's copies and deletions in one transaction. */
  redrive(options?: RedriveOptions): Promise<number> {
    return this.#operate(() => this.#operator.redrive(options));
  }

  discardDeadLetters(ids: readonly string[]): Promise<number> {
    return this.#operate(() => this.#operator.discardDeadLetters(ids));
  }

  purge(): Promise<number> {
    return this.#operate(() => this.#operator.purge());
  }

  /** Stored in the file: holds for every process on it, and across restarts, until `resume`. */
  pause(): Promise<void> {
    return this.#operate(() => this.#operator.pause());
  }

  resume(): Promise<void> {
    return this.#operate(() => this.#operator.resume());
  }

  [Symbol.asyncIterator](): AsyncIterator<SqliteDelivery<T>> {
    return this.#consumer.iterator();
  }

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

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Like `send`, an operation rejects QueueClosedError once the handle is closed. */
  #operate<R>(operation: () => Promise<R>): Promise<R> {
    if (this.#closing !== undefined) return Promise.reject(new QueueClosedError(this.name));
    return operation();
  }
}
