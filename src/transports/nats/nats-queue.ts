import { QueueClosedError } from '../../errors.js';
import { takeNow } from '../../queuing/hand-off.js';
import type {
  DeadLetter,
  DeadLettersOptions,
  OperableQueue,
  QueueStats,
  RedriveOptions,
} from '../../queuing/operations.js';
import {
  assertIds,
  resolveDeadLettersOptions,
  resolveRedriveOptions,
} from '../../queuing/operations-options.js';
import type { SendOptions } from '../../queuing/types.js';
import { UnderWay } from '../shared/under-way.js';
import { NatsConsumer } from './consumer.js';
import type { NatsDelivery } from './delivery.js';
import { streamName } from './names.js';
import { NatsOperations } from './operations.js';
import { type NatsQueueOptions, resolveOptions } from './options.js';
import { NatsProducer } from './producer.js';
import { LazySession, openSession } from './session.js';

/**
 * A durable queue on NATS JetStream: a WorkQueue stream per queue (`sluice-<name>`), a durable pull
 * consumer per priority band, delayed messages on a subject of their own, dead letters on the queue
 * named by `deadLetter` (itself a NatsQueue). A `NatsQueue` object is a handle: any number of
 * handles in any number of processes share the queue (each delivery goes to one). The wire
 * protocol (docs/wire-protocol.md) says how programs in other languages send, consume and
 * dead-letter, and what the operator methods (stats, dead letters, purge, pause) read and write.
 *
 * @example
 * ```ts
 * import { NatsQueue } from 'sluice/nats';
 *
 * const orders = new NatsQueue<{ id: string }>('orders', { url: 'nats://127.0.0.1:4222' });
 * await orders.send({ id: 'o-1' });
 * for await (const delivery of orders) {
 *   console.log(delivery.message.id);
 *   await delivery.ack();
 *   break;
 * }
 * await orders.close();
 * ```
 */
export class NatsQueue<T> implements OperableQueue<T> {
  /** The queue's name, as given to the constructor. */
  readonly name: string;
  /** The retry policy's last attempt: a delivery nacked on it is dead-lettered. */
  readonly maxAttempts: number;
  /** The JetStream stream holding the queue's messages. */
  readonly stream: string;
  readonly #session: LazySession;
  readonly #producer: NatsProducer<T>;
  readonly #consumer: NatsConsumer<T>;
  readonly #operations: NatsOperations<T>;
  readonly #deadLetter: string;
  /** Sends, dead-letterings and moves under way: close waits for them before closing the connection. */
  readonly #busy = new UnderWay();
  #closing: Promise<void> | undefined;

  /**
   * Checks the options and makes the handle, and starts connecting (unless given a `connection`).
   * @throws {@link sluice!InvalidOptionError | InvalidOptionError} when the name or an option
   * cannot work (a name whose stream name would be too long, a `visibilityTimeout` not below
   * {@link DUPLICATE_WINDOW_MS}...)
   */
  constructor(name: string, options: NatsQueueOptions<T> = {}) {
    const resolved = resolveOptions(name, options);
    this.name = name;
    this.maxAttempts = resolved.maxAttempts;
    this.stream = streamName(name);
    this.#session = new LazySession(() => openSession(name, resolved, resolved.visibilityTimeout));
    this.#producer = new NatsProducer(name, resolved, this.#session, this.#busy);
    this.#consumer = new NatsConsumer(name, resolved, this.#session, this.#busy);
    this.#operations = new NatsOperations(name, resolved.deadLetter, this.#session);
    this.#deadLetter = resolved.deadLetter;
    this.#session.get().catch(() => {}); // connect now; whoever needs the connection sees the error
  }

  /**
   * Resolves once JetStream stored the message (a duplicate `key` within the stream's duplicate
   * window resolves without storing a second copy).
   * @throws (as a rejection) {@link sluice!QueueClosedError | QueueClosedError} once the handle is closing;
   * {@link sluice!InvalidOptionError | InvalidOptionError} for an invalid option;
   * {@link sluice!SerializationError | SerializationError} or
   * {@link sluice!MessageTooLargeError | MessageTooLargeError} for a message that cannot be sent as
   * it is; {@link sluice!BrokerUnavailableError | BrokerUnavailableError} when NATS is down or does
   * not answer in time (the message was then not stored, unless only the answer was lost);
   * {@link NatsTopologyError} when the stream or the band's consumer exists in a shape sluice
   * cannot use; {@link NatsAccessError} when the server refuses the credentials
   */
  send(message: T, options?: SendOptions): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new QueueClosedError(this.name));
    return this.#producer.send(message, options);
  }

  /**
   * Fetches messages for this handle's consumer, up to `prefetch` ahead per priority band. The
   * iteration ends when the queue is closed. While the stream or a band's consumer exists in a shape
   * sluice cannot use, `next()` rejects with {@link NatsTopologyError} (a later `next()` looks again).
   */
  [Symbol.asyncIterator](): AsyncIterator<NatsDelivery<T>> {
    return this.#consumer.iterator();
  }

  /** @internal A fetched delivery, if one is ready now (the pump's fast path). */
  [takeNow](): NatsDelivery<T> | undefined {
    return this.#consumer.take();
  }

  stats(): Promise<QueueStats> {
    return this.#operate(() => this.#operations.stats());
  }

  deadLetters(options?: DeadLettersOptions): Promise<DeadLetter<T>[]> {
    return this.#operate(() => this.#operations.deadLetters(resolveDeadLettersOptions(options)));
  }

  redrive(options?: RedriveOptions): Promise<number> {
    return this.#operate(() => this.#operations.redrive(resolveRedriveOptions(options)));
  }

  discardDeadLetters(ids: readonly string[]): Promise<number> {
    return this.#operate(() => this.#operations.discardDeadLetters(assertIds(ids)));
  }

  purge(): Promise<number> {
    return this.#operate(() => this.#operations.purge());
  }

  pause(): Promise<void> {
    return this.#operate(() => this.#operations.pause());
  }

  resume(): Promise<void> {
    return this.#operate(() => this.#operations.resume());
  }

  /**
   * Creates the queue's stream and its dead-letter queue's, each with consumers `p0` and
   * `delayed`, sending nothing: what a producer in another language needs before sending.
   */
  declare(): Promise<void> {
    return this.#operate(() => this.#operations.declare(this.#deadLetter));
  }

  /**
   * Stops sends and fetching; pending `next()` calls end; buffered messages go back to the stream;
   * handed-out deliveries can be settled for `closeTimeout`, then go back too; then the connection
   * closes if the queue opened it.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#consumer.close();
      await this.#busy.ended();
      await this.#session.close();
    })();
    return this.#closing;
  }

  /** Runs an operator method unless the handle is closed; bad options reject rather than throw. */
  #operate<R>(operation: () => Promise<R>): Promise<R> {
    if (this.#closing !== undefined) return Promise.reject(new QueueClosedError(this.name));
    try {
      return this.#busy.add(operation());
    } catch (error) {
      return Promise.reject(error);
    }
  }
}
