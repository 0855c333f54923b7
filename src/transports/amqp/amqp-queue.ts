import { QueueClosedError } from '../../errors.js';
import type {
  DeadLetter,
  DeadLettersOptions,
  OperableQueue,
  QueueStats,
  RedriveOptions,
} from '../../queuing/operations.js';
import type { SendOptions } from '../../queuing/types.js';
import { BrokerIterator } from '../shared/iterator.js';
import { Connection } from './connection.js';
import { AmqpConsumer } from './consumer.js';
import type { AmqpDelivery } from './delivery.js';
import { GroupRegistry } from './group-registry.js';
import { countInFlight } from './in-flight.js';
import { KeyMarkers } from './key-markers.js';
import { Management } from './management.js';
import { AmqpOperator } from './operator.js';
import { type AmqpQueueOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { AmqpProducer } from './producer.js';
import { Publisher } from './publisher.js';
import { Settler } from './settler.js';

/**
 * A durable RabbitMQ queue. An `AmqpQueue` object is a handle: any number of handles in any number
 * of processes share the queue (each delivery goes to one). docs/wire-protocol.md (RabbitMQ)
 * describes the topology, how clients in other languages send to it, consume from it and settle
 * what they consumed, and how the operator methods (`stats`, `pause`...) work and which of their
 * figures are exact.
 *
 * @example
 * ```ts
 * import { AmqpQueue } from 'sluice/amqp';
 *
 * const orders = new AmqpQueue<{ id: string }>('orders', { url: 'amqp://guest:guest@127.0.0.1:5672' });
 * await orders.send({ id: 'o-1' });
 * for await (const delivery of orders) {
 *   console.log(delivery.message.id);
 *   await delivery.ack();
 *   break;
 * }
 * await orders.close();
 * ```
 */
export class AmqpQueue<T> implements OperableQueue<T> {
  /** The queue's name, as given to the constructor: the RabbitMQ queue's name. */
  readonly name: string;
  readonly #options: ResolvedOptions<T>;
  readonly #connection: Connection;
  readonly #publisher: Publisher;
  readonly #producer: AmqpProducer;
  readonly #settler: Settler;
  /** RabbitMQ's management API, where the queue has a URL: it lists delay queues. */
  readonly #management: Management | undefined;
  readonly #registry: GroupRegistry;
  readonly #consumers = new Set<AmqpConsumer<T>>();
  #operator: AmqpOperator<T> | undefined;
  #closing: Promise<void> | undefined;

  /**
   * Checks the options and makes the handle; it connects on first use.
   * @throws {@link sluice!InvalidOptionError | InvalidOptionError} when the name or an option
   * cannot work (a name RabbitMQ reserves, both `url` and `connection`, a malformed URL...)
   */
  constructor(name: string, options: AmqpQueueOptions<T> = {}) {
    const resolved = resolveOptions(name, options);
    this.name = name;
    this.#options = resolved;
    this.#connection = new Connection(name, resolved.priorities, resolved.target);
    this.#publisher = new Publisher(this.#connection, name, resolved.priorities);
    const keys = new KeyMarkers(name, this.#publisher, resolved.keyTimeout);
    this.#producer = new AmqpProducer(resolved, this.#connection, this.#publisher, keys);
    this.#settler = new Settler(resolved, this.#connection, this.#publisher, keys);
    this.#management = 'url' in resolved.target ? new Management(resolved.target.url) : undefined;
    this.#registry = new GroupRegistry(this.#connection, this.#publisher, name);
    this.#publisher.registered = (queue) => this.#registry.registered(queue);
  }

  /** The retry policy's last attempt: a delivery nacked on it is dead-lettered. */
  get maxAttempts(): number {
    return this.#options.maxAttempts;
  }

  /**
   * Resolves once RabbitMQ confirmed it stored the message (a persistent message, durable queue).
   * @throws (as a rejection) {@link sluice!QueueClosedError | QueueClosedError} once the handle is closing;
   * {@link sluice!InvalidOptionError | InvalidOptionError} for an invalid option (a priority when
   * `priorities` is `false`...); {@link sluice!SerializationError | SerializationError} or
   * {@link sluice!MessageTooLargeError | MessageTooLargeError} for a message that cannot be sent as
   * it is; {@link AmqpTopologyError} or {@link AmqpAccessError} when RabbitMQ will never take it
   */
  send(message: T, options?: SendOptions): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new QueueClosedError(this.name));
    return this.#producer.send(message, options);
  }

  /**
   * Starts a consumer of its own (with its own channel and `prefetch`) for each iteration. The
   * iteration ends when the queue is closed; it ends with {@link AmqpTopologyError} or
   * {@link AmqpAccessError} when RabbitMQ will never serve it.
   */
  [Symbol.asyncIterator](): AsyncIterator<AmqpDelivery<T>> {
    const consumer = new AmqpConsumer<T>(
      this.#options,
      this.#connection,
      this.#settler,
      this.#publisher,
      this.#registry,
    );
    if (this.#closing !== undefined) consumer.end();
    else {
      this.#consumers.add(consumer);
      const counted = countInFlight(this.name, consumer);
      void consumer.drained.then(() => {
        this.#consumers.delete(consumer);
        counted();
      });
    }
    return new BrokerIterator(consumer);
  }

  /**
   * The queue's counts. Ready and dead messages and `paused` are exact. `delayed` sums the delay
   * queues the management API lists, else those this process declared and those the queue's backoff
   * uses. `inFlight` is the management API's figure (sampled by the broker), else what this
   * process's consumers hold.
   */
  stats(): Promise<QueueStats> {
    return this.#operate((operator) => operator.stats());
  }

  /**
   * The oldest dead letters (after `after`), left where they are: read with `basic.get` and handed
   * back, which RabbitMQ puts at their place but marks redelivered: a sluice consumer of the
   * dead-letter queue counts that as an attempt.
   */
  deadLetters(options?: DeadLettersOptions): Promise<DeadLetter<T>[]> {
    return this.#operate((operator) => operator.deadLetters(options));
  }

  redrive(options?: RedriveOptions): Promise<number> {
    return this.#operate((operator) => operator.redrive(options));
  }

  discardDeadLetters(ids: readonly string[]): Promise<number> {
    return this.#operate((operator) => operator.discardDeadLetters(ids));
  }

  purge(): Promise<number> {
    return this.#operate((operator) => operator.purge());
  }

  pause(): Promise<void> {
    return this.#operate((operator) => operator.setPaused(true));
  }

  resume(): Promise<void> {
    return this.#operate((operator) => operator.setPaused(false));
  }

  /**
   * Declares the queue's topology without sending anything: the queue, its dead-letter queue, its
   * pause record and the control exchange, so that producers in other languages can send at once.
   */
  declare(): Promise<void> {
    return this.#operate((operator) => operator.declare());
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

  /** Like `send`, refused once the queue is closing; the operator is made on first use. */
  async #operate<R>(run: (operator: AmqpOperator<T>) => Promise<R>): Promise<R> {
    if (this.#closing !== undefined) throw new QueueClosedError(this.name);
    this.#operator ??= new AmqpOperator(
      this.#options,
      this.#connection,
      this.#publisher,
      this.#registry,
      this.#management,
    );
    return run(this.#operator);
  }

  async #close(): Promise<void> {
    const { closeTimeout } = this.#options;
    await Promise.all([...this.#consumers].map((consumer) => consumer.close(closeTimeout)));
    await this.#producer.ended();
    this.#registry.close();
    await this.#connection.close((session) => this.#publisher.flush(session));
  }
}
