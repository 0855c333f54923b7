/**
 * Flow control on SqliteQueue, what the conformance suite (sqlite-flow.test.ts) cannot see: the
 * limiter's state is rows of the file (a later connection continues from it), a queue that uses no
 * flow control writes none of it, messages with no group (from a file made before groups, or from a
 * program that knows nothing of them) are served as the default group, and the operator face keeps
 * the group column. A second Database on the file stands for another process, as in
 * sqlite-operations.test.ts.
 */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { FlowIterator, FlowLimits } from '../../src/queuing/types.js';
import type { SqliteDelivery, SqliteQueue } from '../../src/transports/sqlite/index.js';
import { type Numbered, statsBecome } from '../conformance/operations-support.js';
import { sleep, stateOf, within } from '../support/async.js';
import { sqliteFiles } from './sqlite-fixture.js';

/** A flow-limited iterator on `queue`, ended by the caller (`return`). */
function limited<T>(queue: SqliteQueue<T>, limits: FlowLimits): FlowIterator<T> {
  const iterator = queue[Symbol.asyncIterator]() as unknown as FlowIterator<T>;
  iterator.flow(limits);
  return iterator;
}

/** The next `count` deliveries of `iterator`, failing after 10 s. */
async function take<T>(iterator: FlowIterator<T>, count: number): Promise<SqliteDelivery<T>[]> {
  const taken: SqliteDelivery<T>[] = [];
  while (taken.length < count) {
    const next = await within(iterator.next(), 10_000, () => `delivery ${taken.length + 1} of ${count}`);
    if (next.done) throw new Error(`iteration ended after ${taken.length} of ${count}`);
    taken.push(next.value as SqliteDelivery<T>);
  }
  return taken;
}

/** Checks that `next` (a pending `next()`) is still pending after `ms`. */
async function stillPending(next: Promise<unknown>, ms: number): Promise<void> {
  await sleep(ms);
  expect(await stateOf(next)).toBe('pending');
}

