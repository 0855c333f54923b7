import type { ClientBase } from 'pg';
import { InvalidOptionError } from '../../errors.js';
import type { SendOptions } from '../../queuing/types.js';
import { assertBrokerSendOptions } from '../shared/broker-options.js';
import { encodeEnvelope } from '../shared/envelope.js';
import { Batcher } from './batcher.js';
import type { Connection } from './connection.js';
import { failure, isRowError } from './errors.js';
import type { ResolvedOptions } from './options.js';

/** The options of {@link PostgresQueue.send}: those of every queue, and a transaction's client. */
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
  readonly group: string | null;
}

/** The sending side of a queue handle: one row per message, coalesced into multi-row inserts. */
export class PostgresProducer<T> {
  readonly #options: ResolvedOptions<T>;
  readonly #connection: Connection;
  readonly #batches: Batcher<Row>;

  constructor(options: ResolvedOptions<T>, connection: Connection) {
    this.#options = options;
    this.#connection = connection;
    // Up to 4 multi-row inserts in flight; whatever is sent meanwhile waits for the next one. A row
    // PostgreSQL refuses fails alone: its batch is split until the others are stored.
    this.#batches = new Batcher((rows) => this.#insert(rows), 1000, 4, isRowError);
  }

  send(message: T, options: PostgresSendOptions | undefined): Promise<void> {
    let row: Row;
    try {
      row = this.#row(message, options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (options?.client !== undefined) return this.#insertIn(options.client, row);
    return this.#batches.add(row);
  }

  /** Resolves once every send made so far was written (or failed). */
  idle(): Promise<void> {
    return this.#batches.idle();
  }

  #row(message: T, options: PostgresSendOptions | undefined): Row {
    const { name, maxMessageSize, maxDelay } = this.#options;
    if (options === undefined)
      return {
        body: encodeEnvelope(message, name, maxMessageSize),
        priority: 0,
        delay: 0,
        key: null,
        group: null,
      };
    assertBrokerSendOptions(options, maxDelay, name);
    const { priority = 0, delay = 0, key = null, group = null, client } = options;
    if (client !== undefined && typeof (client as ClientBase | null)?.query !== 'function') {
      throw new InvalidOptionError('client', client, 'a pg client (inside your transaction)');
    }
    return { body: encodeEnvelope(message, name, maxMessageSize, options), priority, delay, key, group };
  }

  /**
   * One statement for the whole batch, each column as one array. Bodies travel as text, never
   * parsed by PostgreSQL: a JSON escape such as `\u0000` stays the six characters it is. The groups'
   * column is sent only with a batch that has a grouped message.
   */
  async #insert(rows: Row[]): Promise<void> {
    const connection = this.#connection;
    const { name } = this.#options;
    // Here rather than before queuing the rows: close() waits for the batch, so a first send
    // still waiting for the tables is stored before the pool ends.
    await connection.ready();
    const bodies: string[] = [];
    const priorities: number[] = [];
    const delays: number[] = [];
    const keys: (string | null)[] = [];
    const groups: (string | null)[] = [];
    let grouped = false;
    for (const { body, priority, delay, key, group } of rows) {
      bodies.push(body);
      priorities.push(priority);
      delays.push(delay);
      keys.push(key);
      groups.push(group);
      if (group !== null) grouped = true;
    }
    const { sql, pool } = connection;
    try {
      if (grouped) await pool.query(sql.insertManyGrouped, [name, bodies, priorities, delays, keys, groups]);
      else await pool.query(sql.insertMany, [name, bodies, priorities, delays, keys]);
    } catch (error) {
      throw failure(`send to queue ${name}`, error);
    }
  }

  async #insertIn(client: ClientBase, row: Row): Promise<void> {
    const { name } = this.#options;
    await this.#connection.ready();
    try {
      await client.query(this.#connection.sql.insertOne, [
        name,
        row.body,
        row.priority,
        row.delay,
        row.key,
        row.group,
      ]);
    } catch (error) {
      throw failure(`send to queue ${name} in the caller's transaction`, error);
    }
  }
}
