import { spawn } from 'node:child_process';
import { rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BrokerUnavailableError,
  InvalidOptionError,
  InvalidStateError,
  SerializationError,
} from '../../src/errors.js';
import type { JobChange, NewJobRecord } from '../../src/jobs/index.js';
import { SqliteJobStore, type SqliteJobStoreOptions } from '../../src/transports/sqlite/index.js';
import { jobStoreConformanceSuite } from '../conformance/job-store.js';
import { sleep, until, within } from '../support/async.js';
import { sqliteFiles } from './sqlite-fixture.js';
import { purge, removeDatabase } from './sqlite-job-store.js';

jobStoreConformanceSuite({
  name: 'SqliteJobStore',
  module: fileURLToPath(new URL('./sqlite-job-store.ts', import.meta.url)),
  shared: true,
  setup: async () => removeDatabase,
  teardown: purge,
});

const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));
const { children, tempDb } = sqliteFiles('sqlite-job-store');
const stores: SqliteJobStore[] = [];
const links: string[] = [];
// Registered after the fixture's, so it runs first: the stores release the files before they go.
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
  for (const link of links.splice(0)) rmSync(link, { force: true });
});

function open(options: SqliteJobStoreOptions): SqliteJobStore {
  const store = new SqliteJobStore(options);
  stores.push(store);
  return store;
}

/**
 * A store on the same file as another process would have it: its own connection and feed. The
 * stores of one process share a connection per path; a symbolic link is another path to the file
 * (SQLite follows it, so both use one log).
 */
function elsewhere(options: SqliteJobStoreOptions): SqliteJobStore {
  const link = `${options.path}.elsewhere`;
  symlinkSync(options.path, link);
  links.push(link);
  return open({ ...options, path: link });
}

function newJob(id: string, fields: Partial<NewJobRecord> = {}): NewJobRecord {
  return {
    id,
    task: 'charge',
    args: [id, { cents: 100 }],
    status: 'pending',
    createdAt: Date.now(),
    ...fields,
  };
}

function rows(path: string, store: string): { id: string; expires_at: number | null }[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT id, expires_at FROM sluice_jobs WHERE store = ?').all(store) as {
      id: string;
      expires_at: number | null;
    }[];
  } finally {
    db.close();
  }
}

/** Timers keeping the process alive: the feed's poll is one while it listens. */
function timers(): number {
  return process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;
}

