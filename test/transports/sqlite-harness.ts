/**
 * The durable-suite harness for SqliteQueue, and the module the suite's child consumer imports
 * (`open`). Every queue lives in one temporary database file; child processes inherit its path
 * through SLUICE_SQLITE_PATH, so they share the file like separate services on one machine would.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { SqliteQueue, type SqliteQueueOptions } from '../../src/transports/sqlite/index.js';
import { SCHEMA } from '../../src/transports/sqlite/tables.js';
import type { DurableHarness, DurableQueueOptions } from '../conformance/durable.js';

process.env.SLUICE_SQLITE_PATH ??= join(tmpdir(), `sluice-conformance-${process.pid}.db`);
export const path = process.env.SLUICE_SQLITE_PATH;

export function open<T>(name: string, options: DurableQueueOptions = {}): SqliteQueue<T> {
  return new SqliteQueue<T>(name, { path, ...(options as Omit<SqliteQueueOptions<T>, 'path'>) });
}

let admin: Database.Database | undefined;

/** The harness's own connection: it writes as a foreign producer would, with plain SQL. */
function adminDb(): Database.Database {
  if (admin === undefined) {
    admin = new Database(path, { timeout: 5_000 });
    admin.pragma('journal_mode = WAL');
    admin.exec(SCHEMA);
  }
  return admin;
}

export async function purge(...names: string[]): Promise<void> {
  const remove = adminDb().prepare('DELETE FROM sluice_messages WHERE queue = ?');
  for (const name of names) {
    remove.run(name);
    remove.run(`${name}.dead`);
  }
}

/** Closes the harness's connection and deletes the database file (call once every queue is closed). */
export function removeDatabase(): void {
  admin?.close();
  admin = undefined;
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
}

export const sqliteHarness: DurableHarness = {
  name: 'sqlite',
  open,
  purge: (name) => purge(name),
  async sendRaw(name, body) {
    adminDb().prepare('INSERT INTO sluice_messages (queue, body) VALUES (?, ?)').run(name, body);
  },
  childModule: fileURLToPath(import.meta.url),
};
