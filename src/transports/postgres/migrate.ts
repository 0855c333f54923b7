import type { Pool, PoolClient } from 'pg';
import { failure } from './errors.js';
import { migrations } from './migrations.js';
import { quoteIdentifier } from './sql.js';

/** Per pool and schema: migrating once per process is enough; a failed attempt is retried next time. */
const migrated = new WeakMap<Pool, Map<string, Promise<void>>>();

export function ensureMigrated(pool: Pool, dbSchema: string): Promise<void> {
  let bySchema = migrated.get(pool);
  if (bySchema === undefined) {
    bySchema = new Map();
    migrated.set(pool, bySchema);
  }
  let done = bySchema.get(dbSchema);
  if (done === undefined) {
    done = migrate(pool, dbSchema);
    bySchema.set(dbSchema, done);
    done.catch(() => bySchema.delete(dbSchema));
  }
  return done;
}

/**
 * Brings `dbSchema` to the latest version. Idempotent, and safe when several processes start at
 * once: they queue on one advisory lock, and each applies only the versions still missing.
 */
async function migrate(pool: Pool, dbSchema: string): Promise<void> {
  const s = quoteIdentifier(dbSchema);
  const steps = migrations(dbSchema);
  let client: PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw failure(`migrating schema ${dbSchema}`, error);
  }
  let broken: unknown;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`sluice.migrate:${dbSchema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_version (version integer PRIMARY KEY)`);
    const { rows } = await client.query<{ version: number | null }>(
      `SELECT max(version) AS version FROM ${s}.schema_version`,
    );
    for (let version = (rows[0]?.version ?? 0) + 1; version <= steps.length; version++) {
      await client.query(steps[version - 1]!);
      await client.query(`INSERT INTO ${s}.schema_version (version) VALUES ($1)`, [version]);
    }
    await client.query('COMMIT');
  } catch (error) {
    broken = error;
    await client.query('ROLLBACK').catch(() => {});
    throw failure(`migrating schema ${dbSchema}`, error);
  } finally {
    client.release(broken !== undefined); // a connection that failed mid-transaction is not reused
  }
}
