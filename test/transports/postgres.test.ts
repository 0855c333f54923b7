import { Pool, type QueryResult } from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerUnavailableError,
  InvalidOptionError,
  MessageTooLargeError,
  SerializationError,
} from '../../src/errors.js';
import { takeNow } from '../../src/queuing/hand-off.js';
import type { Delivery, Queue } from '../../src/queuing/types.js';
import type { PostgresDelivery } from '../../src/transports/postgres/delivery.js';
import { PostgresQueryError, PostgresQueue } from '../../src/transports/postgres/index.js';
import { statements } from '../../src/transports/postgres/sql.js';
import { MAX_DELAY } from '../../src/transports/shared/broker-options.js';
import { sleep, waitFor, within } from '../support/async.js';
import { brokerAvailable } from '../support/broker.js';
import { receive } from '../support/deliveries.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { adminPool, lockPostgres, open, purge, url } from './postgres-harness.js';

const up = await brokerAvailable('postgres');

interface Numbered {
  n: number;
}

describe.runIf(up)('PostgresQueue', () => {
  const opened: Queue<unknown>[] = [];
  const names: string[] = [];
  const pools: Pool[] = [];

  function queueName(label: string): string {
    const name = `sluice-pg-${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    names.push(name);
    return name;
  }

  function track<Q extends Queue<any>>(queue: Q): Q {
    opened.push(queue);
    return queue;
  }

  /** A pool of our own, named so its backends can be found (and killed) in pg_stat_activity. */
  function ownPool(): { pool: Pool; applicationName: string; statements: string[] } {
    const applicationName = `sluice-test-${Math.random().toString(36).slice(2, 10)}`;
    const pool = new Pool({ connectionString: url, application_name: applicationName });
    pool.on('error', () => {});
    pools.push(pool);
    const seen: string[] = [];
    const query = pool.query.bind(pool) as (text: string, values?: unknown[]) => Promise<unknown>;
    pool.query = ((text: string, values?: unknown[]) => {
      seen.push(text);
      return query(text, values);
    }) as unknown as Pool['query'];
    return { pool, applicationName, statements: seen };
  }

  afterEach(async () => {
    await Promise.allSettled(opened.splice(0).map((queue) => queue.close()));
    await purge(...names.splice(0));
  });

  let unlock: () => Promise<void>;
  beforeAll(async () => {
    unlock = await lockPostgres(); // no server restart from the durable suite while these run
  });

  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.end()));
    await unlock();
  });

  describe('transactional enqueue', () => {
    it('sends with the business write when the transaction commits, and not at all when it rolls back', async () => {
      const name = queueName('tx');
      const queue = track(open<Numbered>(name));
      await queue.migrate();
      const client = await adminPool().connect();
      try {
        await client.query('CREATE TEMP TABLE orders (id int)');
        await client.query('BEGIN');
        await client.query('INSERT INTO orders VALUES (1)');
        await queue.send({ n: 1 }, { client });
        await client.query('ROLLBACK');

        await client.query('BEGIN');
        await client.query('INSERT INTO orders VALUES (2)');
        await queue.send({ n: 2 }, { client });
        expect(await countRows(name)).toBe(0); // not visible outside the transaction before commit
        await client.query('COMMIT');
        expect((await client.query('SELECT id FROM orders')).rows).toEqual([{ id: 2 }]);
      } finally {
        client.release(true);
      }
      const [delivery] = await receive(queue, 1);
      expect(delivery!.message).toEqual({ n: 2 });
      await delivery!.ack();
      await queue.close(); // acks are written in batches, flushed by close()
      expect(await countRows(name)).toBe(0);
    });

    it('rejects a client option that is not a pg client', async () => {
      const queue = track(open<Numbered>(queueName('tx-bad')));
      await expect(queue.send({ n: 1 }, { client: {} as never })).rejects.toBeInstanceOf(InvalidOptionError);
    });
  });

  describe('table', () => {
    it('deletes acked messages and keeps dead letters as rows with the reason', async () => {
      const name = queueName('rows');
      const queue = track(open<Numbered>(name, { maxAttempts: 1 }));
      await queue.send({ n: 1 });
      await queue.send({ n: 2 });
      const [first, second] = await receive(queue, 2);
      await first!.ack();
      await second!.nack({ error: new Error('card declined') });
      await queue.close();
      const { rows } = await adminPool().query(
        'SELECT queue, reason, attempt, key FROM sluice.messages WHERE queue = ANY($1) ORDER BY id',
        [[name, `${name}.dead`]],
      );
      expect(rows).toEqual([
        { queue: `${name}.dead`, reason: 'failed 1 of 1 attempts: card declined', attempt: 0, key: null },
      ]);
    });

    it('records why an undecodable body was dead-lettered', async () => {
      const name = queueName('garbage');
      await adminPool().query('INSERT INTO sluice.messages (queue, body) VALUES ($1, $2)', [
        name,
        '{"no":1}',
      ]);
      const queue = track(open<Numbered>(name));
      await queue.send({ n: 1 });
      const [delivery] = await receive(queue, 1);
      await delivery!.ack();
      await queue.close();
      const { rows } = await adminPool().query('SELECT reason FROM sluice.messages WHERE queue = $1', [
        `${name}.dead`,
      ]);
      expect(rows).toEqual([{ reason: expect.stringContaining('not a sluice envelope') }]);
    });

    it('claims a few rows from a large backlog without reading the backlog', async () => {
      const name = queueName('backlog');
      await open(name).close();
      await purge(name); // creates the tables
      await adminPool().query(
        `INSERT INTO sluice.messages (queue, body) SELECT $1, '{"payload":1}' FROM generate_series(1, 50000)`,
        [name],
      );
      const client = await adminPool().connect();
      try {
        await client.query('BEGIN');
        const explain = `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${statements('sluice').claim}`;
        await client.query(explain, [name, 10, 30_000]); // the first call also reads the catalog
        const { rows } = await client.query(explain, [name, 10, 30_000]);
        const plan = rows[0]['QUERY PLAN'][0].Plan;
        expect(plan['Actual Rows']).toBe(10);
        // Walking the claim index touches ~100 pages; fetching and sorting every ready row (what an
        // unpinned plan may do on a young table) touches the whole backlog, 600+ pages.
        expect(plan['Shared Hit Blocks'] + plan['Shared Read Blocks']).toBeLessThan(300);
      } finally {
        await client.query('ROLLBACK');
        client.release();
      }
    });
  });

  describe('prefetch', () => {
    it('gives back buffered rows whose lease is half gone instead of handing them out', async () => {
      const name = queueName('stale');
      const queue = track(open<Numbered>(name, { visibilityTimeout: 2_000 }));
      for (let n = 1; n <= 3; n++) await queue.send({ n });
      const iterator = queue[Symbol.asyncIterator]();
      const first = (await within(iterator.next(), 5_000)).value!;
      expect(first.message).toEqual({ n: 1 }); // 2 and 3 wait in the buffer, leased
      await sleep(1_100);
      const second = (await within(iterator.next(), 5_000)).value as PostgresDelivery<Numbered>;
      expect([second.message, second.attempt]).toEqual([{ n: 2 }, 1]); // released, claimed afresh
      const { rows } = await adminPool().query(
        'SELECT extract(epoch FROM locked_until - now()) * 1000 AS left FROM sluice.messages WHERE id = $1',
        [second.rowId],
      );
      expect(Number(rows[0].left)).toBeGreaterThan(1_500); // a fresh lease, not the 900 ms left
      await first.ack();
      await second.ack();
      await iterator.return?.();
    });

    it('hands out nothing more once close() was called, not even what is buffered', async () => {
      const name = queueName('closing');
      const queue = track(open<Numbered>(name, { closeTimeout: 200 }));
      for (let n = 1; n <= 4; n++) await queue.send({ n });
      const iterator = queue[Symbol.asyncIterator]();
      await (await within(iterator.next(), 5_000)).value!.ack(); // 2 to 4 wait in the buffer
      const closing = queue.close();
      expect(queue[takeNow]()).toBeUndefined(); // how a pump takes buffered deliveries
      await closing;
      const [again] = await receive(track(open<Numbered>(name)), 1);
      expect([again!.message, again!.attempt]).toEqual([{ n: 2 }, 1]);
      await again!.ack();
    });

    it('gives back rows whose claim came back after the last iterator returned', async () => {
      const name = queueName('late-claim');
      const { pool } = ownPool();
      let claimed = 0;
      const query = pool.query.bind(pool) as (text: string, values?: unknown[]) => Promise<QueryResult>;
      pool.query = (async (text: string, values?: unknown[]) => {
        const result = await query(text, values);
        if (text.includes('.claim(')) claimed += result.rowCount ?? 0;
        return result;
      }) as unknown as Pool['query'];
      const queue = track(new PostgresQueue<Numbered>(name, { pool }));
      await queue.send({ n: 1 });
      const iterator = queue[Symbol.asyncIterator]();
      const pending = iterator.next(); // starts a claim
      await iterator.return!();
      expect((await pending).done).toBe(true);
      await waitFor(() => claimed === 1, 'the claim to come back with the row');
      // Released: not leased until the visibility timeout, and the claim did not count.
      await waitFor(async () => {
        const { rows } = await adminPool().query(
          'SELECT attempt, locked_until FROM sluice.messages WHERE queue = $1',
          [name],
        );
        return rows[0]?.attempt === 0 && rows[0]?.locked_until === null;
      }, 'the claimed row to be released');
    });
  });

  describe('deduplication key', () => {
    it('keeps one copy per key while it is queued, and accepts the key again once acked', async () => {
      const name = queueName('key');
      const queue = open<Numbered>(name);
      await Promise.all([queue.send({ n: 1 }, { key: 'k' }), queue.send({ n: 2 }, { key: 'k' })]);
      await queue.send({ n: 3 }, { key: 'k' });
      await queue.send({ n: 4 });
      expect(await countRows(name)).toBe(2);
      const deliveries = await receive(queue, 2);
      expect(deliveries.map((d) => d.message)).toEqual([{ n: 1 }, { n: 4 }]);
      await Promise.all(deliveries.map((d) => d.ack()));
      await queue.close(); // the key is free once the ack is written: close() flushes acks

      const again = track(open<Numbered>(name));
      await again.send({ n: 5 }, { key: 'k' });
      const [fifth] = await receive(again, 1);
      expect(fifth!.message).toEqual({ n: 5 });
      await fifth!.ack();
    });

    it('frees the key of a message whose holders never settle: dead-lettered once the lease of its last attempt ran out', async () => {
      const name = queueName('key-lease');
      const queue = track(open<Numbered>(name, { maxAttempts: 2, visibilityTimeout: 200 }));
      await queue.send({ n: 1 }, { key: 'k' });
      // A consumer that claims and then dies, twice: each lease runs out with the row unsettled.
      for (let attempt = 1; attempt <= 2; attempt++) {
        const { rows } = await adminPool().query('SELECT attempt FROM sluice.claim($1, 1, 200)', [name]);
        expect(rows).toEqual([{ attempt }]);
        await sleep(250);
      }
      const iterator = queue[Symbol.asyncIterator]();
      const next = iterator.next(); // claims the row a third time, and dead-letters it instead
      await waitFor(async () => (await countRows(`${name}.dead`)) === 1, 'the row to be dead-lettered');
      await queue.send({ n: 2 }, { key: 'k' });
      const delivered = await within(next, 5_000);
      expect([delivered.value!.message, delivered.value!.attempt]).toEqual([{ n: 2 }, 1]);
      await delivered.value!.ack();
      await iterator.return?.();
      const [deadLetter] = await receive(track(open<Numbered>(`${name}.dead`)), 1);
      expect([deadLetter!.message, deadLetter!.deadLetterReason]).toEqual([
        { n: 1 },
        'failed 2 of 2 attempts: not settled: its consumer stopped or its lease ran out',
      ]);
      await deadLetter!.ack();
    });

    it('still redelivers a message put back with nack({ requeue: true }) on its last attempt', async () => {
      const name = queueName('requeue-last');
      const queue = track(open<Numbered>(name, { maxAttempts: 1 }));
      await queue.send({ n: 1 }, { key: 'k' });
      const [first] = await receive(queue, 1);
      await first!.nack({ requeue: true });
      const [again] = await receive(queue, 1);
      expect([again!.message, again!.attempt]).toEqual([{ n: 1 }, 2]);
      await again!.ack();
    });
  });

  describe('sending', () => {
    it('coalesces concurrent sends into a few multi-row inserts', async () => {
      const name = queueName('batch');
      const { pool, statements: seen } = ownPool();
      const queue = track(new PostgresQueue<Numbered>(name, { pool }));
      await queue.migrate();
      await Promise.all(Array.from({ length: 2_000 }, (_, n) => queue.send({ n })));
      const inserts = seen.filter((text) => text.startsWith('INSERT'));
      expect(inserts.length).toBeLessThanOrEqual(4);
      expect(await countRows(name)).toBe(2_000);
    });

    it('rejects with BrokerUnavailableError when the server cannot be reached', async () => {
      const queue = track(
        new PostgresQueue<Numbered>(queueName('down'), { url: 'postgres://postgres@127.0.0.1:1/test' }),
      );
      const sent = queue.send({ n: 1 });
      await expect(sent).rejects.toBeInstanceOf(BrokerUnavailableError);
      await expect(sent).rejects.toThrow(/^PostgreSQL is unavailable: /);
    });

    it('stores a send made just before close(), while the handle was still creating the tables', async () => {
      const name = queueName('close-send');
      const queue = open<Numbered>(name);
      const sent = queue.send({ n: 1 });
      await queue.close();
      await sent;
      expect(await countRows(name)).toBe(1);
    });

    it('closes within its closeTimeout when PostgreSQL stops answering, and a send it cut off rejects', async () => {
      const name = queueName('mute');
      const proxy = await startTcpProxy(5432);
      try {
        const queue = new PostgresQueue<Numbered>(name, {
          url: url.replace(':5432/', `:${proxy.port}/`),
          closeTimeout: 300,
        });
        await queue.send({ n: 1 });
        const [held] = await receive(queue, 1); // the consumer listens and holds a delivery
        proxy.stall(); // the sockets stay open: nothing sent on them is ever answered
        const cutOff = queue.send({ n: 2 });
        await within(queue.close(), 5_000, () => 'close() while PostgreSQL did not answer');
        await expect(cutOff).rejects.toBeInstanceOf(BrokerUnavailableError);
        await expect(held!.ack()).rejects.toMatchObject({ code: 'DELIVERY_SETTLED' });
      } finally {
        await proxy.close();
      }
    });

    it('stores any JSON message, a string holding a NUL character too, with those sent beside it', async () => {
      const name = queueName('nul');
      const queue = track(open<unknown>(name));
      await queue.migrate();
      const messages = [{ n: 1 }, { note: 'a\u0000b' }, { n: 3 }];
      await Promise.all(messages.map((message) => queue.send(message)));
      const deliveries = await receive(queue, 3);
      expect(deliveries.map((d) => d.message)).toEqual(messages);
      await Promise.all(deliveries.map((d) => d.ack()));
    });

    it.each([
      ['a key holding a NUL character', { key: 'order\u0000-1' }, () => 'invalid key: "order\\u0000-1"'],
      ['a key holding a lone surrogate', { key: 'k\uD800' }, () => 'a lone surrogate'],
      [
        'a delay longer than the queue stores',
        { delay: 1e13 },
        (name: string) =>
          `invalid delay: 10000000000000 (expected at most ${MAX_DELAY} milliseconds on queue ${name})`,
      ],
    ])(
      'refuses %s with InvalidOptionError, alone: the sends beside it are stored',
      async (_, options, why) => {
        const name = queueName('refused');
        const queue = track(open<Numbered>(name));
        await queue.migrate();
        const [first, refused, third] = await Promise.allSettled([
          queue.send({ n: 1 }),
          queue.send({ n: 2 }, options),
          queue.send({ n: 3 }),
        ]);
        expect([first!.status, third!.status]).toEqual(['fulfilled', 'fulfilled']);
        const { reason } = refused as PromiseRejectedResult;
        expect(reason).toBeInstanceOf(InvalidOptionError);
        expect(reason.message).toContain(why(name));
        expect(await countRows(name)).toBe(2);
      },
    );

    it('stores a message sent with the longest delay the queue takes', async () => {
      const name = queueName('longest-delay');
      const queue = track(open<Numbered>(name));
      await queue.send({ n: 1 }, { delay: MAX_DELAY });
      const { rows } = await adminPool().query(
        `SELECT run_at > now() + interval '99 years' AS later FROM sluice.messages WHERE queue = $1`,
        [name],
      );
      expect(rows).toEqual([{ later: true }]);
    });

    it('fails only the send whose row PostgreSQL refuses, and stores the others of its batch in order', async () => {
      // A schema of its own whose table refuses, row by row, a key that is not a number (22P02).
      const dbSchema = `sluice_row_refused_${process.pid}`;
      const name = queueName('row-refused');
      const queue = track(new PostgresQueue<Numbered>(name, { url, dbSchema }));
      try {
        await queue.migrate();
        await adminPool().query(
          `ALTER TABLE "${dbSchema}".messages ADD CONSTRAINT numeric_key CHECK (key IS NULL OR key::int > 0)`,
        );
        const results = await Promise.allSettled(
          [1, 2, 3, 4, 5].map((n) => queue.send({ n }, n === 2 ? { key: 'not a number' } : undefined)),
        );
        expect(results.map((result) => result.status)).toEqual([
          'fulfilled',
          'rejected',
          'fulfilled',
          'fulfilled',
          'fulfilled',
        ]);
        const { reason } = results[1] as PromiseRejectedResult;
        expect(reason).toBeInstanceOf(PostgresQueryError);
        expect(reason.message).toMatch(new RegExp(`send to queue ${name}: invalid input syntax`));
        const deliveries = await receive(queue, 4);
        expect(deliveries.map((d) => d.message.n)).toEqual([1, 3, 4, 5]);
        await Promise.all(deliveries.map((d) => d.ack()));
      } finally {
        await queue.close();
        await adminPool().query(`DROP SCHEMA IF EXISTS "${dbSchema}" CASCADE`);
      }
    });

    it('rejects a message that is not JSON-serialisable and accepts the next one', async () => {
      const name = queueName('json');
      const queue = track(open<unknown>(name));
      await expect(queue.send({ big: 1n })).rejects.toMatchObject({ code: 'NOT_SERIALIZABLE' });
      await queue.send({ n: 1 });
      expect(await countRows(name)).toBe(1);
    });
  });

  describe('what a delivery shows', () => {
    it("exposes the envelope's id and headers, the same on every redelivery and on the dead-letter copy", async () => {
      const name = queueName('envelope');
      const queue = track(open<Numbered>(name, { maxAttempts: 2, backoff: { type: 'fixed', delay: 10 } }));
      await queue.migrate();
      const body = JSON.stringify({
        id: 'order-42',
        headers: { traceparent: '00-abc-01' },
        payload: { n: 1 },
      });
      await insertRow(name, body);
      const [first] = await receive(queue, 1);
      expect([first!.id, first!.headers, first!.attempt]).toEqual([
        'order-42',
        { traceparent: '00-abc-01' },
        1,
      ]);
      expect(first!.deadLetterReason).toBeUndefined();
      await first!.nack({ error: new Error('try again') });
      const [second] = await receive(queue, 1);
      expect([second!.id, second!.headers, second!.attempt]).toEqual([
        'order-42',
        { traceparent: '00-abc-01' },
        2,
      ]);
      expect(second!.rowId).toBe(first!.rowId);
      await second!.nack({ error: new TypeError('still broken') });

      const dead = track(open<Numbered>(`${name}.dead`));
      const [deadLetter] = await receive(dead, 1);
      expect([deadLetter!.id, deadLetter!.headers, deadLetter!.message]).toEqual([
        'order-42',
        { traceparent: '00-abc-01' },
        { n: 1 },
      ]);
      expect(deadLetter!.deadLetterReason).toBe('failed 2 of 2 attempts: TypeError: still broken');
      await deadLetter!.ack();
    });

    it('names a message sent without an id by its row, on redeliveries and on the dead-letter queue too', async () => {
      const name = queueName('no-id');
      const queue = track(open<Numbered>(name));
      await queue.migrate();
      await insertRow(name, '{"payload":{"n":1}}');
      const [first] = await receive(queue, 1);
      expect([first!.id, first!.headers]).toEqual([first!.rowId, {}]);
      await first!.nack({ requeue: true });
      const [again] = await receive(queue, 1);
      expect([again!.id, again!.attempt]).toEqual([first!.rowId, 2]);
      await again!.nack({ requeue: false });
      const [deadLetter] = await receive(track(open<Numbered>(`${name}.dead`)), 1);
      expect([deadLetter!.id, deadLetter!.deadLetterReason]).toEqual([first!.rowId, 'rejected']);
      await deadLetter!.ack();
    });

    it('dead-letters a body that is not JSON wrapped as a string, with its reason, under its row id', async () => {
      const name = queueName('not-json');
      const queue = track(open<Numbered>(name));
      await queue.migrate();
      const rowId = await insertRow(name, 'not json at all');
      await queue.send({ n: 1 });
      const [delivery] = await receive(queue, 1);
      expect(delivery!.message).toEqual({ n: 1 });
      await delivery!.ack();
      const [deadLetter] = await receive(track(open<unknown>(`${name}.dead`)), 1);
      expect([deadLetter!.id, deadLetter!.message]).toEqual([rowId, 'not json at all']);
      expect(deadLetter!.deadLetterReason).toMatch(/^undecodable body: /);
      await deadLetter!.ack();
    });
  });

  describe('strict messages', () => {
    it.each([
      ['NaN', { x: Number.NaN }, 'message.x is NaN'],
      ['a Date', { at: new Date(0) }, 'message.at is an instance of Date'],
      ['a symbol', { s: Symbol('s') }, 'message.s is a symbol'],
    ])(
      'refuses a message holding %s with SerializationError naming the path; nothing is stored',
      async (_, message, path) => {
        const name = queueName('strict');
        const queue = track(open<unknown>(name));
        await queue.migrate();
        const refused = queue.send(message);
        await expect(refused).rejects.toBeInstanceOf(SerializationError);
        await expect(refused).rejects.toThrow(path);
        expect(await countRows(name)).toBe(0);
      },
    );

    it('refuses a message over maxMessageSize with MessageTooLargeError, alone: the sends beside it are stored', async () => {
      const name = queueName('too-large');
      const queue = track(new PostgresQueue<{ text: string }>(name, { url, maxMessageSize: 1_000 }));
      await queue.migrate();
      const results = await Promise.allSettled([
        queue.send({ text: 'small' }),
        queue.send({ text: 'x'.repeat(1_000) }),
        queue.send({ text: 'small too' }),
      ]);
      expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      const { reason } = results[1] as PromiseRejectedResult;
      expect(reason).toBeInstanceOf(MessageTooLargeError);
      expect(reason.message).toContain(name);
      const deliveries = await receive(queue, 2);
      expect(deliveries.map((d) => d.message.text)).toEqual(['small', 'small too']);
      await Promise.all(deliveries.map((d) => d.ack()));
      await queue.close();
      expect(await countRows(name)).toBe(0);
    });

    it('defaults maxMessageSize to 16 MiB', async () => {
      const queue = track(open<{ text: string }>(queueName('default-size')));
      await expect(queue.send({ text: 'x'.repeat(16 * 1024 * 1024) })).rejects.toMatchObject({
        code: 'MESSAGE_TOO_LARGE',
        limit: 16 * 1024 * 1024,
      });
    });
  });

  describe('settling', () => {
    it('refuses a nack delay longer than the queue stores, leaving the delivery unsettled: it can be nacked again', async () => {
      const name = queueName('nack-delay');
      const queue = track(open<Numbered>(name));
      await queue.send({ n: 1 });
      const [delivery] = await receive(queue, 1);
      await expect(delivery!.nack({ delay: 1e13 })).rejects.toBeInstanceOf(InvalidOptionError);
      await delivery!.nack({ delay: 0 });
      const [again] = await receive(queue, 1);
      expect([again!.message, again!.attempt]).toEqual([{ n: 1 }, 2]);
      await again!.ack();
      await queue.close();
      expect(await countRows(name)).toBe(0);
    });
  });

  describe('wake-ups', () => {
    it('an idle consumer waits on LISTEN, not polling, and a new message wakes it', async () => {
      const name = queueName('idle');
      const { pool, statements: seen } = ownPool();
      const consumer = track(new PostgresQueue<Numbered>(name, { pool }));
      const iterator = consumer[Symbol.asyncIterator]();
      const pending = iterator.next();
      await waitFor(() => seen.some((text) => text.includes('clock_timestamp')), 'the consumer to go idle');
      const whileIdle = seen.length;
      await sleep(1_000);
      expect(seen.length).toBe(whileIdle); // nothing ran while idle

      // A row inserted by a foreign producer wakes it through the insert trigger's NOTIFY, well
      // before the 5 s fallback poll.
      const body = JSON.stringify({ id: 'x', type: null, attempt: 1, headers: {}, payload: { n: 1 } });
      await adminPool().query('INSERT INTO sluice.messages (queue, body) VALUES ($1, $2)', [name, body]);
      const next = await within(pending, 2_000);
      expect((next.value as Delivery<Numbered>).message).toEqual({ n: 1 });
      await (next.value as Delivery<Numbered>).ack();
      await iterator.return?.();
    });

    it('listens again after its connections are killed, and picks up what is sent next', async () => {
      const name = queueName('reconnect');
      const { pool, applicationName } = ownPool();
      const consumer = track(new PostgresQueue<Numbered>(name, { pool }));
      const producer = track(open<Numbered>(name));
      const iterator = consumer[Symbol.asyncIterator]();
      const first = iterator.next();
      await producer.send({ n: 1 });
      await (await within(first, 5_000)).value!.ack();

      const pending = iterator.next();
      await adminPool().query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
        [applicationName],
      );
      await waitFor(async () => {
        const { rows } = await adminPool().query(
          `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`,
          [applicationName],
        );
        return rows.length > 0;
      }, 'the consumer to LISTEN again');
      await sleep(300); // any claim triggered by the reconnection has come back empty by now
      await producer.send({ n: 2 });
      const next = await within(pending, 2_000);
      expect([next.value!.message, next.value!.attempt]).toEqual([{ n: 2 }, 1]);
      await next.value!.ack();
      await iterator.return?.();
    });
  });

  describe('schema management', () => {
    it('migrates once when several processes start at once, and again is a no-op', async () => {
      const dbSchema = `sluice_migrate_${process.pid}`;
      const racers = Array.from({ length: 4 }, () => new Pool({ connectionString: url, max: 2 }));
      try {
        await Promise.all(racers.map((pool) => new PostgresQueue('m', { pool, dbSchema }).migrate()));
        await new PostgresQueue('m', { pool: racers[0]!, dbSchema }).migrate();
        const { rows } = await adminPool().query(
          `SELECT version FROM ${dbSchema}.schema_version ORDER BY version`,
        );
        expect(rows).toEqual([
          { version: 1 },
          { version: 2 },
          { version: 3 },
          { version: 4 },
          { version: 5 },
          { version: 6 },
          { version: 7 },
        ]);
        const queue = new PostgresQueue<Numbered>('m', { pool: racers[1]!, dbSchema });
        await queue.send({ n: 1 });
        const [delivery] = await receive(queue, 1);
        await delivery!.ack();
        await queue.close();
      } finally {
        await Promise.all(racers.map((pool) => pool.end()));
        await adminPool().query(`DROP SCHEMA ${dbSchema} CASCADE`);
      }
    });

    it('ends a waiting next() with the error when the tables cannot be created', async () => {
      const dbSchema = `sluice_broken_${process.pid}`;
      await adminPool().query(`CREATE SCHEMA ${dbSchema}`);
      try {
        await adminPool().query(`CREATE TABLE ${dbSchema}.messages (x int)`); // in the way
        const queue = track(new PostgresQueue<Numbered>('m', { url, dbSchema }));
        await expect(queue.send({ n: 1 })).rejects.toBeInstanceOf(PostgresQueryError);
        const iterator = queue[Symbol.asyncIterator]();
        const next = within(iterator.next(), 5_000, () => 'next() to fail');
        await expect(next).rejects.toThrow(`PostgreSQL rejected migrating schema ${dbSchema}`);
        await queue.close();
      } finally {
        await adminPool().query(`DROP SCHEMA ${dbSchema} CASCADE`);
      }
    });

    it('leaves a pool it was given open', async () => {
      const { pool } = ownPool();
      const queue = new PostgresQueue<Numbered>(queueName('pool'), { pool });
      await queue.send({ n: 1 });
      await queue.close();
      expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    });
  });

  describe('options', () => {
    it.each([
      ['name', () => new PostgresQueue('', { url })],
      ['url', () => new PostgresQueue('q', {})],
      ['url', () => new PostgresQueue('q', { url, pool: adminPool() })],
      ['maxAttempts', () => new PostgresQueue('q', { url, maxAttempts: 0 })],
      ['visibilityTimeout', () => new PostgresQueue('q', { url, visibilityTimeout: 0 })],
      ['deadLetter', () => new PostgresQueue('q', { url, deadLetter: 'q' })],
      ['prefetch', () => new PostgresQueue('q', { url, prefetch: -1 })],
      ['schema', () => new PostgresQueue('q', { url, schema: {} as never })],
      ['pool', () => new PostgresQueue('q', { pool: new Pool({ max: 1 }) })],
    ])('rejects a bad %s with InvalidOptionError', (option, create) => {
      expect(create).toThrow(InvalidOptionError);
      expect(create).toThrow(option);
    });
  });
});

async function countRows(queue: string): Promise<number> {
  const { rows } = await adminPool().query(
    'SELECT count(*)::int AS n FROM sluice.messages WHERE queue = $1',
    [queue],
  );
  return rows[0].n;
}

/** Inserts a row as a producer in another language does; returns its id. */
async function insertRow(queue: string, body: string): Promise<string> {
  const { rows } = await adminPool().query(
    'INSERT INTO sluice.messages (queue, body) VALUES ($1, $2) RETURNING id',
    [queue, body],
  );
  return rows[0].id;
}
