import type { Redis } from 'ioredis';
import { InvalidOptionError, QueueClosedError } from '../../errors.js';
import { assertBackoff, assertMaxAttempts } from '../../queuing/backoff.js';
import { compileMessageSchema, type MessageSchema } from '../../queuing/message-schema.js';
import { DONE_PROMISE, takeNow } from '../../queuing/settled.js';
import type { Backoff, Delivery, Queue, SendOptions } from '../../queuing/types.js';
import { Connection } from './connection.js';
import { RedisConsumer } from './consumer.js';
import { queueKeys } from './keys.js';
import { SendBatcher } from './producer.js';

export interface RedisQueueOptions {
  /** Where Redis is, when the queue opens its own connections. Default `redis://127.0.0.1:6379`. */
  url?: string;
  /** An existing ioredis client to send and settle on (left open by `close()`); blocking reads use a duplicate. */
  client?: Redis;
  /** Deliveries before a nacked message is dead-lettered. Default 5. */
  maxAttempts?: number;
  /** Wait before redelivering a nacked message. Default `{ type: 'exponential', delay: 100, max: 30_000 }`. */
  backoff?: Backoff;
  /** Name of the dead-letter queue, itself a RedisQueue. Default `${name}.dead`. */
  deadLetter?: string;
  /** Milliseconds after which the deliveries of a handle that stopped heartbeating are redelivered. Default 30 s. */
  visibilityTimeout?: number;
  /** Checked on receive: a message that fails it is dead-lettered with the reason, never handed out. */
  schema?: MessageSchema;
  /** Milliseconds `close()` lets handed-out deliveries settle before releasing them. Default 10 s. */
  closeTimeout?: number;
}

/**
 * A queue on Redis Streams (Redis ≥ 7). A `RedisQueue` object is a handle: messages live in Redis,
 * and any number of handles in any number of processes share them (each delivery goes to one).
 * See the README ("Scaling out with Redis") for the data layout and the guarantees.
 */
export class RedisQueue<T> implements Queue<T> {
  readonly name: string;
  readonly #connection: Connection;
  readonly #producer: SendBatcher;
  readonly #consumerSettings: ConstructorParameters<typeof RedisConsumer<T>>[0];
  readonly #closeTimeout: number;
  #consumer: RedisConsumer<T> | undefined;
  #closing: Promise<void> | undefined;

  constructor(name: string, options: RedisQueueOptions = {}) {
    if (typeof name !== 'string' || name.length === 0)
      throw new InvalidOptionError('name', name, 'a non-empty string');
    const {
      url,
      client,
      maxAttempts = 5,
      backoff = { type: 'exponential', delay: 100, max: 30_000 },
      deadLetter = `${name}.dead`,
      visibilityTimeout = 30_000,
      schema,
      closeTimeout = 10_000,
    } = options;
    if (url !== undefined && client !== undefined) {
      throw new InvalidOptionError('url', url, 'either url or client, not both');
    }
    if (url !== undefined && (typeof url !== 'string' || url.length === 0)) {
      throw new InvalidOptionError('url', url, 'a redis:// URL');
    }
    if (client !== undefined && typeof (client as Partial<Redis> | null)?.duplicate !== 'function') {
      throw new InvalidOptionError('client', client, 'an ioredis client');
    }
    assertMaxAttempts(maxAttempts);
    assertBackoff(backoff);
    if (typeof deadLetter !== 'string' || deadLetter.length === 0 || deadLetter === name) {
      throw new InvalidOptionError('deadLetter', deadLetter, `a queue name other than "${name}"`);
    }
    if (!Number.isInteger(visibilityTimeout) || visibilityTimeout < 30) {
      throw new InvalidOptionError('visibilityTimeout', visibilityTimeout, 'an integer ≥ 30 (milliseconds)');
    }
    if (typeof closeTimeout !== 'number' || !(closeTimeout >= 0)) {
      throw new InvalidOptionError('closeTimeout', closeTimeout, 'milliseconds ≥ 0');
    }
    const validate = compileMessageSchema(schema);
    const keys = queueKeys(name, deadLetter);
    this.name = name;
    this.#connection = new Connection({ url, client }, name);
    this.#producer = new SendBatcher(this.#connection, keys, name);
    this.#consumerSettings = {
      name,
      keys,
      connection: this.#connection,
      maxAttempts,
      backoff,
      visibilityTimeout,
      validate,
    };
    this.#closeTimeout = closeTimeout;
  }

  /** Resolves once Redis stored the message (sends of one tick travel in one script call). */
  send(message: T, options?: SendOptions): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new QueueClosedError(this.name));
    return this.#producer.send(message, options);
  }

  [Symbol.asyncIterator](): AsyncIterator<Delivery<T>> {
    if (this.#closing !== undefined) return { next: () => DONE_PROMISE, return: () => DONE_PROMISE };
    this.#consumer ??= new RedisConsumer<T>(this.#consumerSettings);
    return this.#consumer.iterator();
  }

  [takeNow](): Delivery<T> | undefined {
    return this.#consumer?.takeNow();
  }

  /**
   * Stops sending and fetching: pending `next()` calls end, prefetched messages go back to Redis,
   * handed-out deliveries may still be settled for `closeTimeout`, then are released too; sends
   * already made are stored first. Closes the connections the queue opened.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await this.#producer.drain();
    await this.#consumer?.close(this.#closeTimeout);
    await this.#connection.close();
  }
}
