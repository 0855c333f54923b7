/**
 * PostgresJobStore: the job-store conformance suite with a PostgresQueue and with an AmqpQueue
 * (RabbitMQ has no store of its own), then what the suite cannot see: the statements' conditions,
 * expiry in the database, notifications too large to carry the record, the LISTEN connection held
 * only while needed and what happens when it is lost.
 */
import { fileURLToPath } from 'node:url';
import { Pool } from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BrokerUnavailableError, InvalidOptionError, InvalidStateError } from '../../src/errors.js';
import type { JobChange, NewJobRecord } from '../../src/jobs/index.js';
import { PostgresJobStore, type PostgresJobStoreOptions } from '../../src/transports/postgres/index.js';
import { jobStoreConformanceSuite } from '../conformance/job-store.js';
import { sleep, until, within } from '../support/async.js';
import { brokerAvailable, services } from '../support/broker.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { leaseRabbit } from './amqp-harness.js';
import { teardown as teardownWithAmqp } from './postgres-amqp-job-store.js';
import { adminPool, lockPostgres, url } from './postgres-harness.js';
import { forgetJobs, restartServer, teardown } from './postgres-job-store.js';

const postgresUp = await brokerAvailable('postgres');
const rabbitUp = postgresUp && (await brokerAvailable('rabbitmq'));

describe.runIf(postgresUp)('PostgresJobStore', () => {
  jobStoreConformanceSuite({
    name: 'PostgresJobStore with PostgresQueue',
    module: fileURLToPath(new URL('./postgres-job-store.ts', import.meta.url)),
    shared: true,
    restart: restartServer,
    // No server restart by another file while these run (this suite's own restart holds the lock).
    setup: async () => {
      const unlock = await lockPostgres();
      return () => void unlock();
    },
    teardown,
  });
});

describe.runIf(rabbitUp)('PostgresJobStore with AmqpQueue', () => {
  jobStoreConformanceSuite({
    name: 'PostgresJobStore with AmqpQueue',
    module: fileURLToPath(new URL('./postgres-amqp-job-store.ts', import.meta.url)),
    shared: true,
    restart: restartServer,
    setup: async () => {
      const unlock = await lockPostgres();
      const release = await leaseRabbit();
      return () => {
        release();
        void unlock();
      };
    },
    teardown: teardownWithAmqp,
  });
});

