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
 * named by `deadLetter` (default `${name}.dead`, itself a NatsQueue). The wire protocol
 * (docs/wire-protocol.md) says how programs in other languages send, consume and dead-letter, and
 * what the operator methods (stats, dead letters, purge, pause) read and write.
 */
export class NatsQueue<T> implements OperableQueue<T> {
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
   * window resolves without storing a second copy). Rejects BrokerUnavailableError when NATS is
   * down or does not answer in time: it was then not stored, unless only the answer was lost;
   * NatsTopologyError when the stream or the band's consumer exists in a shape sluice cannot use.
   */
  send(message: T, options?: SendOptions): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new QueueClosedError(this.name));
    return this.#producer.send(message, options);
  }

  [Symbol.asyncIterator](): AsyncIterator<NatsDelivery<T>> {
    return this.#consumer.iterator();
  }

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