describe('SqliteJobStore', () => {
  it('writes only jobs that have not ended, each write a higher version', async () => {
    const store = open({ path: tempDb() });
    expect(await store.create(newJob('a', { metadata: { by: 'test' } }))).toBeUndefined();
    const created = (await store.get('a'))!;
    expect(created).toMatchObject({ status: 'pending', attempt: 0, metadata: { by: 'test' } });
    expect(created.args).toEqual(['a', { cents: 100 }]);
    const started = await store.start('a', newJob('a'));
    expect(started).toMatchObject({ status: 'running', attempt: 1 });
    expect(started.version).toBeGreaterThan(created.version);
    await store.progress('a', { done: 1 });
    await store.retrying('a');
    const waiting = (await store.get('a'))!;
    expect(waiting).toMatchObject({ status: 'scheduled', progress: { done: 1 } });
    expect(waiting.version).toBeGreaterThan(started.version);
    expect(await store.start('a', newJob('a'))).toMatchObject({ status: 'running', attempt: 2 });
    expect(
      await store.finish('a', { status: 'failed', error: { name: 'E', message: 'no', code: 'E_NO' } }),
    ).toBe(true);
    const ended = (await store.get('a'))!;
    expect(ended).toMatchObject({
      status: 'failed',
      attempt: 2,
      error: { name: 'E', message: 'no', code: 'E_NO' },
    });
    expect(ended.endedAt).toBeGreaterThanOrEqual(ended.startedAt!);

    // Ended: nothing changes it any more, and the same id is not stored again.
    expect(await store.start('a', newJob('a'))).toEqual(ended);
    await store.progress('a', 'late');
    await store.retrying('a');
    expect(await store.finish('a', { status: 'success', result: 1 })).toBe(false);
    expect(await store.create(newJob('a'))).toEqual(ended);
    expect(await store.get('a')).toEqual(ended);

    // A job the store does not know is stored from the fallback as it starts; remove forgets it.
    expect(await store.start('b', newJob('b'))).toMatchObject({ id: 'b', status: 'running', attempt: 1 });
    await store.remove('b');
    expect(await store.get('b')).toBeUndefined();
  });

  it('hears its own process at once: a watcher has the change before the write resolves, a cancel comes once', async () => {
    const path = tempDb();
    const watching = open({ path });
    const writing = open({ path });
    await writing.create(newJob('a'));
    const seen: JobChange[] = [];
    const cancels: string[] = [];
    await watching.watch('a', (record) => seen.push(record));
    await watching.onCancel((id) => cancels.push(id));
    await writing.progress('a', 42);
    expect(seen.map((record) => record.progress)).toEqual([42]);
    await writing.finish('a', { status: 'cancelled' });
    expect(cancels).toEqual(['a']);
    expect(seen.at(-1)?.status).toBe('cancelled');
    await sleep(150); // several ticks: none repeats what this process wrote
    expect(cancels).toEqual(['a']);
    expect(seen).toHaveLength(2);
  });

  it("hears another process's changes: watchers get the record, cancel listeners the id", async () => {
    const path = tempDb();
    const here = open({ path });
    const there = elsewhere({ path });
    await there.create(newJob('a'));
    await there.create(newJob('b'));
    const seen: JobChange[] = [];
    const cancels: string[] = [];
    await here.watch('a', (record) => seen.push(record));
    await here.onCancel((id) => cancels.push(id));
    await there.start('a', newJob('a'));
    await within(
      until(() => seen.at(-1)?.status === 'running'),
      2_000,
    );
    await there.finish('b', { status: 'cancelled' }); // not watched: only its cancel is heard
    await there.finish('a', { status: 'success', result: { ok: true } });
    await within(
      until(() => seen.at(-1)?.status === 'success' && cancels.length === 1),
      2_000,
    );
    expect(seen.at(-1)).toMatchObject({ id: 'a', attempt: 1, result: { ok: true } });
    expect(cancels).toEqual(['b']);
  });

  it('polls only while something listens, and holds the process meanwhile', async () => {
    const store = open({ path: tempDb() });
    const idle = timers();
    const unwatch = await store.watch('a', () => {});
    expect(timers()).toBe(idle + 1);
    const stopCancels = await store.onCancel(() => {});
    expect(timers()).toBe(idle + 1);
    unwatch();
    expect(timers()).toBe(idle + 1);
    stopCancels();
    expect(timers()).toBe(idle);
    await store.watch('b', () => {});
    await store.close();
    expect(timers()).toBe(idle);
  });

  it('follows a store emptied while it listens: its versions begin again', async () => {
    const path = tempDb();
    const here = open({ path, name: 'emptied' });
    const there = elsewhere({ path, name: 'emptied' });
    for (const id of ['a', 'b', 'c']) await there.create(newJob(id));
    const seen: JobChange[] = [];
    await here.watch('a', (record) => seen.push(record));
    const db = new Database(path);
    db.prepare('DELETE FROM sluice_jobs WHERE store = ?').run('emptied');
    db.prepare('DELETE FROM sluice_job_versions WHERE store = ?').run('emptied');
    db.close();
    await there.create(newJob('a'));
    await there.start('a', newJob('a'));
    await within(
      until(() => seen.at(-1)?.status === 'running'),
      2_000,
    );
  });

  it('hides an ended record once it expires, stores the id afresh, and sweeps its row away', async () => {
    const path = tempDb();
    const store = open({ path, name: 'brief', retain: { success: 1, failure: 1 } });
    await store.create(newJob('a'));
    const first = await store.start('a', newJob('a'));
    await store.finish('a', { status: 'success', result: 1 });
    await sleep(5);
    expect(await store.get('a')).toBeUndefined();
    expect(rows(path, 'brief')).toHaveLength(1); // still there, until the sweep
    expect(await store.create(newJob('a', { args: ['again'] }))).toBeUndefined();
    const again = (await store.get('a'))!;
    expect(again).toMatchObject({ status: 'pending', attempt: 0, args: ['again'] });
    expect(again.version).toBeGreaterThan(first.version);
    expect(again.result).toBeUndefined();
    await store.finish('a', { status: 'cancelled' });
    await sleep(5);
    expect(await store.start('a', newJob('a'))).toMatchObject({ status: 'running', attempt: 1 }); // from the fallback
    await store.finish('a', { status: 'timeout' });
    await within(
      until(() => rows(path, 'brief').length === 0, 50),
      5_000,
    );
  });

  it('keeps the record of a job that has not ended however long it runs, and of an ended one for its retention', async () => {
    const path = tempDb();
    const store = open({ path, retain: { success: 60_000, failure: 1 } });
    await store.create(newJob('running'));
    await store.start('running', newJob('running'));
    await store.create(newJob('ok'));
    await store.finish('ok', { status: 'success' });
    await store.create(newJob('ko'));
    await store.finish('ko', { status: 'failed', error: { name: 'Error', message: 'x' } });
    await sleep(5);
    expect((await store.get('running'))?.status).toBe('running');
    const ok = rows(path, 'jobs').find((row) => row.id === 'ok')!;
    expect(ok.expires_at! - Date.now()).toBeGreaterThan(55_000);
    expect(await store.get('ok')).toBeDefined();
    expect(await store.get('ko')).toBeUndefined();
    expect(rows(path, 'jobs').find((row) => row.id === 'running')?.expires_at).toBeNull();
  });

  it('rejects writes with BrokerUnavailableError while another process holds the file past the busy timeout', async () => {
    const path = tempDb();
    const store = open({ path });
    await store.create(newJob('a'));
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const db = new (require('better-sqlite3'))(${JSON.stringify(path)});
         db.exec('BEGIN IMMEDIATE');
         console.log('locked');
         setTimeout(() => { db.exec('COMMIT'); db.close(); }, 6500);`,
      ],
      { cwd: repositoryRoot, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(holder);
    const lines = createInterface({ input: holder.stdout! })[Symbol.asyncIterator]();
    await within(lines.next(), 10_000, () => 'the lock holder to start');
    expect((await store.get('a'))?.status).toBe('pending'); // reads go on meanwhile
    await expect(store.start('a', newJob('a'))).rejects.toBeInstanceOf(BrokerUnavailableError);
    await new Promise((resolve) => holder.once('exit', resolve));
    expect(await store.start('a', newJob('a'))).toMatchObject({ status: 'running', attempt: 1 });
  }, 30_000);

  it('refuses bad options, an unopenable file, values JSON cannot encode, and any use once closed', async () => {
    const path = tempDb();
    for (const options of [
      {},
      { path: '' },
      { path, pollInterval: 0 },
      { path, pollInterval: Number.POSITIVE_INFINITY },
      { path, name: '' },
      { path, name: 'x'.repeat(256) },
      { path, retain: { success: 0 } },
    ]) {
      expect(() => new SqliteJobStore(options as SqliteJobStoreOptions), JSON.stringify(options)).toThrow(
        InvalidOptionError,
      );
    }
    expect(() => new SqliteJobStore({ path: join(path, 'no', 'such', 'dir.db') })).toThrow(
      BrokerUnavailableError,
    );
    const store = new SqliteJobStore({ path });
    await expect(store.create(newJob('big', { args: [1n] }))).rejects.toBeInstanceOf(SerializationError);
    await expect(store.progress('big', { n: 1n })).rejects.toBeInstanceOf(SerializationError);
    expect(await store.get('big')).toBeUndefined();
    await store.close();
    await store.close();
    await expect(store.create(newJob('a'))).rejects.toBeInstanceOf(InvalidStateError);
    await expect(store.get('a')).rejects.toBeInstanceOf(InvalidStateError);
    await expect(store.finish('a', { status: 'cancelled' })).rejects.toBeInstanceOf(InvalidStateError);
    await expect(store.watch('a', () => {})).rejects.toBeInstanceOf(InvalidStateError);
    await expect(store.onCancel(() => {})).rejects.toBeInstanceOf(InvalidStateError);
  });
});
