import type { Pool } from 'pg';
import { Connection } from './connection.js';
import { failure } from './errors.js';
import { assertSchemaName } from './options.js';
import { quoteIdentifier } from './sql.js';

export interface QueueNamesOptions {
  /** Connection string; a pool is opened for the call and closed after it. */
  url?: string;
  /** An existing pool (left open). */
  pool?: Pool;
  /** The schema holding the queues' tables: PostgresQueue's option, `sluice` by default. */
  dbSchema?: string;
}

/** How long the call's own pool may take to close once the names are read. */
const CLOSE_TIMEOUT = 5_000;

/**
 * The queues of `dbSchema`, sorted: every queue that holds or held messages (it has rows in
 * `counts`, dead-letter queues included) or is paused. A schema sluice never created has none, and
 * is not created by asking.
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
