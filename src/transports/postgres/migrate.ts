import type { Pool, PoolClient } from 'pg';
import { failure } from './errors.js';
import { jobMigrations, migrations } from './migrations.js';
import { quoteIdentifier } from './sql.js';

/** A line of versioned schema changes, counted in its own table of the schema. */
export interface MigrationTrack {
  readonly versionTable: string;
  steps(dbSchema: string): string[];
}

/** The queues' tables: what PostgresQueue needs. */
export const QUEUE_TABLES: MigrationTrack = { versionTable: 'schema_version', steps: migrations };

/**
 * The job store's table, versioned apart: a schema only queues use never gets it, and the queue's
 * schema (and its documented script) stays what it is.
 */
export const JOB_TABLES: MigrationTrack = { versionTable: 'job_schema_version', steps: jobMigrations };

/** Per pool, track and schema: migrating once per process is enough; a failed attempt is retried next time. */
const migrated = new WeakMap<Pool, Map<string, Promise<void>>>();

export function ensureMigrated(
  pool: Pool,
  dbSchema: string,
  track: MigrationTrack = QUEUE_TABLES,
): Promise<void> {
  let bySchema = migrated.get(pool);
  if (bySchema === undefined) {
    bySchema = new Map();
    migrated.set(pool, bySchema);
  }
  const key = `${track.versionTable}:${dbSchema}`;
  let done = bySchema.get(key);
  if (done === undefined) {
    done = migrate(pool, dbSchema, track);
    bySchema.set(key, done);
    done.catch(() => bySchema.delete(key));
  }
  return done;
}

/**
 * Brings `track` in `dbSchema` to its latest version. Idempotent, and safe when several processes start at
 * once: they queue on one advisory lock, and each applies only the versions still missing.
 */
async function migrate(pool: Pool, dbSchema: string, track: MigrationTrack): Promise<void> {
  const s = quoteIdentifier(dbSchema);
  const versions = `${s}.${quoteIdentifier(track.versionTable)}`;
  const steps = track.steps(dbSchema);
  let client: PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw failure(`migrating schema ${dbSchema}`, error);
  }
  let broken: unknown;
  // A connection lost mid-migration fails the query below; without a listener pg would also throw
  // the loss at the process (the caller's pool listens only to idle clients).
  const lost = (error: unknown) => {
    broken ??= error;
  };
  client.on('error', lost);
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`sluice.migrate:${dbSchema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${versions} (version integer PRIMARY KEY)`);
    const { rows } = await client.query<{ version: number | null }>(
      `SELECT max(version) AS version FROM ${versions}`,
    );
    for (let version = (rows[0]?.version ?? 0) + 1; version <= steps.length; version++) {
      await client.query(steps[version - 1]!);
      await client.query(`INSERT INTO ${versions} (version) VALUES ($1)`, [version]);
    }
    await client.query('COMMIT');
  } catch (error) {
    broken = error;
    await client.query('ROLLBACK').catch(() => {});
    throw failure(`migrating schema ${dbSchema}`, error);
  } finally {
    client.off('error', lost);
    client.release(broken !== undefined); // a connection that failed mid-transaction is not reused
  }
}
