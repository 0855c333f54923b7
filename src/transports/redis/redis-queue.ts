import type { Redis } from 'ioredis';
import { InvalidOptionError, QueueClosedError } from '../../errors.js';
import { takeNow } from '../../queuing/hand-off.js';
import { DONE_PROMISE } from '../../queuing/settled.js';
import type { Queue, SendOptions } from '../../queuing/types.js';
import { atMost } from '../shared/at-most.js';
import { type BrokerQueueOptions, resolveBrokerOptions } from '../shared/broker-options.js';
import type { MessageCheck } from '../shared/message-schema.js';
import { Connection } from './connection.js';
import { type ConsumerSettings, RedisConsumer } from './consumer.js';
import type { RedisDelivery } from './delivery.js';
import { streamKey, wakeKey } from './keys.js';
import { RedisProducer } from './producer.js';

export interface RedisQueueOptions extends BrokerQueueOptions {
  /** Where Redis is, when the queue opens its own connections. Default `redis://127.0.0.1:6379`. */
  url?: string;
  /** An existing ioredis client to send and settle on (left open by `close()`); blocking reads use a duplicate. */
  client?: Redis;
  /** Milliseconds (≥ 30) after which the deliveries of a handle that stopped heartbeating are redelivered. Default 30 s. */
  visibilityTimeout?: number;
}

/**
 * A queue on Redis Streams (Redis ≥ 7). A `RedisQueue` object is a handle: messages live in Redis,
 * and any number of handles in any number of processes share them (each delivery goes to one).
 * See the README (Redis) for the guarantees and docs/wire-protocol.md (Redis) for the data layout.
 */
export class RedisQueue<T> implements Queue<T> {
  readonly name: string;
  readonly #connection: Connection;
  readonly #producer: RedisProducer;
  readonly #consumerSettings: ConsumerSettings<T>;
  readonly #closeTimeout: number;
  #consumer: RedisConsumer<T> | undefined;
  #closing: Promise<void> | undefined;

  constructor(name: string, options: RedisQueueOptions = {}) {
    // At least 30 ms: heartbeats come every visibilityTimeout / 3, and no more often than every 10 ms.
    const resolved = resolveBrokerOptions(name, options, { minVisibilityTimeout: 30 });
    const { maxAttempts, backoff, deadLetter, visibilityTimeout, closeTimeout, check } = resolved;
    const { url, client } = options;
    if (url !== undefined && client !== undefined) {
      throw new InvalidOptionError('url', url, 'either url or client, not both');
    }
    if (url !== undefined && (typeof url !== 'string' || url.length === 0)) {
      throw new InvalidOptionError('url', url, 'a redis:// URL');
    }
    if (client !== undefined && typeof (client as Partial<Redis> | null)?.duplicate !== 'function') {
      throw new InvalidOptionError('client', client, 'an ioredis client');
    }
    const stream = streamKey(name);
    this.name = name;
    this.#connection = new Connection({ url, client }, name);
    this.#producer = new RedisProducer(this.#connection, stream, name, resolved.maxMessageSize);
    this.#consumerSettings = {
      name,
      stream,
      wake: wakeKey(name),
      deadLetter: streamKey(deadLetter),
      connection: this.#connection,
      maxAttempts,
      backoff,
      visibilityTimeout,
      check: check as MessageCheck<T> | undefined,
    };
    this.#closeTimeout = closeTimeout;
  }

  /** Resolves once Redis stored the message (sends of one tick travel in one script call). */
  send(message: T, options?: SendOptions): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new QueueClosedError(this.name));
    return this.#producer.send(message, options);
  }

  [Symbol.asyncIterator](): AsyncIterator<RedisDelivery<T>> {
    if (this.#closing !== undefined) return { next: () => DONE_PROMISE, return: () => DONE_PROMISE };
    this.#consumer ??= new RedisConsumer<T>(this.#consumerSettings);
    return this.#consumer.iterator();
  }

  [takeNow](): RedisDelivery<T> | undefined {
    return this.#consumer?.takeNow();
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
    await atMost(this.#producer.drain(), this.#closeTimeout);
    await this.#consumer?.close(this.#closeTimeout);
    await this.#connection.close(this.#closeTimeout);
    this.#producer.abandon();
  }
}
