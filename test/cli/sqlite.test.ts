import { randomUUID } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteJobStore, SqliteQueue, type SqliteQueueOptions } from '../../src/transports/sqlite/index.js';
import type { DurableQueueOptions } from '../conformance/durable.js';
import { runCli } from './run-cli.js';
import { cliScenarios } from './scenarios.js';

const path = join(tmpdir(), `sluice-cli-${process.pid}.db`);
const files = [path];

afterAll(() => {
  for (const file of files)
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
});

/** Plain SQL on the file, as a producer in another language would write it. */
function withDb<R>(use: (db: Database.Database) => R): R {
  const db = new Database(path, { timeout: 5_000 });
  try {
    return use(db);
  } finally {
    db.close();
  }
}

cliScenarios({
  name: 'SQLite',
  url: `sqlite:${path}`,
  open: <T>(name: string, options: DurableQueueOptions = {}) =>
    new SqliteQueue<T>(name, { path, ...(options as Omit<SqliteQueueOptions<T>, 'path'>) }),
  async purge(name) {
    withDb((db) => {
      db.prepare('DELETE FROM sluice_messages WHERE queue IN (?, ?)').run(name, `${name}.dead`);
    });
  },
  async rawSend(queue, envelope) {
    withDb((db) => {
      db.prepare(
        'INSERT INTO sluice_messages (queue, body, priority, ready, run_at, dedup_key) VALUES (?, ?, 0, 1, 0, NULL)',
      ).run(queue, envelope);
    });
  },
  jobStore: (name) => new SqliteJobStore({ path, name }),
  async setup() {
    // The file exists before the program is pointed at it, as an application's would.
    await new SqliteQueue('cli-setup', { path }).close();
    return () => {};
  },
});

describe('sluice on a SQLite file that does not exist', { timeout: 60_000 }, () => {
  it('refuses to read it (exit 1), rather than create an empty database', async () => {
    const missing = join(tmpdir(), `sluice-cli-missing-${randomUUID()}.db`);
    const { code, stdout, stderr } = await runCli(['stats', `sqlite:${missing}`, 'orders']);
    expect({ code, stdout, stderr }).toEqual({
      code: 1,
      stdout: '',
      stderr: `DATABASE_NOT_FOUND: no SQLite database at ${missing}\n`,
    });
    expect(existsSync(missing)).toBe(false);
  });

  it('declare creates it', async () => {
    const fresh = join(tmpdir(), `sluice-cli-fresh-${randomUUID()}.db`);
    files.push(fresh);
    const { code } = await runCli(['declare', `sqlite:${fresh}`, 'orders']);
    expect(code).toBe(0);
    expect(existsSync(fresh)).toBe(true);
  });
});
