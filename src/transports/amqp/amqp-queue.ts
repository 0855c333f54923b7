import { QueueClosedError } from '../../errors.js';
import type { Queue, SendOptions } from '../../queuing/types.js';
import { BrokerIterator } from '../shared/iterator.js';
import { Connection } from './connection.js';
import { AmqpConsumer } from './consumer.js';
import type { AmqpDelivery } from './delivery.js';
import { KeyMarkers } from './key-markers.js';
import { type AmqpQueueOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { AmqpProducer } from './producer.js';
import { Publisher } from './publisher.js';
import { Settler } from './settler.js';

/**
 * A durable RabbitMQ queue; docs/wire-protocol.md (RabbitMQ) describes the topology, and how clients in
 * other languages send to it, consume from it and settle what they consumed.
 */
export class AmqpQueue<T> implements Queue<T> {
  readonly name: string;
  readonly #options: ResolvedOptions<T>;
  readonly #connection: Connection;
  readonly #publisher: Publisher;
  readonly #producer: AmqpProducer;
  readonly #settler: Settler;
  readonly #consumers = new Set<AmqpConsumer<T>>();
  #closing: Promise<void> | undefined;

  constructor(name: string, options: AmqpQueueOptions<T> = {}) {
    const resolved = resolveOptions(name, options);
    this.name = name;
    this.#options = resolved;
    this.#connection = new Connection(name, resolved.priorities, resolved.target);
    this.#publisher = new Publisher(this.#connection, name, resolved.priorities);
    const keys = new KeyMarkers(name, this.#publisher, resolved.keyTimeout);
    this.#producer = new AmqpProducer(resolved, this.#connection, this.#publisher, keys);
    this.#settler = new Settler(resolved, this.#connection, this.#publisher, keys);
  }

  /** Resolves once RabbitMQ confirmed it stored the message (a persistent message, durable queue). */
  send(message: T, options?: SendOptions): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new QueueClosedError(this.name));
    return this.#producer.send(message, options);
  }

  [Symbol.asyncIterator](): AsyncIterator<AmqpDelivery<T>> {
    const consumer = new AmqpConsumer<T>(this.#options, this.#connection, this.#settler);
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
    const { closeTimeout } = this.#options;
    await Promise.all([...this.#consumers].map((consumer) => consumer.close(closeTimeout)));
    await this.#producer.ended();
    await this.#connection.close((session) => this.#publisher.flush(session));
  }
}
