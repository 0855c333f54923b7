/**
 * The job-store suite's module for PostgresJobStore with PostgresQueue (the suite's child processes
 * load it too; nothing connects on import), and what the PostgresJobStore test file shares: cleaning
 * a namespace up, and restarting the server while the file holds the PostgreSQL test lock.
 */
import type { JobEnvelope, Retention } from '../../src/jobs/index.js';
import { PostgresJobStore, PostgresQueue } from '../../src/transports/postgres/index.js';
import { ensureMigrated, JOB_TABLES } from '../../src/transports/postgres/migrate.js';
import { adminPool, purge, url } from './postgres-harness.js';

/** Restarts the server; the PostgresJobStore test file holds lockPostgres for its whole run. */
export { restartCluster as restartServer } from './postgres-harness.js';

export function store(namespace: string, options: { retain?: Retention } = {}): PostgresJobStore {
  return new PostgresJobStore({ url, name: namespace, ...options });
}

/** A lease of 1 s: the message of a killed worker is claimed again within about a second. */
export function queue(namespace: string): PostgresQueue<JobEnvelope> {
  return new PostgresQueue<JobEnvelope>(namespace, { url, visibilityTimeout: 1_000 });
}

/** Deletes the records of store `namespace`. */
export async function forgetJobs(namespace: string): Promise<void> {
  const pool = adminPool();
  await ensureMigrated(pool, 'sluice', JOB_TABLES);
  await pool.query('DELETE FROM sluice.jobs WHERE store = $1', [namespace]);
}

/** Deletes the records and the queue's rows of `namespace`. */
export async function teardown(namespace: string): Promise<void> {
  await forgetJobs(namespace);
  await purge(namespace);
}
