/**
 * Hostile input on a PostgresQueue: values at the limits the adapter states work end to end, values
 * past them are refused at the door, and a poison message (a reason PostgreSQL text cannot hold, a
 * backoff that fails, a foreign body nested past any parser) is dead-lettered while later ones flow.
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import { PostgresQueue } from '../../src/transports/postgres/index.js';
import { sleep } from '../support/async.js';
import { brokerAvailable } from '../support/broker.js';
import { receive } from '../support/deliveries.js';
import { postgresQueues } from './postgres-fixture.js';
import { adminPool, url } from './postgres-harness.js';

const up = await brokerAvailable('postgres');

interface Numbered {
  n: number;
}

describe.runIf(up)('PostgresQueue given hostile input', () => {
  const { queueName, open, purgeAfter, closeOpened } = postgresQueues<Numbered>('sluice-pg-input');

  describe('names', () => {
    it('takes a queue name of 200 UTF-8 bytes end to end, dead-lettering included', async () => {
      const name = queueName('long').padEnd(100, '-') + 'é'.repeat(50); // 200 bytes, 150 characters
      purgeAfter(name);
      expect(Buffer.byteLength(name)).toBe(200);
      const deadLetter = queueName('long-dead');
      const queue = open(name, { deadLetter, maxAttempts: 1 });
      await queue.send({ n: 1 }, { key: 'k' });
      const [delivery] = await receive(queue, 1);
      await delivery!.nack({ error: new Error('no') });
      const [dead] = await receive(open(deadLetter), 1);
      expect([dead!.message, dead!.deadLetterReason]).toEqual([{ n: 1 }, 'failed 1 of 1 attempts: no']);
      await dead!.ack();
    });

    it.each([
      ['name', () => new PostgresQueue(`${'x'.repeat(200)}é`, { url, deadLetter: 'd' }), '200 UTF-8 bytes'],
      ['name', () => new PostgresQueue('x'.repeat(10_000), { url, deadLetter: 'd' }), '200 UTF-8 bytes'],
      ['name', () => new PostgresQueue('q\0', { url }), 'control character'],
      ['name', () => new PostgresQueue('q\uD800', { url }), 'lone surrogate'],
      ['deadLetter', () => new PostgresQueue('q', { url, deadLetter: 'q\uDC00.dead' }), 'lone surrogate'],
    ])('refuses a %s the shared rules refuse: %#', (option, create, why) => {
      expect(create).toThrow(InvalidOptionError);
      expect(create).toThrow(`invalid ${option}`);
      expect(create).toThrow(why);
    });

    it("keeps 'q\\uFFFD' a queue of its own: the name 'q\\uD800', which PostgreSQL would store as it, is refused", async () => {
      expect(() => open('q\uD800')).toThrow(InvalidOptionError);
      const name = queueName('\uFFFD');
      const queue = open(name);
      await queue.send({ n: 1 });
      const [delivery] = await receive(queue, 1);
      expect(delivery!.message).toEqual({ n: 1 });
      await delivery!.ack();
    });

    it('takes a dbSchema of 63 UTF-8 bytes end to end', async () => {
      const dbSchema = `s${process.pid}_`.padEnd(33, 'x') + 'é'.repeat(15); // 63 bytes, 48 characters
      expect(Buffer.byteLength(dbSchema)).toBe(63);
      try {
        const queue = open('m', { dbSchema, maxAttempts: 1 });
        await queue.send({ n: 1 });
        const [delivery] = await receive(queue, 1);
        await delivery!.nack({ error: new Error('no') });
        const [dead] = await receive(open('m.dead', { dbSchema }), 1);
        expect(dead!.deadLetterReason).toBe('failed 1 of 1 attempts: no');
        await dead!.ack();
      } finally {
        await closeOpened();
        await adminPool().query(`DROP SCHEMA IF EXISTS "${dbSchema}" CASCADE`);
      }
    });

    it.each([
      ['64 bytes in 32 characters', 'é'.repeat(32), '63 UTF-8 bytes'],
      ['64 bytes', 'x'.repeat(64), '63 UTF-8 bytes'],
      ['a NUL character', 'a\0b', 'control character'],
      ['a lone surrogate', 'a\uD800', 'lone surrogate'],
      ["PostgreSQL's reserved prefix", 'pg_sluice', 'not starting with pg_'],
      ['nothing', '', 'a non-empty string'],
    ])('refuses a dbSchema of %s with InvalidOptionError', (_, dbSchema, why) => {
      const create = () => new PostgresQueue('q', { url, dbSchema });
      expect(create).toThrow(InvalidOptionError);
      expect(create).toThrow('invalid dbSchema');
      expect(create).toThrow(why);
    });
  });

  describe('prefetch', () => {
    it.each([10_001, 2 ** 31])('refuses prefetch %d with InvalidOptionError', (prefetch) => {
      const create = () => new PostgresQueue('q', { url, prefetch });
      expect(create).toThrow(InvalidOptionError);
      expect(create).toThrow('an integer from 0 to 10000');
    });

    it('claims with the largest prefetch it takes', async () => {
      const name = queueName('prefetch');
      const queue = open(name, { prefetch: 10_000 });
      await queue.send({ n: 1 });
      const [delivery] = await receive(queue, 1);
      expect(delivery!.message).toEqual({ n: 1 });
      await delivery!.ack();
    });
  });

  describe('poison messages', () => {
    it('dead-letters a message whose handler threw an error holding a NUL, with a readable reason, and later ones flow', async () => {
      const name = queueName('nul-reason');
      const queue = open(name, { maxAttempts: 1 });
      const handled: number[] = [];
      const draining = new Pump(
        queue,
        ({ n }: Numbered) => {
          if (n === 1) throw new Error('a\0b');
          handled.push(n);
        },
        { failSilently: true },
      ).draining();
      await queue.send({ n: 1 });
      await queue.send({ n: 2 });
      const [dead] = await receive(open(`${name}.dead`), 1);
      expect([dead!.message, dead!.deadLetterReason]).toEqual([{ n: 1 }, 'failed 1 of 1 attempts: a b']);
      await dead!.ack();
      await waitUntil(() => handled.includes(2));
      await draining.stop();
    });

    it('retries a message whose backoff asks for 1e300 ms after the longest delay it stores', async () => {
      const name = queueName('huge-backoff');
      const queue = open(name, { backoff: () => 1e300 });
      await queue.send({ n: 1 });
      const [delivery] = await receive(queue, 1);
      await delivery!.nack({ error: new Error('later') });
      const { rows } = await adminPool().query(
        `SELECT attempt, run_at > now() + interval '99 years' AS far, locked_until FROM sluice.messages WHERE queue = $1`,
        [name],
      );
      expect(rows).toEqual([{ attempt: 1, far: true, locked_until: null }]);
    });

    it.each([
      [
        'returns NaN',
        () => Number.NaN,
        'backoff failed on attempt 1: InvalidOptionError: invalid backoff: NaN',
      ],
      [
        'throws',
        () => {
          throw new Error('no\0delay');
        },
        'backoff failed on attempt 1: no delay',
      ],
    ])(
      'dead-letters a message whose backoff function %s, saying so, and later ones flow',
      async (_, backoff, reason) => {
        const name = queueName('bad-backoff');
        const queue = open(name, { backoff });
        await queue.send({ n: 1 });
        await queue.send({ n: 2 });
        const [first, second] = await receive(queue, 2);
        await first!.nack({ error: new Error('failed') });
        await second!.ack();
        const [dead] = await receive(open(`${name}.dead`), 1);
        expect(dead!.message).toEqual({ n: 1 });
        expect(dead!.deadLetterReason).toContain(reason);
        await dead!.ack();
      },
    );

    it('dead-letters once a body nested 100,000 levels deep from a foreign producer, and later messages flow', async () => {
      const name = queueName('deep');
      const queue = open(name);
      await queue.migrate();
      const depth = 100_000;
      const body = `{"id":"deep","payload":${'['.repeat(depth)}${']'.repeat(depth)}}`;
      await adminPool().query('INSERT INTO sluice.messages (queue, body) VALUES ($1, $2)', [name, body]);
      await queue.send({ n: 1 });
      const [delivery] = await receive(queue, 1);
      expect(delivery!.message).toEqual({ n: 1 });
      await delivery!.ack();
      const deadLetters = open<unknown>(`${name}.dead`);
      const [dead] = await receive(deadLetters, 1);
      expect(dead!.message).toBe(body); // wrapped as text, never parsed into the deep payload again
      expect(dead!.deadLetterReason).toMatch(/^undecodable body: nested deeper than/);
      await dead!.ack();
      await Promise.all([queue.close(), deadLetters.close()]); // acks are written by then
      const { rows } = await adminPool().query(
        'SELECT queue FROM sluice.messages WHERE queue = ANY($1::text[])',
        [[name, `${name}.dead`]],
      );
      expect(rows).toEqual([]);
    });
  });
});

async function waitUntil(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(20);
  }
}
