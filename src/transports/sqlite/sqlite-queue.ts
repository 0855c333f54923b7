import { QueueClosedError } from '../../errors.js';
import { takeNow } from '../../queuing/hand-off.js';
import type { Queue, SendOptions } from '../../queuing/types.js';
import { Connection } from './connection.js';
import { SqliteConsumer } from './consumer.js';
import type { SqliteDelivery } from './delivery.js';
import { resolveOptions, type SqliteQueueOptions } from './options.js';
import { SqliteProducer } from './producer.js';

/**
 * A durable queue in an SQLite file, for one machine: several queues per file, several processes
 * per file. See the README section "SQLite: durable on one machine" for the guarantees, and
 * docs/wire-protocol.md (SQLite) for the table other programs read and write.
 */
export class SqliteQueue<T> implements Queue<T> {
  readonly name: string;
  readonly #connection: Connection;
  readonly #producer: SqliteProducer<T>;
  readonly #consumer: SqliteConsumer<T>;
  #closing: Promise<void> | undefined;

  constructor(name: string, options: SqliteQueueOptions<T>) {
    const resolved = resolveOptions(name, options);
    this.name = name;
    this.#connection = Connection.acquire(resolved.path);
    this.#producer = new SqliteProducer(name, this.#connection, resolved);
    this.#consumer = new SqliteConsumer(name, this.#connection, resolved);
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Resolves once the message is committed to the file. A `key` already in the queue is not added again. */
  send(message: T, options?: SendOptions): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new QueueClosedError(this.name));
    return this.#producer.send(message, options);
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
}
