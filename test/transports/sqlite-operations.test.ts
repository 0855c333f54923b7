import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import { queueNames, SqliteJobStore } from '../../src/transports/sqlite/index.js';
import { JOB_SQL } from '../../src/transports/sqlite/job-tables.js';
import { operationsSuite } from '../conformance/operations.js';
import { collect, type Numbered, statsBecome } from '../conformance/operations-support.js';
import { sleep } from '../support/async.js';
import { receive } from '../support/deliveries.js';
import { sqliteFiles } from './sqlite-fixture.js';
import { removeDatabase, sqliteHarness } from './sqlite-harness.js';

// SQLite needs no server: the suite always runs.
describe('SqliteQueue operations conformance', () => {
  afterAll(() => removeDatabase());
  operationsSuite(sqliteHarness);
});

describe('SqliteQueue operations, SQLite only', () => {
  const { tempDb, open } = sqliteFiles('sqlite-operations');
  const stores: SqliteJobStore[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });

  /**
   * Another process's handle on the same file: the queues of one process share a connection per
   * path, so a second Database on the file stands for the other process, as the wire protocol's
   * foreign programs do.
   */
  function foreign(path: string): Database.Database {
    const db = new Database(path, { timeout: 5_000 });
    return db;
  }

  it('a pause is a row of the file: it holds for a consumer on another connection and across a reopen', async () => {
    const path = tempDb();
    const operator = open<Numbered>('jobs', { path });
    await operator.send({ n: 1 });
    await operator.pause();
    await operator.close();

    // The pause outlives every handle: a consumer opened afterwards takes nothing.
    const consumer = collect(open<Numbered>('jobs', { path }));
    await sleep(800);
    expect(consumer.messages).toEqual([]);

    const db = foreign(path);
    try {
      expect(db.prepare("SELECT paused FROM sluice_queues WHERE queue = 'jobs'").pluck().get()).toBe(1);
      // Resumed by another program: the consumer hears of it within its poll interval.
      db.prepare("UPDATE sluice_queues SET paused = 0 WHERE queue = 'jobs'").run();
    } finally {
      db.close();
    }
    await consumer.reach(1);
    await consumer.stop();
  });

  it('stats counts delayed, due and in-flight rows, and a lease that ran out stays in flight until claimed again', async () => {
    const path = tempDb();
    const queue = open<Numbered>('q', { path, visibilityTimeout: 300 });
    await queue.send({ n: 1 });
    await queue.send({ n: 2 }, { delay: 200 });
    await queue.send({ n: 3 }, { delay: 60_000 });
    expect(await queue.stats()).toMatchObject({ ready: 1, delayed: 2, inFlight: 0 });
    await sleep(300); // n 2 is due, not yet promoted by a claim: ready
    expect(await queue.stats()).toMatchObject({ ready: 2, delayed: 1, inFlight: 0 });

    const claimed = await receive(open<Numbered>('q', { path, visibilityTimeout: 300 }), 2);
    expect(await queue.stats()).toMatchObject({ ready: 0, delayed: 1, inFlight: 2 });
    await sleep(400); // their leases ran out unsettled
    expect(await queue.stats()).toMatchObject({ ready: 0, delayed: 1, inFlight: 2 });
    const again = await receive(queue, 2);
    expect(again.map((d) => d.attempt)).toEqual([2, 2]);
    await Promise.all([...claimed, ...again].map((d) => d.ack()));
    await statsBecome(queue, { ready: 0, delayed: 1, inFlight: 0, dead: 0 });
  });

  it('counts what a program following docs/wire-protocol.md sends, claims and settles', async () => {
    const path = tempDb();
    const queue = open<Numbered>('wire', { path, maxAttempts: 1 });
    await queue.declare();
    const db = foreign(path);
    try {
      const send = db.transaction((n: number, ready: number) => {
        db.prepare(`INSERT INTO sluice_messages (queue, body, priority, ready, run_at, dedup_key)
          VALUES ('wire', ?, 0, ?, ?, NULL) ON CONFLICT (queue, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING`).run(
          JSON.stringify({ payload: { n } }),
          ready,
          ready === 1 ? 0 : Date.now() + 60_000,
        );
        db.prepare(`INSERT INTO sluice_queues (queue, waiting, delayed) VALUES ('wire', changes() * ?, changes() * (1 - ?))
          ON CONFLICT (queue) DO UPDATE SET waiting = waiting + excluded.waiting, delayed = delayed + excluded.delayed`).run(
          ready,
          ready,
        );
      });
      send.immediate(1, 1);
      send.immediate(2, 1);
      send.immediate(3, 0);
      expect(await queue.stats()).toMatchObject({ ready: 2, delayed: 1, inFlight: 0 });

      const now = Date.now();
      const claimed = db
        .transaction(() => {
          const rows = db
            .prepare(`SELECT id, attempt + 1 AS attempt, run_at > 0 AS lease_expired FROM sluice_messages
            WHERE queue = 'wire' AND ready = 1 AND run_at <= ?
              AND NOT EXISTS (SELECT 1 FROM sluice_queues WHERE queue = 'wire' AND paused = 1)
            ORDER BY priority DESC, id LIMIT 2`)
            .all(now) as { id: number; attempt: number; lease_expired: number }[];
          for (const row of rows) {
            db.prepare('UPDATE sluice_messages SET run_at = ?, attempt = attempt + 1 WHERE id = ?').run(
              now + 60_000,
              row.id,
            );
          }
          const fresh = rows.filter((row) => row.lease_expired === 0).length;
          db.prepare(
            `UPDATE sluice_queues SET waiting = waiting - ?, leased = leased + ? WHERE queue = 'wire'`,
          ).run(fresh, fresh);
          return rows;
        })
        .immediate();
      expect(await queue.stats()).toMatchObject({ ready: 0, delayed: 1, inFlight: 2 });

      const [acked, dead] = claimed;
      db.transaction(() => {
        db.prepare('DELETE FROM sluice_messages WHERE id = ? AND attempt = ?').run(acked!.id, acked!.attempt);
        db.prepare(`UPDATE sluice_queues SET leased = leased - changes() WHERE queue = 'wire'`).run();
      }).immediate();
      db.transaction(() => {
        db.prepare(`INSERT INTO sluice_messages (queue, body, priority, reason, dead_at, dead_attempt)
          SELECT 'wire.dead', body, priority, 'rejected', ?, attempt FROM sluice_messages WHERE id = ? AND attempt = ?`).run(
          Date.now(),
          dead!.id,
          dead!.attempt,
        );
        db.prepare(`INSERT INTO sluice_queues (queue, waiting) VALUES ('wire.dead', changes())
          ON CONFLICT (queue) DO UPDATE SET waiting = waiting + excluded.waiting`).run();
        db.prepare('DELETE FROM sluice_messages WHERE id = ? AND attempt = ?').run(dead!.id, dead!.attempt);
        db.prepare(`UPDATE sluice_queues SET leased = leased - changes() WHERE queue = 'wire'`).run();
      }).immediate();
    } finally {
      db.close();
    }
    expect(await queue.stats()).toEqual({ ready: 0, delayed: 1, inFlight: 0, dead: 1, paused: false });
    const [letter] = await queue.deadLetters();
    expect(letter).toMatchObject({ message: { n: 2 }, reason: 'rejected', attempt: 1 });
    expect(letter!.id).toMatch(/^\d+$/); // no id in its body: named by its row
  });

  it('counts a file made before the counts existed once, when it is first opened', async () => {
    const path = tempDb();
    const db = foreign(path);
    db.pragma('journal_mode = WAL');
    // The table as sluice made it before dead letters recorded their death and queues their counts.
    db.exec(`CREATE TABLE sluice_messages (id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL,
      body TEXT NOT NULL, priority REAL NOT NULL DEFAULT 0, ready INTEGER NOT NULL DEFAULT 1,
      run_at INTEGER NOT NULL DEFAULT 0, attempt INTEGER NOT NULL DEFAULT 0, dedup_key TEXT, reason TEXT)`);
    const insert = db.prepare(
      'INSERT INTO sluice_messages (queue, body, ready, run_at, reason) VALUES (?, ?, ?, ?, ?)',
    );
    insert.run('old', '{"id":"a","payload":{"n":1}}', 1, 0, null);
    insert.run('old', '{"id":"b","payload":{"n":2}}', 0, Date.now() + 60_000, null);
    insert.run('old.dead', '{"id":"c","payload":{"n":3}}', 1, 0, 'failed 3 of 5 attempts: Error: x');
    db.close();

    const queue = open<Numbered>('old', { path });
    expect(await queue.stats()).toEqual({ ready: 1, delayed: 1, inFlight: 0, dead: 1, paused: false });
    const [letter] = await queue.deadLetters();
    expect(letter).toMatchObject({ id: 'c', message: { n: 3 }, attempt: 3 });
    expect(letter!.deadAt).toBeGreaterThan(0);
    expect(await queueNames({ path })).toEqual(['old', 'old.dead']);
  });

  it('declare lists a queue before anything is sent; queueNames lists the queues of the file', async () => {
    const path = tempDb();
    expect(await queueNames({ path })).toEqual([]);
    await open('orders', { path }).declare();
    await open('emails', { path }).pause();
    expect(await queueNames({ path })).toEqual(['emails', 'orders']);
    await expect(queueNames({ path: '' })).rejects.toBeInstanceOf(InvalidOptionError);
  });

  it('recentFailures lists the failed, timed out and cancelled jobs, most recently ended first', async () => {
    const path = tempDb();
    const store = new SqliteJobStore({ path, name: 'failures' });
    stores.push(store);
    const createdAt = Date.now();
    for (const id of ['ok', 'bad', 'slow', 'stopped', 'running']) {
      await store.create({ id, task: 't', args: [], createdAt, status: 'pending' });
      await store.start(id, { id, task: 't', args: [], createdAt, status: 'pending' });
    }
    await store.finish('bad', { status: 'failed', error: { name: 'Error', message: 'boom' } });
    await sleep(5);
    await store.finish('ok', { status: 'success', result: 1 });
    await store.finish('slow', { status: 'timeout' });
    await sleep(5);
    await store.finish('stopped', { status: 'cancelled' });

    const failures = await store.recentFailures();
    expect(failures.map((record) => [record.id, record.status])).toEqual([
      ['stopped', 'cancelled'],
      ['slow', 'timeout'],
      ['bad', 'failed'],
    ]);
    expect(failures[2]!.error).toEqual({ name: 'Error', message: 'boom' });
    expect((await store.recentFailures({ limit: 1 })).map((record) => record.id)).toEqual(['stopped']);
    for (const limit of [0, 1_001, 1.5]) {
      await expect(store.recentFailures({ limit })).rejects.toBeInstanceOf(InvalidOptionError);
    }

    const db = foreign(path);
    try {
      const plan = db.prepare(`EXPLAIN QUERY PLAN ${JOB_SQL.failures}`).all('failures', Date.now(), 20) as {
        detail: string;
      }[];
      expect(plan.map((step) => step.detail).join('\n')).toMatch(
        /USING INDEX sluice_jobs_failures \(store=\?\)$/,
      );
    } finally {
      db.close();
    }
  });
});
