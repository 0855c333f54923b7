/**
 * PostgreSQL wire protocol v1 (docs/wire-protocol.md (PostgreSQL)) against a client that is not sluice:
 * Debian's Python with psycopg2 (postgres/wire.py), running the document's SQL as written there.
 * The Python side creates the schema from the document's script; every test counts its messages
 * in and out, and ends with nothing left in its queues.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PostgresQueue, type PostgresQueueOptions } from '../../src/transports/postgres/index.js';
import { within } from '../support/async.js';
import { brokerAvailable } from '../support/broker.js';
import { receive } from '../support/deliveries.js';
import { pythonModuleAvailable, runPython } from '../support/python.js';
import { adminPool, lockPostgres, url } from '../transports/postgres-harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const up =
  (await brokerAvailable('postgres')) && (await pythonModuleAvailable('psycopg2', 'python3-psycopg2'));
const client = readFileSync(join(here, 'postgres', 'wire.py'), 'utf8');

/** The document's statements, marked `<!-- postgres:<name> -->`, written for `dbSchema`. */
function documentedStatements(dbSchema: string): Record<string, string> {
  const text = readFileSync(join(here, '..', '..', 'docs', 'wire-protocol.md'), 'utf8');
  const statements: Record<string, string> = {};
  for (const [, name, sql] of text.matchAll(/<!-- postgres:([\w-]+) -->\n```sql\n([\s\S]*?)```/g)) {
    statements[name!] = sql!.replace(/\bsluice\b/g, dbSchema);
  }
  return statements;
}

interface ClaimedRow {
  id: string;
  attempt: number;
  body: string;
  reason: string | null;
  lease_expired: boolean;
}

interface Numbered {
  n: number;
}

