/**
 * The SQLite wire protocol (docs/wire-protocol.md (SQLite)) spoken by a program that is not sluice:
 * better-sqlite3 used directly, running the document's statements word for word (the first test
 * checks that each one is in the document), on a file a SqliteQueue shares.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteQueue, type SqliteQueueOptions } from '../../src/transports/sqlite/index.js';
import { sleep } from '../support/async.js';
import { expectNothing, receive } from '../support/deliveries.js';

/** The document's statements, as a foreign program runs them. */
const SQL = {
  walMode: 'PRAGMA journal_mode = WAL;',
  createTable: `CREATE TABLE IF NOT EXISTS sluice_messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL,
  body TEXT NOT NULL,
  priority REAL NOT NULL DEFAULT 0,
  ready INTEGER NOT NULL DEFAULT 1,
  run_at INTEGER NOT NULL DEFAULT 0,
  attempt INTEGER NOT NULL DEFAULT 0,
  dedup_key TEXT,
  reason TEXT,
  dead_at INTEGER,
  dead_attempt INTEGER
);
CREATE INDEX IF NOT EXISTS sluice_messages_ready ON sluice_messages (queue, ready, priority DESC, id);
CREATE INDEX IF NOT EXISTS sluice_messages_due ON sluice_messages (queue, run_at) WHERE ready = 0;
CREATE UNIQUE INDEX IF NOT EXISTS sluice_messages_key ON sluice_messages (queue, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS sluice_queues (
  queue TEXT PRIMARY KEY,
  waiting INTEGER NOT NULL DEFAULT 0,
  leased INTEGER NOT NULL DEFAULT 0,
  delayed INTEGER NOT NULL DEFAULT 0,
  paused INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO sluice_queues (queue, waiting, leased, delayed)
  SELECT queue, sum(ready = 1 AND run_at = 0), sum(ready = 1 AND run_at > 0), sum(ready = 0) FROM sluice_messages
  WHERE NOT EXISTS (SELECT 1 FROM sluice_queues) GROUP BY queue;`,
  busyTimeout: 'PRAGMA busy_timeout = 5000',
  send: `INSERT INTO sluice_messages (queue, body, priority, ready, run_at, dedup_key)
VALUES (:queue, :body, :priority, :ready, :run_at, :key)
ON CONFLICT (queue, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING;`,
  sendCount: `INSERT INTO sluice_queues (queue, waiting, delayed) VALUES (:queue, changes() * :ready, changes() * (1 - :ready))
ON CONFLICT (queue) DO UPDATE SET waiting = waiting + excluded.waiting, delayed = delayed + excluded.delayed;`,
  promote:
    'UPDATE sluice_messages SET ready = 1, run_at = 0 WHERE queue = :queue AND ready = 0 AND run_at <= :now;',
  promoteCount:
    'UPDATE sluice_queues SET waiting = waiting + changes(), delayed = delayed - changes() WHERE queue = :queue;',
  select: `SELECT id, body, attempt + 1 AS attempt, reason, run_at > 0 AS lease_expired FROM sluice_messages
  WHERE queue = :queue AND ready = 1 AND run_at <= :now
    AND NOT EXISTS (SELECT 1 FROM sluice_queues WHERE queue = :queue AND paused = 1)
  ORDER BY priority DESC, id LIMIT :n;`,
  lease: 'UPDATE sluice_messages SET run_at = :now + :lease, attempt = attempt + 1 WHERE id = :id;',
  leaseCount:
    'UPDATE sluice_queues SET waiting = waiting - :fresh, leased = leased + :fresh WHERE queue = :queue;',
  ack: 'DELETE FROM sluice_messages WHERE id = :id AND attempt = :attempt;',
  ackCount: 'UPDATE sluice_queues SET leased = leased - changes() WHERE queue = :queue;',
  retry: 'UPDATE sluice_messages SET ready = :ready, run_at = :run_at WHERE id = :id AND attempt = :attempt;',
  retryCount: `UPDATE sluice_queues SET leased = leased - changes(), waiting = waiting + changes() * :ready,
  delayed = delayed + changes() * (1 - :ready) WHERE queue = :queue;`,
  giveBack:
    'UPDATE sluice_messages SET run_at = 0, attempt = attempt - 1 WHERE id = :id AND attempt = :attempt;',
  giveBackCount:
    'UPDATE sluice_queues SET leased = leased - changes(), waiting = waiting + changes() WHERE queue = :queue;',
  deadCopy: `INSERT INTO sluice_messages (queue, body, priority, reason, dead_at, dead_attempt)
  SELECT :dead_letter_queue, body, priority, :reason, :now, attempt FROM sluice_messages
  WHERE id = :id AND attempt = :attempt;`,
  deadCopyCount: `INSERT INTO sluice_queues (queue, waiting) VALUES (:dead_letter_queue, changes())
  ON CONFLICT (queue) DO UPDATE SET waiting = waiting + excluded.waiting;`,
  deadDelete: 'DELETE FROM sluice_messages WHERE id = :id AND attempt = :attempt;',
} as const;

