import { QueueClosedError } from '../../errors.js';
import { takeNow } from '../../queuing/hand-off.js';
import type {
  DeadLetter,
  DeadLettersOptions,
  OperableQueue,
  QueueStats,
  RedriveOptions,
} from '../../queuing/operations.js';
import { DONE_PROMISE } from '../../queuing/settled.js';
import { atMost } from '../shared/at-most.js';
import { Connection } from './connection.js';
import { PostgresConsumer } from './consumer.js';
import type { PostgresDelivery } from './delivery.js';
import { PostgresOperator } from './operator.js';
import { type PostgresQueueOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { PostgresProducer, type PostgresSendOptions } from './producer.js';
import { Settler } from './settler.js';

/**
 * A durable queue in a PostgreSQL table (docs/wire-protocol.md, PostgreSQL, gives the layout):
 * claims with `FOR UPDATE SKIP LOCKED`, wakes consumers with LISTEN/NOTIFY, redelivers after a
 * visibility timeout, and dead-letters into another queue of the same table with the reason. A
 * `PostgresQueue` object is a handle: any number of handles in any number of processes share the
 * queue's rows (each delivery goes to one). The tables are created on first use.
 *
 * @example
 * ```ts
 * import { PostgresQueue } from 'sluice/postgres';
 *
 * const url = 'postgres://postgres@127.0.0.1:5432/test';
 * const orders = new PostgresQueue<{ id: string }>('orders', { url });
 * await orders.send({ id: 'o-1' });
 * for await (const delivery of orders) {
 *   console.log(delivery.message.id);
 *   await delivery.ack();
 *   break;
 * }
 * await orders.close();
 * ```
 */
export class PostgresQueue<T> implements OperableQueue<T> {
  /** The queue's name, as given to the constructor. */
  readonly name: string;
  readonly #options: ResolvedOptions<T>;
  readonly #connection: Connection;
  readonly #settler: Settler;
  readonly #producer: PostgresProducer<T>;
  readonly #operator: PostgresOperator<T>;
  #consumer: PostgresConsumer<T> | undefined;
  #closing: Promise<void> | undefined;

  /**
   * Checks the options and makes the handle; nothing is sent to PostgreSQL until it is used.
   * @throws {@link sluice!InvalidOptionError | InvalidOptionError} when the name or an option
   * cannot work, or when neither `url` nor `pool` is given
   */
  constructor(name: string, options: PostgresQueueOptions<T>) {
    this.#options = resolveOptions(name, options);
    this.#connection = new Connection(options?.url, options?.pool, this.#options.dbSchema);
    this.name = name;
    this.#settler = new Settler(this.#options, this.#connection);
    this.#producer = new PostgresProducer(this.#options, this.#connection);
    this.#operator = new PostgresOperator(this.#options, this.#connection);
  }

  /** The retry policy's last attempt: a delivery nacked on it is dead-lettered. */
  get maxAttempts(): number {
    return this.#options.maxAttempts;
  }

  /** Creates or upgrades the tables now (otherwise done on first use). Idempotent, safe to race. */
  migrate(): Promise<void> {
    return this.#connection.ready();
  }

  /** Creates the queue's topology (the tables, as `migrate`) without sending: `sluice declare`. */
  declare(): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new QueueClosedError(this.name));
    return this.#connection.ready();
  }

  /**
   * The queue's counts, exact, in one statement: `dead` and the total from the `counts` table; `delayed` and
   * `inFlight` from the claim index, so their cost grows with those rows (not with the ready ones).
   */
  stats(): Promise<QueueStats> {
    return this.#operate((operator) => operator.stats());
  }

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

  /**
   * Every consumer of this queue, in every process, stops taking messages until `resume`: a row in
   * `<dbSchema>.paused`, which every claim checks. Deliveries under way finish normally; sends are
   * still accepted.
   */
  pause(): Promise<void> {
    return this.#operate((operator) => operator.pause());
  }

  resume(): Promise<void> {
    return this.#operate((operator) => operator.resume());
  }

  /**
   * Resolves once the row is written (in `options.client`'s transaction when given). Sends of one
   * tick are inserted in one statement.
   * @throws (as a rejection) {@link sluice!QueueClosedError | QueueClosedError} once the handle is closing;
   * {@link sluice!InvalidOptionError | InvalidOptionError} for an invalid option;
   * {@link sluice!SerializationError | SerializationError} or
   * {@link sluice!MessageTooLargeError | MessageTooLargeError} for a message that cannot be sent as
   * it is; {@link PostgresQueryError} when PostgreSQL refuses the insert
   */
  send(message: T, options?: PostgresSendOptions): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new QueueClosedError(this.name));
    return this.#producer.send(message, options);
  }

  /**
   * Stops sends and claims; pending `next()` calls end; prefetched messages go back to the table;
   * handed-out deliveries may still be settled for `closeTimeout`. Then the pool is closed if this
   * queue opened it.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /**
   * Claims messages for this handle's consumer, prefetching up to `prefetch` ahead. The iteration
   * ends when the queue is closed; it ends with an error when PostgreSQL refuses a claim for good.
   */
  [Symbol.asyncIterator](): AsyncIterator<PostgresDelivery<T>> {
    if (this.#closing !== undefined) return { next: () => DONE_PROMISE, return: () => DONE_PROMISE };
    this.#consumer ??= new PostgresConsumer(this.#options, this.#connection, this.#settler);
    return this.#consumer.iterator();
  }

  /** @internal A prefetched delivery, if one is ready now (the pump's fast path). */
  [takeNow](): PostgresDelivery<T> | undefined {
    return this.#consumer?.take();
  }

  #operate<R>(operation: (operator: PostgresOperator<T>) => Promise<R>): Promise<R> {
    if (this.#closing !== undefined) return Promise.reject(new QueueClosedError(this.name));
    return operation(this.#operator); // async: bad options reject rather than throw
  }

  /**
   * A server that stopped answering is waited for at most `closeTimeout` twice (the deliveries'
   * grace, then the writes), then given up: the queue's own connections are dropped, which rejects
   * the sends still waiting on them. What the consumer held comes back once its leases run out.
   */
  async #close(): Promise<void> {
    const { closeTimeout } = this.#options;
    // Sends accepted before close still complete, while the consumer ends its waiting next() now.
    const wound = Promise.all([this.#producer.idle(), this.#consumer?.close()]).then(() =>
      this.#settler.idle(),
    );
    await atMost(wound, 2 * closeTimeout);
    await this.#connection.end(closeTimeout);
  }
}
