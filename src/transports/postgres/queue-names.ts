import type { Pool } from 'pg';
import { Connection } from './connection.js';
import { failure } from './errors.js';
import { assertSchemaName } from './options.js';
import { quoteIdentifier } from './sql.js';

/** The options of {@link queueNames}: `url` or `pool`, and the schema to look in. */
export interface QueueNamesOptions {
  /** Connection string; a pool is opened for the call and closed after it. Needed unless `pool` is given. */
  url?: string;
  /** An existing pool (left open). */
  pool?: Pool;
  /**
   * The schema holding the queues' tables, as given to the queues ({@link PostgresQueueOptions.dbSchema}).
   * @defaultValue `'sluice'`
   */
  dbSchema?: string;
}

/** How long the call's own pool may take to close once the names are read. */
const CLOSE_TIMEOUT = 5_000;

/**
 * The queues of `dbSchema`, sorted: every queue that holds or held messages (it has rows in
 * `counts`, dead-letter queues included) or is paused. A schema sluice never created has none, and
 * is not created by asking.
 * @throws {@link sluice!InvalidOptionError | InvalidOptionError} for an invalid `dbSchema`, or
 * neither `url` nor `pool`
 * @throws {@link sluice!BrokerUnavailableError | BrokerUnavailableError} when PostgreSQL cannot be reached
 * @throws {@link PostgresQueryError} when PostgreSQL refuses the query
 */
export async function queueNames(options: QueueNamesOptions = {}): Promise<string[]> {
  const { dbSchema = 'sluice' } = options;
  assertSchemaName(dbSchema);
  const connection = new Connection(options.url, options.pool, dbSchema);
  const s = quoteIdentifier(dbSchema);
  try {
    const { rows: found } = await connection.pool.query<{ exists: boolean }>(
      'SELECT to_regclass($1) IS NOT NULL AS exists',
      [`${s}.messages`],
    );
    if (found[0]?.exists !== true) return [];
    await connection.ready(); // a schema of an older version gets its `counts` table
    const { rows } = await connection.pool.query<{ queue: string }>(
      `SELECT queue FROM ${s}.counts UNION SELECT queue FROM ${s}.paused ORDER BY queue`,
    );
    return rows.map((row) => row.queue);
  } catch (error) {
    throw failure(`listing the queues of schema ${dbSchema}`, error);
  } finally {
    await connection.end(CLOSE_TIMEOUT);
  }
}