/** Reads the file on a connection of its own, as another process would. */
function inspect<R>(path: string, read: (db: Database.Database) => R): R {
  const db = new Database(path, { timeout: 5_000 });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

describe('SqliteQueue flow control, SQLite only', () => {
  const { tempDb, open } = sqliteFiles('sqlite-flow-file');

  it('a queue with no group and no limits writes no flow-control state and stores no group', async () => {
    const path = tempDb();
    const queue = open<Numbered>('plain', { path });
    await queue.send({ n: 1 });
    await queue.send({ n: 2 }, { delay: 50 });
    const iterator = queue[Symbol.asyncIterator]();
    for (let i = 0; i < 2; i++) {
      const next = await within(iterator.next(), 10_000, () => 'a delivery');
      await next.value.ack();
    }
    await iterator.return?.();
    inspect(path, (db) => {
      expect(db.prepare('SELECT count(*) FROM sluice_group_turns').pluck().get()).toBe(0);
      expect(db.prepare('SELECT count(*) FROM sluice_rate_log').pluck().get()).toBe(0);
    });
    await queue.send({ n: 3 });
    inspect(path, (db) => {
      expect(db.prepare('SELECT group_name FROM sluice_messages').pluck().all()).toEqual([null]);
    });
  });

  it('the rate window is rows of the file: a later connection waits for the hand-outs of the one before, until the limit is raised', async () => {
    const path = tempDb();
    const rateLimit = { limit: 2, interval: 60_000 };
    const first = open<Numbered>('rated', { path });
    for (const n of [1, 2, 3]) await first.send({ n });
    const iterator = limited(first, { rateLimit });
    const handed = await take(iterator, 2);
    await Promise.all(handed.map((d) => d.ack()));
    await iterator.return?.();
    await first.close(); // the last handle on the file: the next one opens a new connection

    const second = open<Numbered>('rated', { path });
    inspect(path, (db) => {
      expect(db.prepare("SELECT sum(count) FROM sluice_rate_log WHERE queue = 'rated'").pluck().get()).toBe(
        2,
      );
    });
    const waiting = limited(second, { rateLimit });
    const next = waiting.next();
    await stillPending(next, 500);
    waiting.flow({ rateLimit: { limit: 3, interval: 60_000 } }); // applies at the next claim, now
    const third = await within(next, 10_000, () => 'the message the raised limit lets out');
    expect(third.value.message).toEqual({ n: 3 });
    await third.value.ack();
    await waiting.return?.();
  });

  it('the rotation is a row of the file: a later connection serves the group after the one served last', async () => {
    const path = tempDb();
    const first = open<Numbered>('turns', { path });
    for (const [n, group] of [
      [1, 'a'],
      [2, 'a'],
      [3, 'b'],
      [4, 'b'],
    ] as const) {
      await first.send({ n }, { group });
    }
    const iterator = limited(first, { groupConcurrency: 5 });
    const [one] = await take(iterator, 1);
    expect(one).toMatchObject({ message: { n: 1 }, group: 'a' });
    await iterator.return?.(); // before the ack: no claim for a loop expected back
    await one!.ack();
    await first.close();

    const second = open<Numbered>('turns', { path });
    const next = limited(second, { groupConcurrency: 5 });
    const served = await take(next, 3);
    expect(served.map((d) => d.message.n)).toEqual([3, 2, 4]);
    await Promise.all(served.map((d) => d.ack()));
    await next.return?.();
  });

  it('messages with no group column join the default group of a queue that serves groups, from an older file and from a foreign program', async () => {
    const path = tempDb();
    inspect(path, (db) => {
      db.pragma('journal_mode = WAL');
      // The table as sluice made it before groups (and dead-letter times) existed.
      db.exec(`CREATE TABLE sluice_messages (id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL,
        body TEXT NOT NULL, priority REAL NOT NULL DEFAULT 0, ready INTEGER NOT NULL DEFAULT 1,
        run_at INTEGER NOT NULL DEFAULT 0, attempt INTEGER NOT NULL DEFAULT 0, dedup_key TEXT, reason TEXT)`);
      db.prepare('INSERT INTO sluice_messages (queue, body) VALUES (?, ?)').run(
        'mixed',
        '{"id":"old","payload":{"n":1}}',
      );
    });
    const queue = open<Numbered>('mixed', { path });
    await queue.send({ n: 2 }, { group: 'tenant' });
    inspect(path, (db) => {
      // A program following the wire protocol's send, which knows nothing of groups.
      db.prepare('INSERT INTO sluice_messages (queue, body) VALUES (?, ?)').run(
        'mixed',
        '{"payload":{"n":3}}',
      );
      db.prepare("UPDATE sluice_queues SET waiting = waiting + 1 WHERE queue = 'mixed'").run();
    });

    // One out per group at a time: the two rows with no group are one group, the default.
    const iterator = limited(queue, { groupConcurrency: 1 });
    const [a, b] = await take(iterator, 2);
    expect(new Set([a!.message.n, b!.message.n])).toEqual(new Set([1, 2]));
    const third = iterator.next();
    await stillPending(third, 300);
    await (a!.message.n === 1 ? a! : b!).ack();
    const last = await within(third, 10_000, () => 'the default group once its slot is free');
    expect(last.value).toMatchObject({ message: { n: 3 }, group: undefined });
    await Promise.all([last.value.ack(), (a!.message.n === 1 ? b! : a!).ack()]);
    await iterator.return?.();
    inspect(path, (db) => {
      expect(db.prepare("SELECT count(*) FROM sluice_group_turns WHERE queue = 'mixed'").pluck().get()).toBe(
        1,
      );
    });
    await statsBecome(queue, { ready: 0, delayed: 0, inFlight: 0, dead: 0 });
  });

  it('stats count grouped messages, pause holds them, dead letters keep their group column and redrive restores it', async () => {
    const path = tempDb();
    const queue = open<Numbered>('operated', { path, maxAttempts: 1 });
    await queue.send({ n: 1 }, { group: 'g' });
    await queue.send({ n: 2 }, { group: 'h', delay: 60_000 });
    await statsBecome(queue, { ready: 1, delayed: 1, inFlight: 0, dead: 0 });

    await queue.pause();
    const iterator = limited(queue, { groupConcurrency: 1 });
    const first = iterator.next();
    await stillPending(first, 300);
    await queue.resume();
    const delivery = (await within(first, 10_000, () => 'the message once resumed'))
      .value as SqliteDelivery<Numbered>;
    await statsBecome(queue, { ready: 0, delayed: 1, inFlight: 1, dead: 0 });
    await delivery.nack(); // its last attempt: dead-lettered
    await iterator.return?.();
    await statsBecome(queue, { ready: 0, delayed: 1, inFlight: 0, dead: 1 });
    const groupOf = (name: string) =>
      inspect(path, (db) =>
        db.prepare('SELECT group_name FROM sluice_messages WHERE queue = ?').pluck().all(name),
      );
    expect(groupOf('operated.dead')).toEqual(['g']);

    expect(await queue.redrive()).toBe(1);
    expect(groupOf('operated')).toEqual(expect.arrayContaining(['g', 'h']));
    const again = limited(queue, { groupConcurrency: 1 });
    const [redriven] = await take(again, 1);
    expect(redriven).toMatchObject({ message: { n: 1 }, group: 'g', attempt: 1 });
    await redriven!.ack();
    await again.return?.();

    expect(await queue.purge()).toBe(1); // the delayed one of group h
    await statsBecome(queue, { ready: 0, delayed: 0, inFlight: 0, dead: 0 });
  });
});