interface Claim {
  queue: string;
  id: number;
  body: string;
  attempt: number;
  reason: string | null;
  lease_expired: 0 | 1;
}

/** A program in "another language": plain SQL on its own connection, nothing from sluice. */
class Foreign {
  readonly db: Database.Database;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.exec(SQL.walMode);
    this.db.pragma(SQL.busyTimeout.replace('PRAGMA ', ''));
    this.db.transaction(() => this.db.exec(SQL.createTable)).immediate();
  }

  /** Inserts a message: its row id, or undefined when its key is held (nothing stored). */
  send(
    queue: string,
    body: string,
    { priority = 0, delay = 0, key = null as string | null } = {},
  ): number | undefined {
    const [ready, run_at] = delay > 0 ? [0, Date.now() + delay] : [1, 0];
    return this.#write(() => {
      const { changes, lastInsertRowid } = this.db
        .prepare(SQL.send)
        .run({ queue, body, priority, ready, run_at, key });
      this.db.prepare(SQL.sendCount).run({ queue, ready });
      return changes === 1 ? Number(lastInsertRowid) : undefined;
    });
  }

  claim(queue: string, n: number, lease = 30_000): Claim[] {
    const now = Date.now();
    return this.#write(() => {
      this.db.prepare(SQL.promote).run({ queue, now });
      this.db.prepare(SQL.promoteCount).run({ queue });
      const rows = this.db.prepare(SQL.select).all({ queue, now, n }) as Omit<Claim, 'queue'>[];
      const leaseRow = this.db.prepare(SQL.lease);
      for (const row of rows) leaseRow.run({ now, lease, id: row.id });
      const fresh = rows.filter((row) => row.lease_expired === 0).length;
      this.db.prepare(SQL.leaseCount).run({ queue, fresh });
      return rows.map((row) => ({ ...row, queue }));
    });
  }

  ack({ queue, id, attempt }: Claim): number {
    return this.#write(() => {
      const { changes } = this.db.prepare(SQL.ack).run({ id, attempt });
      this.db.prepare(SQL.ackCount).run({ queue });
      return changes;
    });
  }

  retry({ queue, id, attempt }: Claim, delay: number): number {
    const [ready, run_at] = delay > 0 ? [0, Date.now() + delay] : [1, 0];
    return this.#write(() => {
      const { changes } = this.db.prepare(SQL.retry).run({ ready, run_at, id, attempt });
      this.db.prepare(SQL.retryCount).run({ queue, ready });
      return changes;
    });
  }

  giveBack({ queue, id, attempt }: Claim): number {
    return this.#write(() => {
      const { changes } = this.db.prepare(SQL.giveBack).run({ id, attempt });
      this.db.prepare(SQL.giveBackCount).run({ queue });
      return changes;
    });
  }

  deadLetter({ queue, id, attempt }: Claim, dead_letter_queue: string, reason: string): void {
    this.#write(() => {
      this.db.prepare(SQL.deadCopy).run({ dead_letter_queue, reason, now: Date.now(), id, attempt });
      this.db.prepare(SQL.deadCopyCount).run({ dead_letter_queue });
      this.db.prepare(SQL.deadDelete).run({ id, attempt });
      this.db.prepare(SQL.ackCount).run({ queue });
    });
  }

  /** Every write in one IMMEDIATE transaction with its counts, as the document says. */
  #write<R>(write: () => R): R {
    return this.db.transaction(write).immediate();
  }
}

