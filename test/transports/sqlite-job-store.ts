/**
 * The job-store suite's module for SqliteJobStore (see test/conformance/job-store.ts), imported by
 * the suite and by its child processes. Every store and queue of a test file lives in one temporary
 * database file; child processes inherit its path through SLUICE_SQLITE_JOBS_PATH, so they share the
 * file as the services of one machine would. Nothing is opened on import.
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Retention } from '../../src/jobs/index.js';
import type { JobEnvelope } from '../../src/jobs/types.js';
import { SqliteJobStore, SqliteQueue } from '../../src/transports/sqlite/index.js';
import { JOB_SCHEMA } from '../../src/transports/sqlite/job-tables.js';
import { SCHEMA } from '../../src/transports/sqlite/tables.js';

process.env.SLUICE_SQLITE_JOBS_PATH ??= join(tmpdir(), `sluice-job-store-${process.pid}-${randomUUID()}.db`);
const path = process.env.SLUICE_SQLITE_JOBS_PATH;

export function store(namespace: string, options: { retain?: Retention } = {}): SqliteJobStore {
  return new SqliteJobStore({ path, name: namespace, ...options });
}

/** A short visibility timeout: the message of a killed worker is claimable again within a second. */
export function queue(namespace: string): SqliteQueue<JobEnvelope> {
  return new SqliteQueue<JobEnvelope>(namespace, { path, visibilityTimeout: 1_000, pollInterval: 20 });
}

let admin: Database.Database | undefined;

/** The harness's own connection, as a tool outside sluice would open the file. */
function adminDb(): Database.Database {
  if (admin === undefined) {
    admin = new Database(path, { timeout: 5_000 });
    admin.pragma('journal_mode = WAL');
    admin.exec(SCHEMA);
    admin.exec(JOB_SCHEMA);
  }
  return admin;
}

/** Deletes the records, the version sequence and the queue (with its dead letters) of `namespace`. */
export async function purge(namespace: string): Promise<void> {
  const db = adminDb();
  db.prepare('DELETE FROM sluice_jobs WHERE store = ?').run(namespace);
  db.prepare('DELETE FROM sluice_job_versions WHERE store = ?').run(namespace);
  db.prepare('DELETE FROM sluice_messages WHERE queue IN (?, ?)').run(namespace, `${namespace}.dead`);
}

/** Closes the harness's connection and deletes the database file (once every store and queue is closed). */
export function removeDatabase(): void {
  admin?.close();
  admin = undefined;
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
}
