import { QueueClosedError } from '../../errors.js';
import { takeNow } from '../../queuing/hand-off.js';
import { assertSendOptions } from '../../queuing/send-options.js';
import type { Queue, SendOptions } from '../../queuing/types.js';
import { encodeEnvelope } from '../shared/envelope.js';
import { ConsumerCore, SqliteIterator } from './consumer.js';
import type { SqliteDelivery } from './delivery.js';
import { resolveOptions, type SqliteQueueOptions } from './options.js';
import { Store } from './store.js';

/**
 * A durable queue in an SQLite file, for one machine: several queues per file, several processes
 * per file. See the README section "Durable on one machine with SQLite" for the guarantees.
 */
export class SqliteQueue<T> implements Queue<T> {
  readonly name: string;
  readonly #store: Store;
  readonly #core: ConsumerCore<T>;
  readonly #maxMessageSize: number;
  #closing: Promise<void> | undefined;

  constructor(name: string, options: SqliteQueueOptions<T>) {
    const resolved = resolveOptions(name, options);
    this.name = name;
    this.#maxMessageSize = resolved.maxMessageSize;
    this.#store = Store.acquire(resolved.path);
    this.#core = new ConsumerCore(name, this.#store, resolved);
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Resolves once the message is committed to the file. A `key` already in the queue is not added again. */
  send(message: T, options?: SendOptions): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new QueueClosedError(this.name));
    let body: string;
    try {
      if (options !== undefined) assertSendOptions(options);
      body = encodeEnvelope(message, this.name, this.#maxMessageSize);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#store.write({
      kind: 'insert',
      queue: this.name,
      body,
      priority: options?.priority ?? 0,
      runAt: Date.now() + (options?.delay ?? 0),
      key: options?.key ?? null,
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<SqliteDelivery<T>> {
    return new SqliteIterator(this.#core);
  }

  [takeNow](): SqliteDelivery<T> | undefined {
    return this.#closing === undefined ? this.#core.take() : undefined;
  }

  /**
   * Stops sends and claims; waiting `next()` calls end. Deliveries handed out can still be settled
   * for `closeTimeout`, then they are given back. Resolves once the file is released.
   */
  close(): Promise<void> {
    this.#closing ??= this.#core.close().finally(() => this.#store.release());
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