const files: string[] = [];
const closers: (() => unknown)[] = [];

function tempDb(): string {
  const path = join(tmpdir(), `sluice-interop-sqlite-${process.pid}-${randomUUID()}.db`);
  files.push(path);
  return path;
}

function foreign(path: string): Foreign {
  const program = new Foreign(path);
  closers.push(() => program.db.close());
  return program;
}

function open<T>(name: string, options: SqliteQueueOptions<T>): SqliteQueue<T> {
  const queue = new SqliteQueue<T>(name, { pollInterval: 20, ...options });
  closers.push(() => queue.close());
  return queue;
}

/** Claims one row of `queue` as soon as there is one, for up to `ms`. */
async function claimSoon(program: Foreign, queue: string, ms = 5_000): Promise<Claim> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(20)) {
    const [claim] = program.claim(queue, 1);
    if (claim !== undefined) return claim;
  }
  throw new Error(`nothing to claim in ${queue} after ${ms} ms`);
}

function rowsLeft(program: Foreign, queue: string): number {
  return (
    program.db.prepare('SELECT count(*) AS n FROM sluice_messages WHERE queue = ?').get(queue) as {
      n: number;
    }
  ).n;
}

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  for (const path of files.splice(0)) {
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
  }
});

describe('SQLite wire protocol', () => {
  it('every statement run here is the one the document gives', () => {
    const docs = readFileSync(new URL('../../docs/wire-protocol.md', import.meta.url), 'utf8');
    const squeeze = (text: string) => text.replace(/\s+/g, ' ').trim();
    for (const [name, statement] of Object.entries(SQL)) {
      expect(squeeze(docs), name).toContain(squeeze(statement));
    }
  });

  describe('a foreign producer, a sluice consumer', () => {
    it('a payload-only envelope is named by its row id on every redelivery and on its dead-letter copy', async () => {
      const path = tempDb();
      const program = foreign(path);
      const rowId = String(program.send('orders', JSON.stringify({ payload: { n: 1 } })));
      const queue = open<{ n: number }>('orders', { path, backoff: { type: 'fixed', delay: 1 } });
      const [first] = await receive(queue);
      expect([first!.message, first!.id, first!.headers, first!.attempt]).toEqual([{ n: 1 }, rowId, {}, 1]);
      await first!.nack();
      const [second] = await receive(queue);
      expect([second!.id, second!.attempt]).toEqual([rowId, 2]);
      await second!.nack({ requeue: false, error: new TypeError('no such sku') });

      const [dead] = await receive(open<{ n: number }>('orders.dead', { path }));
      expect([dead!.message, dead!.id, dead!.deadLetterReason]).toEqual([
        { n: 1 },
        rowId,
        'rejected: TypeError: no such sku',
      ]);
      await dead!.ack();
      expect([rowsLeft(program, 'orders'), rowsLeft(program, 'orders.dead')]).toEqual([0, 0]);
    });

    it('a full envelope keeps its id and headers; two messages with one id are both delivered', async () => {
      const path = tempDb();
      const program = foreign(path);
      const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const envelope = (n: number) =>
        JSON.stringify({
          id: 'py-1',
          type: 'orders.place',
          attempt: 1,
          headers: { traceparent },
          payload: { type: 'orders.place', payload: { n } },
        });
      program.send('orders', envelope(1));
      program.send('orders', envelope(2));
      const queue = open<{ payload: { n: number } }>('orders', { path });
      const deliveries = await receive(queue, 2);
      expect(deliveries.map((d) => [d.message.payload.n, d.id, d.headers])).toEqual([
        [1, 'py-1', { traceparent }],
        [2, 'py-1', { traceparent }],
      ]);
      await Promise.all(deliveries.map((d) => d.ack()));
      expect(rowsLeft(program, 'orders')).toBe(0);
    });

    it('a body that is not an envelope is dead-lettered with its reason, never handed out', async () => {
      const path = tempDb();
      const program = foreign(path);
      const notJson = program.send('orders', 'not json {');
      program.send('orders', JSON.stringify({ payload: 'fine' }));
      const badAttempt = program.send('orders', JSON.stringify({ attempt: 0, payload: 'bad attempt' }));
      const queue = open<string>('orders', { path });
      const [delivery] = await receive(queue);
      expect(delivery!.message).toBe('fine');
      await delivery!.ack();
      await expectNothing(queue, 200);
      const wrapped = (id: number | undefined, payload: string) =>
        JSON.stringify({ id: String(id), type: null, attempt: 1, headers: {}, payload });
      const stored = program.db
        .prepare("SELECT body FROM sluice_messages WHERE queue = 'orders.dead' ORDER BY id")
        .pluck()
        .all();
      expect(stored).toEqual([
        wrapped(notJson, 'not json {'),
        wrapped(badAttempt, '{"attempt":0,"payload":"bad attempt"}'),
      ]);

      const dead = await receive(open<string>('orders.dead', { path }), 2);
      expect(dead.map((d) => d.message)).toEqual(['not json {', '{"attempt":0,"payload":"bad attempt"}']);
      expect(dead.map((d) => d.deadLetterReason)).toEqual([
        expect.stringMatching(/^undecodable body: .*JSON/),
        'undecodable body: attempt 0 is not an integer ≥ 1',
      ]);
      await Promise.all(dead.map((d) => d.ack()));
    });

    it('a priority overtakes, a delay waits its time, a held key stores nothing', async () => {
      const path = tempDb();
      const program = foreign(path);
      const body = (n: number) => JSON.stringify({ payload: { n } });
      const sentAt = Date.now();
      expect(program.send('orders', body(1), { delay: 300 })).toBeDefined();
      expect(program.send('orders', body(2))).toBeDefined();
      expect(program.send('orders', body(3), { priority: 5, key: 'k' })).toBeDefined();
      expect(program.send('orders', body(4), { key: 'k' })).toBeUndefined();
      const queue = open<{ n: number }>('orders', { path });
      await queue.send({ n: 5 }, { key: 'k' }); // held by the foreign message: accepted, not stored
      const first = await receive(queue, 2);
      expect(first.map((d) => [d.message.n, d.attempt])).toEqual([
        [3, 1],
        [2, 1],
      ]);
      await Promise.all(first.map((d) => d.ack()));
      const [delayed] = await receive(queue);
      expect([delayed!.message.n, delayed!.attempt]).toEqual([1, 1]);
      expect(Date.now() - sentAt).toBeGreaterThanOrEqual(300);
      await delayed!.ack();
      expect(program.send('orders', body(6), { key: 'k' })).toBeDefined(); // the ack freed it
      const [last] = await receive(queue);
      expect(last!.message.n).toBe(6);
      await last!.ack();
      expect(rowsLeft(program, 'orders')).toBe(0);
    });
  });

  describe('a sluice producer, a foreign consumer', () => {
    it('claims in priority order, reaches a delayed message when due, acks, and frees the key', async () => {
      const path = tempDb();
      const queue = open<{ n: number }>('orders', { path });
      const program = foreign(path);
      await queue.send({ n: 1 }, { delay: 200 });
      await queue.send({ n: 2 }, { key: 'k' });
      await queue.send({ n: 3 }, { priority: 7 });
      await queue.send({ n: 4 }, { key: 'k' }); // held: not stored

      const claims = program.claim('orders', 10);
      const decoded = claims.map((c) => JSON.parse(c.body) as { id: string; payload: { n: number } });
      expect(decoded.map((e) => e.payload.n)).toEqual([3, 2]);
      expect(decoded.every((e) => typeof e.id === 'string' && e.id.length > 0)).toBe(true);
      expect(claims.map((c) => c.attempt)).toEqual([1, 1]);
      expect(claims.map((c) => program.ack(c))).toEqual([1, 1]);
      expect(program.send('orders', JSON.stringify({ payload: { n: 5 } }), { key: 'k' })).toBeDefined();

      await sleep(250);
      const later = program.claim('orders', 10);
      expect(later.map((c) => (JSON.parse(c.body) as { payload: { n: number } }).payload.n)).toEqual([1, 5]);
      for (const claim of later) program.ack(claim);
      expect(rowsLeft(program, 'orders')).toBe(0);
    });

    it('a nack retries with the attempt counted; a lapsed lease goes to the next consumer; a late ack changes nothing', async () => {
      const path = tempDb();
      const queue = open<{ n: number }>('orders', { path });
      const program = foreign(path);
      await queue.send({ n: 1 });
      const [first] = program.claim('orders', 1);
      expect(program.retry(first!, 0)).toBe(1);
      const [second] = program.claim('orders', 1);
      expect(second!.attempt).toBe(2);
      expect(program.giveBack(second!)).toBe(1); // not worked on: not an attempt
      const [third] = program.claim('orders', 1, 50); // and then never settled
      expect([second!.lease_expired, third!.attempt, third!.lease_expired]).toEqual([0, 2, 0]);

      const [delivery] = await receive(queue); // once the lease ended
      expect([delivery!.message, delivery!.attempt]).toEqual([{ n: 1 }, 3]);
      expect(program.ack(third!)).toBe(0);
      await delivery!.ack();
      expect(rowsLeft(program, 'orders')).toBe(0);
    });

    it('a lapsed lease shows on the next claim; sluice dead-letters a last attempt never settled, freeing its key', async () => {
      const path = tempDb();
      const queue = open<{ n: number }>('orders', { path, maxAttempts: 2 });
      const program = foreign(path);
      await queue.send({ n: 1 }, { key: 'k' });
      const [first] = program.claim('orders', 1, 50); // never settled
      await sleep(80);
      const [second] = program.claim('orders', 1, 50); // nor this, the last attempt
      expect([first!.attempt, first!.lease_expired, second!.attempt, second!.lease_expired]).toEqual([
        1, 0, 2, 1,
      ]);
      await sleep(80);

      const iterator = queue[Symbol.asyncIterator]();
      const pending = iterator.next(); // claims it a third time, and dead-letters it instead
      const deadLetter = await claimSoon(program, 'orders.dead');
      expect([
        JSON.parse(deadLetter.body).payload,
        JSON.parse(deadLetter.body).id,
        deadLetter.reason,
      ]).toEqual([
        { n: 1 },
        JSON.parse(first!.body).id,
        'failed 2 of 2 attempts: not settled: its consumer stopped or its lease ran out',
      ]);
      expect(program.ack(deadLetter)).toBe(1);
      expect(program.send('orders', JSON.stringify({ payload: { n: 2 } }), { key: 'k' })).toBeDefined();
      const next = await pending;
      expect([next.value!.message, next.value!.attempt]).toEqual([{ n: 2 }, 1]);
      await next.value!.ack();
      await iterator.return?.();
      expect([rowsLeft(program, 'orders'), rowsLeft(program, 'orders.dead')]).toEqual([0, 0]);
    });

    it('dead-letters with a reason a sluice consumer reads, and reads what sluice dead-lettered', async () => {
      const path = tempDb();
      const queue = open<{ n: number }>('orders', { path, maxAttempts: 1 });
      const program = foreign(path);
      await queue.send({ n: 1 });
      const [claim] = program.claim('orders', 1);
      program.deadLetter(claim!, 'orders.dead', 'rejected: KeyError: sku');
      const [dead] = await receive(open<{ n: number }>('orders.dead', { path }));
      expect([dead!.message, dead!.id, dead!.deadLetterReason]).toEqual([
        { n: 1 },
        JSON.parse(claim!.body).id,
        'rejected: KeyError: sku',
      ]);
      await dead!.ack();

      await queue.send({ n: 2 });
      const [delivery] = await receive(queue);
      await delivery!.nack({ error: new Error('card declined') });
      const [deadLetter] = program.claim('orders.dead', 10);
      expect([
        JSON.parse(deadLetter!.body).payload,
        JSON.parse(deadLetter!.body).id,
        deadLetter!.reason,
      ]).toEqual([{ n: 2 }, delivery!.id, 'failed 1 of 1 attempts: card declined']);
      program.ack(deadLetter!);
      expect([rowsLeft(program, 'orders'), rowsLeft(program, 'orders.dead')]).toEqual([0, 0]);
    });
  });
});