describe.runIf(postgresUp)('PostgresJobStore on PostgreSQL', () => {
  let unlock: () => Promise<void> = async () => {};
  const stores: PostgresJobStore[] = [];
  const namespaces: string[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    unlock = await lockPostgres();
  }, 130_000);
  afterAll(() => unlock());
  afterEach(async () => {
    await Promise.allSettled(stores.splice(0).map((store) => store.close()));
    for (const cleanup of cleanups.splice(0)) await cleanup();
    for (const ns of namespaces.splice(0)) await forgetJobs(ns);
  });

  function namespace(label: string): string {
    const name = `pgjs-${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    namespaces.push(name);
    return name;
  }

  function open(options: PostgresJobStoreOptions): PostgresJobStore {
    const store = new PostgresJobStore({ url, ...options });
    stores.push(store);
    return store;
  }

  async function throughProxy(): Promise<{ url: string; proxy: TcpProxy }> {
    const proxy = await startTcpProxy(services.postgres.port);
    cleanups.push(() => proxy.close());
    return { url: url.replace(`:${services.postgres.port}/`, `:${proxy.port}/`), proxy };
  }

  const pushed = (id: string): NewJobRecord => ({
    id,
    task: 'charge',
    args: ['ord-1', { cents: 1_250 }],
    status: 'pending',
    createdAt: Date.now(),
  });

  /** What `listener` was called with, and a way to wait for a record that `match` accepts. */
  function recorder<T>() {
    const seen: T[] = [];
    return {
      seen,
      listener: (value: T) => {
        seen.push(value);
      },
      until: (match: (value: T) => boolean) =>
        within(
          until(() => seen.some(match)),
          10_000,
          () => `a match among ${JSON.stringify(seen)}`,
        ),
    };
  }

  it('writes only what has not ended: version grows with each write, an ended job never changes', async () => {
    const store = open({ name: namespace('writes') });
    expect(await store.create(pushed('a'))).toBeUndefined();
    expect(await store.create({ ...pushed('a'), task: 'other' })).toMatchObject({
      task: 'charge',
      version: 1,
    });
    expect(await store.start('a', pushed('a'))).toMatchObject({ status: 'running', attempt: 1, version: 2 });
    await store.progress('a', { done: 1 });
    await store.retrying('a');
    expect(await store.start('a', pushed('a'))).toMatchObject({ status: 'running', attempt: 2, version: 5 });
    expect(
      await store.finish('a', { status: 'failed', error: { name: 'E', message: 'no', code: 'E_NO' } }),
    ).toBe(true);
    const ended = await store.get('a');
    expect(ended).toMatchObject({
      id: 'a',
      task: 'charge',
      args: ['ord-1', { cents: 1_250 }],
      status: 'failed',
      attempt: 2,
      progress: { done: 1 },
      error: { name: 'E', message: 'no', code: 'E_NO' },
      version: 6,
    });
    expect(ended!.endedAt).toBeGreaterThanOrEqual(ended!.startedAt!);
    expect(await store.finish('a', { status: 'success', result: 1 })).toBe(false);
    await store.progress('a', 'late');
    await store.retrying('a');
    const { id, status, attempt, version, startedAt, endedAt, progress, error } = ended!;
    expect(await store.start('a', pushed('a'))).toEqual({
      id,
      status,
      attempt,
      version,
      startedAt,
      endedAt,
      progress,
      error,
    });
    expect(await store.get('a')).toEqual(ended);
  });

  it('stores a job it does not know from the fallback when it starts (pushed without this store)', async () => {
    const store = open({ name: namespace('fallback') });
    const fallback = { ...pushed('elsewhere'), metadata: { by: 'fallback' } };
    expect(await store.start('elsewhere', fallback)).toMatchObject({
      id: 'elsewhere',
      status: 'running',
      attempt: 1,
      version: 1,
    });
    expect(await store.get('elsewhere')).toMatchObject({
      task: 'charge',
      args: fallback.args,
      metadata: { by: 'fallback' },
      createdAt: fallback.createdAt,
    });
  });

  it('keeps values JSON spells with escapes as they were, and a NUL in a string', async () => {
    const store = open({ name: namespace('escapes') });
    const args = [
      'nul \u0000 quote " backslash \\ newline \n',
      '\u{1F600} é',
      { 'key "x"': [null, -0.5, 1e21] },
    ];
    await store.create({ ...pushed('odd "id" \\ é'), args, metadata: { note: '\u0000' } });
    await store.start('odd "id" \\ é', pushed('x'));
    expect(await store.get('odd "id" \\ é')).toMatchObject({
      id: 'odd "id" \\ é',
      args,
      metadata: { note: '\u0000' },
    });
    await store.finish('odd "id" \\ é', { status: 'success', result: null });
    expect(await store.get('odd "id" \\ é')).toMatchObject({ status: 'success', result: null });
  });

  it('creates a job once when many handles create it at the same time', async () => {
    const name = namespace('race');
    const handles = Array.from({ length: 5 }, () => open({ name }));
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, n) => handles[n % handles.length]!.create(pushed('raced'))),
    );
    expect(results.filter((result) => result === undefined)).toHaveLength(1);
    for (const result of results)
      if (result !== undefined) expect(result).toMatchObject({ id: 'raced', version: 1 });
  });

  it('writes what is asked at once as one statement, a job asked twice in turn', async () => {
    const store = open({ name: namespace('batched') });
    const ids = Array.from({ length: 50 }, (_, n) => `b-${n}`);
    expect(await Promise.all(ids.map((id) => store.create(pushed(id))))).toEqual(ids.map(() => undefined));
    const starts = await Promise.all([...ids, 'b-0', 'b-0'].map((id) => store.start(id, pushed(id))));
    expect(starts.filter((change) => change.id === 'b-0').map((change) => change.attempt)).toEqual([1, 2, 3]);
    const ends = await Promise.all(
      [...ids, 'b-1'].map((id, n) =>
        store.finish(id, { status: n % 2 === 0 ? 'success' : 'cancelled', result: n }),
      ),
    );
    expect(ends).toEqual([...ids.map(() => true), false]);
    const records = await Promise.all([...ids, 'unknown'].map((id) => store.get(id)));
    expect(records.map((record) => record?.status)).toEqual([
      ...ids.map((_, n) => (n % 2 === 0 ? 'success' : 'cancelled')),
      undefined,
    ]);
    expect(records[2]).toMatchObject({ id: 'b-2', result: 2, attempt: 1 });
  });

  it('expires an ended record in the database: invisible at once, its id free, its row swept', async () => {
    const name = namespace('expiry');
    const store = open({ name, retain: { success: 200, failure: 200 } });
    await store.create(pushed('brief'));
    await store.start('brief', pushed('brief'));
    await store.finish('brief', { status: 'success', result: 'done' });
    const ended = await store.get('brief');
    expect(ended?.status).toBe('success');
    await sleep(300);
    expect(await store.get('brief')).toBeUndefined();
    expect(await store.finish('brief', { status: 'failed' })).toBe(false);
    // A new job takes the id: a record as new, its version still growing.
    expect(
      await store.create({ ...pushed('brief'), task: 'again', metadata: { by: 'test' } }),
    ).toBeUndefined();
    const again = await store.get('brief');
    expect(again).toMatchObject({ task: 'again', status: 'pending', attempt: 0, metadata: { by: 'test' } });
    expect(again!.version).toBeGreaterThan(ended!.version);
    expect(again!.result).toBeUndefined();
    // A job the queue hands out again after its record expired starts afresh from the fallback.
    await store.finish('brief', { status: 'cancelled' });
    await sleep(300);
    expect(await store.start('brief', pushed('brief'))).toMatchObject({ status: 'running', attempt: 1 });
    const restarted = await store.get('brief');
    expect(restarted).toMatchObject({ task: 'charge', status: 'running' });
    expect(restarted!.metadata).toBeUndefined();
    await store.finish('brief', { status: 'success' });
    // The sweep (every second with this retention) deletes the expired row.
    const rows = async () =>
      (await adminPool().query('SELECT count(*)::int AS n FROM sluice.jobs WHERE store = $1', [name])).rows[0]
        .n;
    expect(await rows()).toBe(1);
    await within(
      (async () => {
        while ((await rows()) > 0) await sleep(100);
      })(),
      5_000,
      () => 'the sweep',
    );
  });

  it('announces a record too large for a notification by its id: a watcher reads it', async () => {
    const name = namespace('large');
    const writer = open({ name });
    const watcher = open({ name });
    await writer.create(pushed('big'));
    const { seen, listener, until } = recorder<JobChange>();
    await watcher.watch('big', listener);
    await writer.start('big', pushed('big'));
    const result = { text: 'x'.repeat(20_000) };
    await writer.finish('big', { status: 'success', result });
    await until((record) => record.status === 'success');
    expect(seen.map((record) => record.status)).toEqual(['running', 'success']);
    expect(seen.at(-1)).toMatchObject({ result, version: 3 });
  });

  it('listens on a connection of its own only while a job is watched or a cancel listened for', async () => {
    const name = namespace('listen');
    const applicationName = `sluice-listen-${process.pid}`;
    const pool = new Pool({ connectionString: url, application_name: applicationName, max: 3 });
    cleanups.push(() => pool.end());
    const store = open({ url: undefined, pool, name });
    const listening = async () => {
      const { rows } = await adminPool().query<{ query: string }>(
        `SELECT query FROM pg_stat_activity WHERE application_name = $1 AND query ~ '^(UN)?LISTEN'`,
        [applicationName],
      );
      return rows.map((row) => row.query.replace(/"sluice_job_(changes|cancels)_[0-9a-f]{32}"/g, '$1'));
    };
    const becomes = (expected: string[]) =>
      within(
        (async () => {
          while (JSON.stringify(await listening()) !== JSON.stringify(expected)) await sleep(20);
        })(),
        5_000,
        () => `the LISTEN connection to be ${JSON.stringify(expected)}`,
      );
    await store.create(pushed('w'));
    expect(await listening()).toEqual([]);
    const unwatch = await store.watch('w', () => {});
    const unwatchAgain = await store.watch('w', () => {});
    expect(await listening()).toEqual(['LISTEN changes']);
    unwatch();
    unwatchAgain();
    await becomes([]);
    const stopCancels = await store.onCancel(() => {});
    expect(await listening()).toEqual(['LISTEN cancels']);
    const unwatchOther = await store.watch('other', () => {});
    expect(await listening()).toEqual(['LISTEN changes']);
    unwatchOther();
    await becomes(['UNLISTEN changes']);
    stopCancels();
    await becomes([]);
    await store.close();
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]); // a pool it was given stays open
  });

  it('misses no change of a watched job while its LISTEN connection is lost', async () => {
    const name = namespace('lost');
    const { url: viaProxy, proxy } = await throughProxy();
    const watcher = open({ url: viaProxy, name });
    const writer = open({ name });
    await writer.create(pushed('j'));
    const { listener, until } = recorder<JobChange>();
    await watcher.watch('j', listener);
    proxy.cut(1_000); // drops the connections and refuses new ones for a second
    await writer.start('j', pushed('j'));
    await writer.finish('j', { status: 'success', result: 'while away' });
    await until((record) => record.status === 'success' && record.result === 'while away');
  });

  it('announces again a cancel made while its LISTEN connection was lost', async () => {
    const name = namespace('lost-cancel');
    const { url: viaProxy, proxy } = await throughProxy();
    const listener = open({ url: viaProxy, name });
    const writer = open({ name });
    await writer.create(pushed('c'));
    const cancels = recorder<string>();
    await listener.onCancel(cancels.listener);
    proxy.cut(1_000);
    await writer.finish('c', { status: 'cancelled' });
    await cancels.until((id) => id === 'c');
  });

  it('rejects with BrokerUnavailableError while the server cannot be reached, and carries on after', async () => {
    const name = namespace('unreachable');
    const { url: viaProxy, proxy } = await throughProxy();
    const store = open({ url: viaProxy, name });
    await store.create(pushed('u'));
    proxy.cut(1_500);
    await expect(store.start('u', pushed('u'))).rejects.toBeInstanceOf(BrokerUnavailableError);
    await expect(store.get('u')).rejects.toBeInstanceOf(BrokerUnavailableError);
    await expect(store.watch('u', () => {})).rejects.toBeInstanceOf(BrokerUnavailableError);
    await sleep(1_600);
    expect(await store.start('u', pushed('u'))).toMatchObject({ status: 'running', attempt: 1 });
  });

  it('refuses bad options at construction, and every call once closed', async () => {
    for (const options of [
      { name: '' },
      { name: 'x'.repeat(256) },
      { name: 'tab\there' },
      { retain: { success: -1 } },
      { dbSchema: 'pg_jobs' },
      { dbSchema: 'é'.repeat(32) },
      { url: '' },
      { url: undefined },
      { url, pool: new Pool() },
      { url: undefined, pool: {} },
    ] as PostgresJobStoreOptions[]) {
      expect(() => new PostgresJobStore({ url, ...options }), JSON.stringify(options)).toThrow(
        InvalidOptionError,
      );
    }
    const store = open({ name: namespace('closed') });
    await store.close();
    await expect(store.get('x')).rejects.toBeInstanceOf(InvalidStateError);
    await expect(store.create(pushed('x'))).rejects.toBeInstanceOf(InvalidStateError);
    await expect(store.watch('x', () => {})).rejects.toBeInstanceOf(InvalidStateError);
  });

  it('takes a store name of 255 characters of any UTF-8 length: its channels stay identifiers', async () => {
    const name = namespace('long');
    const long = `${name}-${'é'.repeat(255 - name.length - 1)}`;
    namespaces.push(long);
    const writer = open({ name: long });
    const watcher = open({ name: long });
    const neighbour = open({ name });
    await writer.create(pushed('l'));
    await neighbour.create(pushed('l'));
    const { seen, listener, until } = recorder<JobChange>();
    await watcher.watch('l', listener);
    await neighbour.start('l', pushed('l')); // another store's job of the same id: not announced here
    await writer.start('l', pushed('l'));
    await until((record) => record.status === 'running');
    expect(seen).toHaveLength(1);
  });

  it('keeps its table in the schema it is given, versioned apart from the queues', async () => {
    const dbSchema = `sluice_jobs_${process.pid}`;
    cleanups.push(() => adminPool().query(`DROP SCHEMA IF EXISTS ${dbSchema} CASCADE`));
    const store = open({ name: namespace('schema'), dbSchema });
    await store.create(pushed('s'));
    const { rows } = await adminPool().query<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
      [dbSchema],
    );
    expect(rows.map((row) => row.table_name)).toEqual(['job_schema_version', 'jobs']);
    expect(await open({ name: 'other', dbSchema }).get('s')).toBeUndefined();
  });
});