describe.runIf(up)('PostgreSQL wire protocol with a foreign client (Python psycopg2)', () => {
  const suffix = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const dbSchema = `sluice_interop_${suffix}`;
  const statements = documentedStatements(dbSchema);
  const opened: PostgresQueue<unknown>[] = [];
  let unlock: () => Promise<void>;

  /** Runs operations in one Python process (see wire.py); resolves with their results. */
  async function foreign(...operations: Record<string, unknown>[]): Promise<any[]> {
    const { stdout } = await runPython(client, [url, JSON.stringify(statements), JSON.stringify(operations)]);
    return JSON.parse(stdout);
  }

  /** Claims until `count` rows came from `queue`, acking each (see wire.py). */
  async function consume(queue: string, count: number): Promise<ClaimedRow[]> {
    const [claimed] = await foreign({ op: 'consume', queue, count });
    return claimed;
  }

  /** Claims at most `limit` ready rows of `queue`, leased for `lease` ms, and leaves them unsettled. */
  async function claim(queue: string, limit: number, lease = 30_000): Promise<ClaimedRow[]> {
    const [claimed] = await foreign({ op: 'claim', queue, limit, lease });
    return claimed;
  }

  function open<T>(name: string, options: Partial<PostgresQueueOptions<T>> = {}): PostgresQueue<T> {
    const queue = new PostgresQueue<T>(name, { url, dbSchema, ...options });
    opened.push(queue as PostgresQueue<unknown>);
    return queue;
  }

  let counter = 0;
  function queueName(label: string): string {
    return `interop-${label}-${counter++}`;
  }

  const envelope = (payload: unknown, fields: Record<string, unknown> = {}) =>
    JSON.stringify({ ...fields, payload });

  async function rows(queue: string): Promise<number> {
    const { rows } = await adminPool().query(
      `SELECT count(*)::int AS n FROM ${dbSchema}.messages WHERE queue = $1`,
      [queue],
    );
    return rows[0].n;
  }

  beforeAll(async () => {
    unlock = await lockPostgres(); // no server restart from the durable suite while these run
    await foreign({ op: 'ddl' }); // the topology, created by the foreign side from the document
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((queue) => queue.close()));
    // Nothing lost, nothing left over: every test settles every message it sent.
    const { rows: left } = await adminPool().query(
      `DELETE FROM ${dbSchema}.messages RETURNING queue, body, reason`,
    );
    expect(left).toEqual([]);
  });

  afterAll(async () => {
    await adminPool().query(`DROP SCHEMA IF EXISTS ${dbSchema} CASCADE`);
    await unlock?.();
  });

  describe('the schema', () => {
    it('the document builds what sluice migrations build, and sluice then finds nothing to migrate', async () => {
      const reference = `sluice_interop_ref_${suffix}`;
      try {
        expect(Object.keys(statements).sort()).toEqual([
          'ack',
          'claim',
          'ddl',
          'dead-letter',
          'listen',
          'nack',
          'send',
        ]);
        await open('m', { dbSchema: reference }).migrate();
        const built = await catalog(reference);
        expect(built).toHaveLength(50); // 24 columns, 11 indexes, 10 functions, 5 triggers
        expect(await catalog(dbSchema)).toEqual(built);
        await open('m').migrate(); // on the document's schema: a no-op
        const { rows: versions } = await adminPool().query(
          `SELECT version FROM ${dbSchema}.schema_version ORDER BY version`,
        );
        expect(versions).toEqual([1, 2, 3, 4, 5, 6, 7].map((version) => ({ version })));
      } finally {
        await adminPool().query(`DROP SCHEMA IF EXISTS ${reference} CASCADE`);
      }
    });
  });

  describe('foreign producer → sluice consumer', () => {
    it('delivers a payload-only envelope, named by its row id', async () => {
      const name = queueName('payload-only');
      const [rowId] = await foreign({ op: 'send', queue: name, body: envelope({ n: 1 }) });
      const [delivery] = await receive(open<Numbered>(name), 1);
      expect(delivery).toMatchObject({ message: { n: 1 }, attempt: 1, id: rowId, headers: {} });
      expect(delivery!.deadLetterReason).toBeUndefined();
      await delivery!.ack();
    });

    it('delivers a full envelope: its id and headers arrive, its attempt is the row’s', async () => {
      const name = queueName('full');
      const body = envelope(
        { type: 'orders.place', sku: 'A-1' },
        { id: 'py-1', type: 'orders.place', attempt: 7, headers: { traceparent: '00-4bf9-00f0-01' } },
      );
      await foreign({ op: 'send', queue: name, body });
      const queue = open<{ sku: string }>(name);
      const [first] = await receive(queue, 1);
      expect(first).toMatchObject({
        message: { type: 'orders.place', sku: 'A-1' },
        attempt: 1,
        id: 'py-1',
        headers: { traceparent: '00-4bf9-00f0-01' },
      });
      await first!.nack({ requeue: true });
      const [again] = await receive(queue, 1);
      expect(again).toMatchObject({ attempt: 2, id: 'py-1', headers: { traceparent: '00-4bf9-00f0-01' } });
      await again!.ack();
    });

    it('dead-letters a body that is not JSON with its reason, and the foreign side reads it there', async () => {
      const name = queueName('not-json');
      const [rowId] = await foreign(
        { op: 'send', queue: name, body: 'PLAIN TEXT, NOT JSON' },
        { op: 'send', queue: name, body: envelope({ n: 2 }) },
      );
      const [delivery] = await receive(open<Numbered>(name), 1);
      expect(delivery!.message).toEqual({ n: 2 }); // the first was never handed out
      await delivery!.ack();
      const [dead] = await consume(`${name}.dead`, 1);
      expect(dead!.reason).toMatch(/^undecodable body: /);
      expect(JSON.parse(dead!.body)).toEqual({
        id: rowId,
        type: null,
        attempt: 1,
        headers: {},
        payload: 'PLAIN TEXT, NOT JSON',
      });
    });

    it('delivers higher priorities first, any number', async () => {
      const name = queueName('priority');
      const priorities = [0, 5, -3, 10.5, 5];
      await foreign(
        ...priorities.map((priority, n) => ({ op: 'send', queue: name, body: envelope({ n }), priority })),
      );
      const deliveries = await receive(open<Numbered>(name), priorities.length);
      expect(deliveries.map((d) => d.message.n)).toEqual([3, 1, 4, 0, 2]);
      await Promise.all(deliveries.map((d) => d.ack()));
    });

    it('holds a delayed message until its time, and not the others', async () => {
      const name = queueName('delay');
      const queue = open<Numbered>(name);
      const sentAt = Date.now();
      await foreign(
        { op: 'send', queue: name, body: envelope({ n: 1 }), delay: 1_500 },
        { op: 'send', queue: name, body: envelope({ n: 2 }) },
      );
      const iterator = queue[Symbol.asyncIterator]();
      const first = await within(iterator.next(), 5_000);
      expect(first.value!.message).toEqual({ n: 2 });
      await first.value!.ack();
      const second = await within(iterator.next(), 10_000);
      expect([second.value!.message, second.value!.attempt]).toEqual([{ n: 1 }, 1]);
      expect(Date.now() - sentAt).toBeGreaterThanOrEqual(1_400);
      await second.value!.ack();
      await iterator.return?.();
    });

    it('delivers two messages that reuse one id, both, each under that id', async () => {
      const name = queueName('reused-id');
      const body = (n: number) => envelope({ n }, { id: 'same-id' });
      await foreign({ op: 'send', queue: name, body: body(1) }, { op: 'send', queue: name, body: body(2) });
      const deliveries = await receive(open<Numbered>(name), 2);
      expect(deliveries.map((d) => [d.message.n, d.id])).toEqual([
        [1, 'same-id'],
        [2, 'same-id'],
      ]);
      await Promise.all(deliveries.map((d) => d.ack()));
    });

    it('wakes a waiting sluice consumer at once: the insert trigger notifies', async () => {
      const name = queueName('wake');
      const queue = open<Numbered>(name);
      const iterator = queue[Symbol.asyncIterator]();
      const pending = iterator.next(); // the queue is empty: the consumer goes idle on LISTEN
      await new Promise((resolve) => setTimeout(resolve, 500));
      const [, committedAt] = await foreign(
        { op: 'send', queue: name, body: envelope({ n: 1 }) },
        { op: 'now' },
      );
      const delivered = await within(pending, 5_000);
      // The fallback poll is 5 s; a notification takes milliseconds.
      expect(Date.now() - committedAt).toBeLessThan(1_000);
      await delivered.value!.ack();
      await iterator.return?.();
    });
  });

  describe('sluice producer → foreign consumer', () => {
    it('the foreign side claims, reads and acks every message; the keys are then free', async () => {
      const name = queueName('to-foreign');
      const queue = open<Numbered>(name);
      await Promise.all([1, 2, 3].map((n) => queue.send({ n }, { key: `k${n}` })));
      await queue.send({ n: 4 }, { key: 'k1' }); // held: nothing stored
      expect(await rows(name)).toBe(3);
      const claimed = await consume(name, 3);
      expect(claimed!.map((row) => [JSON.parse(row.body).payload, row.attempt])).toEqual([
        [{ n: 1 }, 1],
        [{ n: 2 }, 1],
        [{ n: 3 }, 1],
      ]);
      expect(new Set(claimed!.map((row) => JSON.parse(row.body).id)).size).toBe(3);
      expect(await rows(name)).toBe(0);

      await queue.send({ n: 5 }, { key: 'k1' }); // acked by the foreign side: the key is free
      const [again] = await foreign({ op: 'send', queue: name, body: envelope({ n: 6 }), key: 'k1' });
      expect(again).toBeNull(); // and held again, for a foreign sender too
      const [fifth] = await consume(name, 1);
      expect(JSON.parse(fifth!.body).payload).toEqual({ n: 5 });
    });

    it('priorities and delays are reachable: claims come in priority order, a delayed row when due', async () => {
      const name = queueName('foreign-order');
      const queue = open<Numbered>(name);
      await queue.send({ n: 1 }, { priority: 1 });
      await queue.send({ n: 2 }, { priority: 9 });
      await queue.send({ n: 3 }, { delay: 1_000, priority: 100 });
      await queue.send({ n: 4 });
      const now = await claim(name, 10);
      const later = await consume(name, 1);
      expect(now.map((row) => JSON.parse(row.body).payload.n)).toEqual([2, 1, 4]);
      expect(later.map((row) => JSON.parse(row.body).payload.n)).toEqual([3]);
      await foreign(...now.map((row) => ({ op: 'ack', id: row.id, attempt: row.attempt })));
    });

    it('a foreign nack puts the message back: sluice receives it with attempt + 1, same id, woken at once', async () => {
      const name = queueName('foreign-nack');
      const queue = open<Numbered>(name);
      await queue.send({ n: 1 });
      const [row] = await claim(name, 1);
      const iterator = queue[Symbol.asyncIterator]();
      const pending = iterator.next(); // idle: its earliest row is leased for 30 s
      await new Promise((resolve) => setTimeout(resolve, 500));
      const [settled, nackedAt] = await foreign(
        { op: 'nack', id: row!.id, attempt: row!.attempt, delay: 0 },
        { op: 'now' },
      );
      expect(settled).toBe(1);
      const delivered = (await within(pending, 5_000)).value!;
      expect(Date.now() - nackedAt).toBeLessThan(1_000);
      expect([delivered.message, delivered.attempt, delivered.id]).toEqual([
        { n: 1 },
        2,
        JSON.parse(row!.body).id,
      ]);
      // The first claim is no longer the foreign side's: settling it again changes nothing.
      expect(await foreign({ op: 'ack', id: row!.id, attempt: row!.attempt })).toEqual([0]);
      await delivered.ack();
      await iterator.return?.();
    });

    it('a foreign dead-letter moves the message with its reason and frees its key', async () => {
      const name = queueName('foreign-dead');
      const queue = open<Numbered>(name);
      await queue.send({ n: 1 }, { key: 'k' });
      const [row] = await claim(name, 1);
      const reason = 'failed 1 of 1 attempts: KeyError: sku';
      const [settled] = await foreign({
        op: 'dead-letter',
        id: row!.id,
        attempt: row!.attempt,
        queue: `${name}.dead`,
        reason,
      });
      expect(settled).toBe(1);
      await queue.send({ n: 2 }, { key: 'k' });
      expect(await rows(name)).toBe(1);
      const [second] = await receive(queue, 1);
      expect(second!.message).toEqual({ n: 2 });
      await second!.ack();
      const [deadLetter] = await receive(open<Numbered>(`${name}.dead`), 1);
      expect([deadLetter!.message, deadLetter!.id, deadLetter!.deadLetterReason]).toEqual([
        { n: 1 },
        JSON.parse(row!.body).id,
        reason,
      ]);
      await deadLetter!.ack();
    });

    it('the foreign side reads what sluice dead-lettered, with its reason', async () => {
      const name = queueName('read-dead');
      const queue = open<Numbered>(name, { maxAttempts: 1 });
      await queue.send({ n: 1 });
      await queue.send({ n: 2 });
      const [first, second] = await receive(queue, 2);
      await first!.nack({ requeue: false, error: new RangeError('no such sku') });
      await second!.nack({ error: new Error('card declined') });
      const dead = await consume(`${name}.dead`, 2);
      expect(dead!.map((row) => [JSON.parse(row.body).payload, JSON.parse(row.body).id, row.reason])).toEqual(
        [
          [{ n: 1 }, first!.id, 'rejected: RangeError: no such sku'],
          [{ n: 2 }, second!.id, 'failed 1 of 1 attempts: card declined'],
        ],
      );
    });

    it('a foreign consumer that never settles cannot hold a key for ever', async () => {
      const name = queueName('lease');
      const queue = open<Numbered>(name, { maxAttempts: 2, visibilityTimeout: 300 });
      await queue.send({ n: 1 }, { key: 'k' });
      // It claims with a short lease and walks away, twice: the last attempt's lease runs out.
      const [first, , second]: ClaimedRow[][] = await foreign(
        { op: 'claim', queue: name, limit: 1, lease: 200 },
        { op: 'sleep', ms: 300 },
        { op: 'claim', queue: name, limit: 1, lease: 200 },
        { op: 'sleep', ms: 300 },
      );
      expect([first![0]!.attempt, second![0]!.attempt, second![0]!.lease_expired]).toEqual([1, 2, true]);
      // A sluice consumer claims it a third time and dead-letters it: the key is free again.
      const iterator = queue[Symbol.asyncIterator]();
      const pending = iterator.next();
      const [deadLetter] = await receive(open<Numbered>(`${name}.dead`), 1, 10_000);
      expect(deadLetter!.message).toEqual({ n: 1 });
      expect(deadLetter!.deadLetterReason).toBe(
        'failed 2 of 2 attempts: not settled: its consumer stopped or its lease ran out',
      );
      await deadLetter!.ack();
      await queue.send({ n: 2 }, { key: 'k' });
      const delivered = (await within(pending, 5_000)).value!;
      expect([delivered.message, delivered.attempt]).toEqual([{ n: 2 }, 1]);
      await delivered.ack();
      await iterator.return?.();
    });
  });

  /** What defines a schema, with its name taken out: columns, indexes, functions, triggers. */
  async function catalog(schema: string): Promise<string[]> {
    const { rows: found } = await adminPool().query(
      `SELECT format('%s.%s %s %s %s %s', table_name, column_name, data_type, is_nullable,
                     column_default, identity_generation) AS item
         FROM information_schema.columns WHERE table_schema = $1
       UNION ALL SELECT indexdef FROM pg_indexes WHERE schemaname = $1
       UNION ALL SELECT pg_get_functiondef(p.oid) FROM pg_proc AS p
         JOIN pg_namespace AS n ON n.oid = p.pronamespace WHERE n.nspname = $1
       UNION ALL SELECT pg_get_triggerdef(t.oid) FROM pg_trigger AS t
         JOIN pg_class AS c ON c.oid = t.tgrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND NOT t.tgisinternal`,
      [schema],
    );
    const name = new RegExp(`"?${schema}"?`, 'g');
    return found.map(({ item }) => item.replace(name, 'S').replace(/\s+/g, ' ').trim()).sort();
  }
});
