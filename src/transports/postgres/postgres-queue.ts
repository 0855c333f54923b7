import type { ClientBase } from 'pg';
import { InvalidOptionError, QueueClosedError } from '../../errors.js';
import { takeNow } from '../../queuing/hand-off.js';
import { assertSendOptions } from '../../queuing/send-options.js';
import { DONE_PROMISE, RESOLVED } from '../../queuing/settled.js';
import type { Delivery, Queue, SendOptions } from '../../queuing/types.js';
import { atMost } from '../shared/at-most.js';
import { encodeEnvelope } from '../shared/envelope.js';
import { Batcher } from './batcher.js';
import { Consumer } from './consumer.js';
import type { PostgresDelivery } from './delivery.js';
import { failure, isRowError } from './errors.js';
import { assertDelayFits, assertKeyFits } from './limits.js';
import { ensureMigrated } from './migrate.js';
import { type Context, type PostgresQueueOptions, resolveOptions } from './options.js';
import { Settler } from './settler.js';

export interface PostgresSendOptions extends SendOptions {
  /**
   * A client inside the caller's open transaction: the message is inserted in that transaction,
   * so it exists if and only if the transaction commits. `send` resolves once the row is written
   * (consumers see it, and are notified, at commit).
   */
  client?: ClientBase;
}

interface Row {
  readonly body: string;
  readonly priority: number;
  readonly delay: number;
  readonly key: string | null;
}

/**
 * A durable queue in a PostgreSQL table (see sql.ts for the layout): claims with
 * `FOR UPDATE SKIP LOCKED`, wakes consumers with LISTEN/NOTIFY, redelivers after a visibility
 * timeout, and dead-letters into another queue of the same table with the reason.
 */
export class PostgresQueue<T> implements Queue<T> {
  readonly name: string;
  readonly #context: Context<T>;
  readonly #settler: Settler;
  readonly #sends: Batcher<Row>;
  #consumer: Consumer<T> | undefined;
  #migrated = false;
  #closing: Promise<void> | undefined;

  constructor(name: string, options: PostgresQueueOptions<T>) {
    this.#context = resolveOptions(name, options);
    this.name = name;
    this.#settler = new Settler(this.#context);
    // Up to 4 multi-row inserts in flight; whatever is sent meanwhile waits for the next one. A row
    // PostgreSQL refuses fails alone: its batch is split until the others are stored.
    this.#sends = new Batcher((rows) => this.#insert(rows), 1000, 4, isRowError);
  }

  /** Creates or upgrades the tables now (otherwise done on first use). Idempotent, safe to race. */
  migrate(): Promise<void> {
    return this.#ready();
  }

  send(message: T, options?: PostgresSendOptions): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new QueueClosedError(this.name));
    let row: Row;
    try {
      row = this.#row(message, options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (options?.client !== undefined) return this.#insertIn(options.client, row);
    return this.#sends.add(row);
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

  [Symbol.asyncIterator](): AsyncIterator<Delivery<T>> {
    if (this.#closing !== undefined) return { next: () => DONE_PROMISE, return: () => DONE_PROMISE };
    return this.#consume().iterator();
  }

  [takeNow](): PostgresDelivery<T> | undefined {
    return this.#consumer?.take();
  }

  #consume(): Consumer<T> {
    this.#consumer ??= new Consumer(this.#context, this.#settler, () => this.#ready());
    return this.#consumer;
  }

  #ready(): Promise<void> {
    if (this.#migrated) return RESOLVED;
    return ensureMigrated(this.#context.pool, this.#context.dbSchema).then(() => {
      this.#migrated = true;
    });
  }

  #row(message: T, options: PostgresSendOptions | undefined): Row {
    if (options === undefined)
      return {
        body: encodeEnvelope(message, this.name, this.#context.maxMessageSize),
        priority: 0,
        delay: 0,
        key: null,
      };
    assertSendOptions(options);
    const { priority = 0, delay = 0, key = null, client } = options;
    assertDelayFits(delay, this.name);
    if (key !== null) assertKeyFits(key, this.name);
    if (client !== undefined && typeof (client as ClientBase | null)?.query !== 'function') {
      throw new InvalidOptionError('client', client, 'a pg client (inside your transaction)');
    }
    return { body: encodeEnvelope(message, this.name, this.#context.maxMessageSize), priority, delay, key };
  }

  /**
   * One statement for the whole batch, each column as one array. Bodies travel as text, never
   * parsed by PostgreSQL: a JSON escape such as `\u0000` stays the six characters it is.
   */
  async #insert(rows: Row[]): Promise<void> {
    // Here rather than before queuing the rows: close() waits for the batch, so a first send
    // still waiting for the tables is stored before the pool ends.
    await this.#ready();
    const bodies: string[] = [];
    const priorities: number[] = [];
    const delays: number[] = [];
    const keys: (string | null)[] = [];
    for (const { body, priority, delay, key } of rows) {
      bodies.push(body);
      priorities.push(priority);
      delays.push(delay);
      keys.push(key);
    }
    const { pool, sql } = this.#context;
    try {
      await pool.query(sql.insertMany, [this.name, bodies, priorities, delays, keys]);
    } catch (error) {
      throw failure(`send to queue ${this.name}`, error);
    }
  }

  async #insertIn(client: ClientBase, row: Row): Promise<void> {
    await this.#ready();
    try {
      await client.query(this.#context.sql.insertOne, [
        this.name,
        row.body,
        row.priority,
        row.delay,
        row.key,
      ]);
    } catch (error) {
      throw failure(`send to queue ${this.name} in the caller's transaction`, error);
    }
  }

  /**
   * A server that stopped answering is waited for at most `closeTimeout` twice (the deliveries'
   * grace, then the writes), then given up: the queue's own connections are dropped, which rejects
   * the sends still waiting on them. What the consumer held comes back once its leases run out.
   */
  async #close(): Promise<void> {
    const { closeTimeout, ownsPool, pool, dropConnections } = this.#context;
    // Sends accepted before close still complete, while the consumer ends its waiting next() now.
    const wound = Promise.all([this.#sends.idle(), this.#consumer?.close()]).then(() => this.#settler.idle());
    await atMost(wound, 2 * closeTimeout);
    if (!ownsPool) return;
    await atMost(pool.end(), closeTimeout);
    dropConnections();
  }
}
