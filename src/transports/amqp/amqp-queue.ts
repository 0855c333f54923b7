import type { ChannelModel } from 'amqplib';
import { InvalidOptionError } from '../../errors.js';
import type { Delivery, Queue, SendOptions } from '../../queuing/types.js';
import { atMost } from '../shared/at-most.js';
import { type BrokerQueueOptions, resolveBrokerOptions } from '../shared/broker-options.js';
import { AmqpConsumer } from './consumer.js';
import { Core } from './core.js';
import { Link } from './link.js';

/**
 * No `visibilityTimeout`: RabbitMQ has no lease, it redelivers a consumer's unacked messages when its
 * channel closes.
 */
export interface AmqpQueueOptions extends Omit<BrokerQueueOptions, 'visibilityTimeout'> {
  /** `amqp://user:password@host:port/vhost`; the queue opens, reopens and closes its own connection. */
  url?: string;
  /** An amqplib connection (`await amqplib.connect(url)`) the queue opens channels on; not reopened if lost, not closed. */
  connection?: ChannelModel;
  /**
   * Messages RabbitMQ pushes to each consumer (iterator) ahead of their acks. Default 50. Keep it at
   * least the concurrency of the pump draining the queue; higher amortises round trips, lower
   * spreads messages more evenly across processes and lets a later, higher priority overtake more.
   */
  prefetch?: number;
  /**
   * `true` (default): a priority queue (`x-max-priority` 10), so `send`'s `priority` is honoured.
   * `false`: a plain classic queue, about twice the throughput on RabbitMQ's side, and a `send` with
   * a priority other than 0 is refused. Every process (and the dead-letter queue's reader) must open
   * the queue with the same setting: RabbitMQ refuses a declaration with other arguments.
   */
  priorities?: boolean;
}

const DEFAULT_URL = 'amqp://guest:guest@127.0.0.1:5672';

/** A durable RabbitMQ queue; the README's RabbitMQ section describes the topology and guarantees. */
export class AmqpQueue<T> implements Queue<T> {
  readonly name: string;
  readonly #core: Core;
  readonly #consumers = new Set<AmqpConsumer<T>>();
  #closing: Promise<void> | undefined;

  constructor(name: string, options: AmqpQueueOptions = {}) {
    const { maxAttempts, backoff, deadLetter, closeTimeout, maxMessageSize, check } = resolveBrokerOptions(
      name,
      options,
    );
    const { url, connection, prefetch = 50, priorities = true } = options;
    if (Buffer.byteLength(name) > 200)
      throw new InvalidOptionError('name', name, 'a queue name of 1 to 200 bytes');
    if (url !== undefined && connection !== undefined) {
      throw new InvalidOptionError('connection', connection, 'either url or connection, not both');
    }
    if (connection !== undefined && typeof connection?.createConfirmChannel !== 'function') {
      throw new InvalidOptionError('connection', connection, 'an amqplib connection (from amqplib.connect)');
    }
    if (url !== undefined && typeof url !== 'string')
      throw new InvalidOptionError('url', url, 'an amqp:// URL');
    if (!Number.isInteger(prefetch) || prefetch < 1 || prefetch > 65_535) {
      throw new InvalidOptionError('prefetch', prefetch, 'an integer from 1 to 65535');
    }
    if (typeof priorities !== 'boolean') throw new InvalidOptionError('priorities', priorities, 'a boolean');
    this.name = name;
    const link = new Link(
      name,
      priorities,
      connection !== undefined ? { connection } : { url: url ?? DEFAULT_URL },
    );
    this.#core = new Core(
      { name, maxAttempts, backoff, deadLetter, check, prefetch, closeTimeout, priorities, maxMessageSize },
      link,
    );
  }

  /** Resolves once RabbitMQ confirmed it stored the message (a persistent message, durable queue). */
  send(message: T, options?: SendOptions): Promise<void> {
    return this.#core.send(message, options);
  }

  [Symbol.asyncIterator](): AsyncIterator<Delivery<T>> {
    const consumer = new AmqpConsumer<T>(this.#core);
    if (this.#core.closed) consumer.end();
    else {
      this.#consumers.add(consumer);
      void consumer.drained.then(() => this.#consumers.delete(consumer));
    }
    return consumer;
  }

  /**
   * Stops sends and consuming, puts back prefetched messages, waits up to `closeTimeout` for
   * handed-out deliveries to be settled (the broker requeues those that are not) and for the sends
   * under way to end, then closes the connection if the queue opened it.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#core.closed = true;
    const consumers = [...this.#consumers];
    for (const consumer of consumers) consumer.end();
    await atMost(Promise.all(consumers.map((consumer) => consumer.drained)), this.#core.config.closeTimeout);
    await Promise.all(consumers.map((consumer) => consumer.abandon()));
    await this.#core.sendsEnded();
    await this.#core.link.close();
  }
}
