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
 * A durable queue in a PostgreSQL table (see docs/wire-protocol.md (PostgreSQL) for the layout): claims
 * with `FOR UPDATE SKIP LOCKED`, wakes consumers with LISTEN/NOTIFY, redelivers after a visibility
 * timeout, and dead-letters into another queue of the same table with the reason. Its operator face
 * (stats, dead letters, pause) reads the counts and the pause rows the tables keep (see
 * operator-migration.ts).
 */
export class PostgresQueue<T> implements OperableQueue<T> {
  readonly name: string;
  readonly #options: ResolvedOptions<T>;
  readonly #connection: Connection;
  readonly #settler: Settler;
  readonly #producer: PostgresProducer<T>;
  readonly #operator: PostgresOperator<T>;
  #consumer: PostgresConsumer<T> | undefined;
  #closing: Promise<void> | undefined;

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
   * Exact counts in one statement: `dead` and the total from the `counts` table; `delayed` and
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

  /** A row in `<dbSchema>.paused`: `claim()` hands out nothing while it exists, whoever claims. */
  pause(): Promise<void> {
    return this.#operate((operator) => operator.pause());
  }

  resume(): Promise<void> {
    return this.#operate((operator) => operator.resume());
  }

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

  [Symbol.asyncIterator](): AsyncIterator<PostgresDelivery<T>> {
    if (this.#closing !== undefined) return { next: () => DONE_PROMISE, return: () => DONE_PROMISE };
    this.#consumer ??= new PostgresConsumer(this.#options, this.#connection, this.#settler);
    return this.#consumer.iterator();
  }

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
