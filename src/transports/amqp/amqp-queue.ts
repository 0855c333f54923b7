import { QueueClosedError } from '../../errors.js';
import type { Queue, SendOptions } from '../../queuing/types.js';
import { atMost } from '../shared/at-most.js';
import { BrokerIterator } from '../shared/iterator.js';
import { Connection } from './connection.js';
import { AmqpConsumer } from './consumer.js';
import type { AmqpDelivery } from './delivery.js';
import { KeyMarkers } from './key-markers.js';
import { type AmqpQueueOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { Producer } from './producer.js';
import { Sender } from './sender.js';
import { Settler } from './settler.js';

/**
 * A durable RabbitMQ queue; docs/wire-protocol.md (RabbitMQ) describes the topology, and how clients in
 * other languages send to it, consume from it and settle what they consumed.
 */
export class AmqpQueue<T> implements Queue<T> {
  readonly name: string;
  readonly #config: ResolvedOptions<T>;
  readonly #connection: Connection;
  readonly #producer: Producer;
  readonly #sender: Sender;
  readonly #settler: Settler;
  readonly #consumers = new Set<AmqpConsumer<T>>();
  #closing: Promise<void> | undefined;

  constructor(name: string, options: AmqpQueueOptions<T> = {}) {
    const config = resolveOptions(name, options);
    this.name = name;
    this.#config = config;
    this.#connection = new Connection(name, config.priorities, config.target);
    this.#producer = new Producer(this.#connection, name, config.priorities);
    const keys = new KeyMarkers(name, this.#producer, config.keyTimeout);
    this.#sender = new Sender(config, this.#connection, this.#producer, keys);
    this.#settler = new Settler(config, this.#connection, this.#producer, keys);
  }

  /** Resolves once RabbitMQ confirmed it stored the message (a persistent message, durable queue). */
  send(message: T, options?: SendOptions): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new QueueClosedError(this.name));
    return this.#sender.send(message, options);
  }

  [Symbol.asyncIterator](): AsyncIterator<AmqpDelivery<T>> {
    const consumer = new AmqpConsumer<T>(this.#config, this.#connection, this.#settler);
    if (this.#closing !== undefined) consumer.end();
    else {
      this.#consumers.add(consumer);
      void consumer.drained.then(() => this.#consumers.delete(consumer));
    }
    return new BrokerIterator(consumer);
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
    const consumers = [...this.#consumers];
    for (const consumer of consumers) consumer.end();
    await atMost(Promise.all(consumers.map((consumer) => consumer.drained)), this.#config.closeTimeout);
    await Promise.all(consumers.map((consumer) => consumer.abandon()));
    await this.#sender.ended();
    await this.#connection.close((session) => this.#producer.flush(session));
  }
}
