/**
 * RabbitMQ interop: a client that is not sluice (Debian's Python pika, test/interop/amqp/client.py,
 * written from docs/wire-protocol.md (RabbitMQ)) sends to sluice queues, consumes from them, acks, retries
 * and dead-letters as the document says, and reads the dead-letter queue. Every message is counted:
 * each test ends with every queue it used empty, then deletes them (delay and key marker queues too).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AmqpDelivery, AmqpQueueOptions } from '../../src/transports/amqp/index.js';
import { AmqpQueue } from '../../src/transports/amqp/index.js';
import { sleep } from '../support/async.js';
import { brokerAvailable } from '../support/broker.js';
import { expectNothing, receive } from '../support/deliveries.js';
import { pythonModuleAvailable, runPython } from '../support/python.js';
import { AMQP_URL, deleteQueues, leaseRabbit, withConnection } from '../transports/amqp-harness.js';

const up = await brokerAvailable('rabbitmq');
const pika = up && (await pythonModuleAvailable('pika', 'python3-pika'));
const client = readFileSync(new URL('./amqp/client.py', import.meta.url), 'utf8');

interface Numbered {
  n: number;
}

interface Foreign {
  body: string;
  priority?: number;
  message_id?: string;
  delay?: number;
  key?: string;
  key_timeout?: number;
}

interface Consumed {
  body: string;
  priority: number | null;
  message_id: string | null;
  headers: Record<string, string>;
  redelivered: boolean;
  at: number;
}

type Settle = 'ack' | 'ack-keep-key' | 'retry' | 'dead-letter' | 'requeue';

async function python<R>(command: object): Promise<R> {
  const { stdout } = await runPython(client, [JSON.stringify(command)]);
  return JSON.parse(stdout) as R;
}

/** Publishes as the document says; resolves whether each was sent or held back by its key. */
function publish(queue: string, messages: Foreign[]): Promise<{ result: 'sent' | 'held'; at: number }[]> {
  return python({ op: 'publish', queue, messages });
}

/** Takes `count` messages (waiting up to `timeout` s) and settles each as `settle` says. */
function consume(
  queue: string,
  count: number,
  settle: Settle,
  extra: { timeout?: number; delay?: number; reason?: string; hold?: number } = {},
): Promise<Consumed[]> {
  return python({ op: 'consume', queue, count, settle, timeout: 10, ...extra });
}

const envelope = (body: string) => JSON.parse(body) as { id: string; attempt?: number; payload: unknown };
const derivedId = (body: string) => `sha256:${createHash('sha256').update(body).digest('hex').slice(0, 32)}`;

describe.runIf(pika)('RabbitMQ interop with Python pika', () => {
  let release: () => void = () => {};
  beforeAll(async () => {
    release = await leaseRabbit();
  }, 130_000);
  afterAll(() => release());

  const opened: AmqpQueue<unknown>[] = [];
  const created: string[] = [];

  /** A queue name for this test; the queue, its dead-letter queue and `extra` are deleted after it. */
  function queueName(label: string, ...extra: string[]): string {
    const name = `sluice-interop-${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    created.push(name, `${name}.dead`, ...extra.map((suffix) => `${name}${suffix}`));
    return name;
  }

  function open<T>(name: string, options: AmqpQueueOptions<T> = {}): AmqpQueue<T> {
    const queue = new AmqpQueue<T>(name, { url: AMQP_URL, closeTimeout: 500, ...options });
    opened.push(queue as AmqpQueue<unknown>);
    return queue;
  }

  /** Messages left in each queue: every test ends with none. */
  function counts(...names: string[]): Promise<number[]> {
    return withConnection(async (connection) => {
      const counted: number[] = [];
      for (const name of names) {
        const channel = await connection.createChannel();
        counted.push((await channel.checkQueue(name)).messageCount);
        await channel.close();
      }
      return counted;
    });
  }

  async function exists(name: string): Promise<boolean> {
    return withConnection(async (connection) => {
      const channel = await connection.createChannel();
      channel.on('error', () => {});
      try {
        await channel.checkQueue(name);
        return true;
      } catch {
        return false; // 404: the channel is closed by the broker
      }
    });
  }

  afterEach(async () => {
    await Promise.allSettled(opened.splice(0).map((queue) => queue.close()));
    await deleteQueues(...created.splice(0));
  }, 60_000);

  describe('foreign producer → sluice', () => {
    it('delivers a payload-only envelope and a full one: payload, id, type, attempt and headers', async () => {
      const name = queueName('envelopes');
      const bare = JSON.stringify({ payload: { n: 1 } });
      const full = JSON.stringify({
        id: 'py-full',
        type: 'numbered',
        attempt: 1,
        headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
        payload: { n: 2, type: 'numbered' },
      });
      await publish(name, [{ body: bare }, { body: full }]);
      const deliveries = (await receive(open<Numbered>(name), 2)) as AmqpDelivery<Numbered>[];
      await Promise.all(deliveries.map((d) => d.ack()));
      expect(deliveries.map((d) => [d.message, d.id, d.attempt, d.headers])).toEqual([
        [{ n: 1 }, derivedId(bare), 1, {}],
        [
          { n: 2, type: 'numbered' },
          'py-full',
          1,
          { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
        ],
      ]);
      expect(await counts(name)).toEqual([0]);
    });

    it('takes the id of an envelope without one from message_id, and keeps it in retries and the dead letter', async () => {
      const name = queueName('message-id', '.delay.20');
      await publish(name, [{ body: JSON.stringify({ payload: { n: 1 } }), message_id: 'py-7' }]);
      const queue = open<Numbered>(name, { maxAttempts: 2, backoff: { type: 'fixed', delay: 20 } });
      const [first] = (await receive(queue, 1)) as AmqpDelivery<Numbered>[];
      expect([first!.id, first!.attempt]).toEqual(['py-7', 1]);
      await first!.nack({ error: new Error('try again') });
      const [second] = (await receive(queue, 1)) as AmqpDelivery<Numbered>[];
      expect([second!.id, second!.attempt, second!.message]).toEqual(['py-7', 2, { n: 1 }]);
      await second!.nack({ error: new Error('gave up') });

      const [dead] = await consume(`${name}.dead`, 1, 'ack');
      expect(dead!.headers['x-sluice-reason']).toBe('failed 2 of 2 attempts: gave up');
      expect(envelope(dead!.body)).toMatchObject({ id: 'py-7', attempt: 2, payload: { n: 1 } });
      expect(await counts(name, `${name}.dead`)).toEqual([0, 0]);
    });

    it('dead-letters a body that is not JSON with its reason, never handing it out', async () => {
      const name = queueName('not-json');
      await publish(name, [{ body: 'not json {', message_id: 'py-raw' }, { body: '{"payload":{"n":1}}' }]);
      const queue = open<Numbered>(name);
      const [good] = await receive(queue, 1);
      expect(good!.message).toEqual({ n: 1 });
      await good!.ack();
      await expectNothing(queue, 300);

      const [dead] = await consume(`${name}.dead`, 1, 'ack');
      expect(dead!.headers['x-sluice-reason']).toMatch(/^undecodable body: /);
      expect(envelope(dead!.body)).toMatchObject({ id: 'py-raw', payload: 'not json {' });
      expect(await counts(name, `${name}.dead`)).toEqual([0, 0]);
    });

    it('delivers a higher AMQP priority first (5 is sluice priority 0)', async () => {
      const name = queueName('priorities');
      const priorities = [0, 10, 5, 7, 3];
      await publish(
        name,
        priorities.map((priority) => ({ body: JSON.stringify({ payload: { n: priority } }), priority })),
      );
      const deliveries = await receive(open<Numbered>(name), priorities.length);
      await Promise.all(deliveries.map((d) => d.ack()));
      expect(deliveries.map((d) => d.message.n)).toEqual([10, 7, 5, 3, 0]);
      expect(await counts(name)).toEqual([0]);
    });

    it('delivers a delayed message through the delay queue of its delay, not before it', async () => {
      const name = queueName('delays', '.delay.1500', '.delay.700');
      const sent = await publish(name, [
        { body: JSON.stringify({ payload: { n: 1500 } }), delay: 1500 },
        { body: JSON.stringify({ payload: { n: 700 } }), delay: 700 },
        { body: JSON.stringify({ payload: { n: 0 } }) },
      ]);
      const queue = open<Numbered>(name);
      const iterator = queue[Symbol.asyncIterator]();
      const arrived: [number, number][] = [];
      for (let i = 0; i < 3; i++) {
        const delivery = (await iterator.next()).value as AmqpDelivery<Numbered>;
        arrived.push([delivery.message.n, Date.now()]);
        await delivery.ack();
      }
      await iterator.return!();
      expect(arrived.map(([n]) => n)).toEqual([0, 700, 1500]);
      // Sent in the order 1500, 700, 0: each arrived no sooner than its delay after its publish.
      for (const [index, [delay, at]] of arrived.entries()) {
        expect(at - sent[2 - index]!.at).toBeGreaterThanOrEqual(delay);
      }
      expect(await counts(name, `${name}.delay.1500`, `${name}.delay.700`)).toEqual([0, 0, 0]);
    });

    it('delivers two messages that reuse one envelope id, both of them', async () => {
      const name = queueName('reused-id', '.delay.20');
      await publish(name, [
        { body: JSON.stringify({ id: 'same', payload: { n: 1 } }) },
        { body: JSON.stringify({ id: 'same', payload: { n: 2 } }) },
      ]);
      const queue = open<Numbered>(name, { backoff: { type: 'fixed', delay: 20 } });
      const [one, two] = (await receive(queue, 2)) as AmqpDelivery<Numbered>[];
      await one!.nack({ error: new Error('once more') });
      await two!.ack();
      const [again] = (await receive(queue, 1)) as AmqpDelivery<Numbered>[];
      await again!.ack();
      expect([one, two, again].map((d) => [d!.id, d!.message.n, d!.attempt])).toEqual([
        ['same', 1, 1],
        ['same', 2, 1],
        ['same', 1, 2],
      ]);
      expect(await counts(name)).toEqual([0]);
    });

    it('takes a key as the document says: held until sluice acks the keyed message, then free', async () => {
      const name = queueName('foreign-key', '.key.order-1');
      const body = (n: number) => JSON.stringify({ payload: { n } });
      expect(
        (
          await publish(name, [
            { body: body(1), key: 'order-1' },
            { body: body(2), key: 'order-1' },
          ])
        ).map((r) => r.result),
      ).toEqual(['sent', 'held']);
      const queue = open<Numbered>(name);
      await queue.send({ n: 3 }, { key: 'order-1' }); // sluice sees the key held too: not stored
      const [keyed] = await receive(queue, 1);
      expect(keyed!.message).toEqual({ n: 1 });
      await expectNothing(queue, 300);
      await keyed!.ack(); // deletes the key's marker
      expect(await exists(`${name}.key.order-1`)).toBe(false);
      expect((await publish(name, [{ body: body(4), key: 'order-1' }])).map((r) => r.result)).toEqual([
        'sent',
      ]);
      const [again] = await receive(queue, 1);
      expect(again!.message).toEqual({ n: 4 });
      await again!.ack();
      expect(await counts(name)).toEqual([0]);
    });

    it('keeps a key Python took again once its first marker expired: sluice reads x-sluice-key-until', async () => {
      const name = queueName('foreign-key-until', '.key.k');
      const body = (n: number) => JSON.stringify({ payload: { n } });
      const results = async (messages: Foreign[]) => (await publish(name, messages)).map((r) => r.result);
      expect(await results([{ body: body(1), key: 'k', key_timeout: 200 }])).toEqual(['sent']);
      const queue = open<Numbered>(name);
      const [first] = await receive(queue, 1);
      await sleep(400); // its marker expired
      expect(await results([{ body: body(2), key: 'k' }])).toEqual(['sent']); // the key taken again
      await first!.ack(); // past its x-sluice-key-until: leaves n 2's marker alone
      expect(await results([{ body: body(3), key: 'k' }])).toEqual(['held']);
      const [second] = await receive(queue, 1);
      expect(second!.message).toEqual({ n: 2 });
      await expectNothing(queue, 200);
      await second!.ack();
      expect(await counts(name)).toEqual([0]);
    });
  });

  describe('sluice → foreign consumer', () => {
    it('lets Python read every message with its AMQP priority, delayed ones once due, and ack them', async () => {
      const name = queueName('read', '.delay.400', '.delay.800');
      const queue = open<Numbered>(name);
      const sentAt = new Map<number, number>();
      const sends: [Numbered, Parameters<AmqpQueue<Numbered>['send']>[1]][] = [
        [{ n: 1 }, { priority: -5 }],
        [{ n: 2 }, { priority: 5 }],
        [{ n: 3 }, undefined],
        [{ n: 4 }, { delay: 800 }],
        [{ n: 5 }, { priority: 2, delay: 400 }],
      ];
      for (const [message, options] of sends) {
        sentAt.set(message.n, Date.now());
        await queue.send(message, options);
      }
      const read = await consume(name, sends.length, 'ack');
      const byN = new Map(read.map((m) => [(envelope(m.body).payload as Numbered).n, m]));
      expect([...byN.keys()].sort()).toEqual([1, 2, 3, 4, 5]);
      expect([1, 2, 3, 4, 5].map((n) => byN.get(n)!.priority)).toEqual([0, 10, 5, 5, 7]);
      const immediate = read.map((m) => (envelope(m.body).payload as Numbered).n).filter((n) => n <= 3);
      expect(immediate).toEqual([2, 3, 1]);
      expect(byN.get(4)!.at - sentAt.get(4)!).toBeGreaterThanOrEqual(800);
      expect(byN.get(5)!.at - sentAt.get(5)!).toBeGreaterThanOrEqual(400);
      for (const m of read) expect(envelope(m.body).id).toEqual(expect.any(String));
      expect(await counts(name, `${name}.delay.400`, `${name}.delay.800`)).toEqual([0, 0, 0]);
    });

    it('releases a key when Python acks as the document says: a later keyed send stores again', async () => {
      const name = queueName('release-key', '.key.k');
      const queue = open<Numbered>(name);
      await queue.send({ n: 1 }, { key: 'k' });
      await queue.send({ n: 2 }, { key: 'k' }); // held: deduplicated
      const [first] = await consume(name, 1, 'ack');
      expect(first!.headers['x-sluice-key']).toBe('k');
      expect(await exists(`${name}.key.k`)).toBe(false);
      await queue.send({ n: 3 }, { key: 'k' });
      const [second] = await consume(name, 1, 'ack');
      expect([first, second].map((m) => envelope(m!.body).payload)).toEqual([{ n: 1 }, { n: 3 }]);
      expect(await counts(name)).toEqual([0]);
    });

    it('lets Python leave alone a key taken again once the marker of the message it acks expired', async () => {
      const name = queueName('key-until', '.key.k');
      const brief = open<Numbered>(name, { keyTimeout: 200 });
      const lasting = open<Numbered>(name);
      await brief.send({ n: 1 }, { key: 'k' });
      const reading = consume(name, 1, 'ack', { hold: 1_500 }); // acks n 1 well after its marker expired
      await sleep(400);
      await lasting.send({ n: 2 }, { key: 'k' }); // the key taken again
      const [first] = await reading;
      expect(first!.headers['x-sluice-key']).toBe('k');
      await lasting.send({ n: 3 }, { key: 'k' }); // still held by n 2: not stored
      const rest = await consume(name, 2, 'ack', { timeout: 1 });
      expect([first, ...rest].map((m) => envelope(m!.body).payload)).toEqual([{ n: 1 }, { n: 2 }]);
      expect(await exists(`${name}.key.k`)).toBe(false);
      expect(await counts(name)).toEqual([0]);
    });

    it('frees a key its consumer never released after keyTimeout', async () => {
      const name = queueName('key-timeout', '.key.k');
      const queue = open<Numbered>(name, { keyTimeout: 2_000 });
      const sent = Date.now();
      await queue.send({ n: 1 }, { key: 'k' });
      await consume(name, 1, 'ack-keep-key'); // acked without deleting the marker
      await queue.send({ n: 2 }, { key: 'k' }); // still held: not stored
      await sleep(Math.max(0, sent + 2_300 - Date.now()));
      await queue.send({ n: 3 }, { key: 'k' }); // the marker expired: stored
      const [later] = await consume(name, 1, 'ack');
      expect(envelope(later!.body).payload).toEqual({ n: 3 });
      expect(await counts(name)).toEqual([0]);
    });

    it('lets Python retry as the document says: sluice gets attempt + 1 with the same id, the key still held', async () => {
      const name = queueName('foreign-retry', '.delay.200', '.key.k');
      const queue = open<Numbered>(name);
      await queue.send({ n: 1 }, { key: 'k' });
      const [read] = await consume(name, 1, 'retry', { delay: 200 });
      await queue.send({ n: 2 }, { key: 'k' }); // the retry holds the key: not stored
      const [retried] = (await receive(queue, 1)) as AmqpDelivery<Numbered>[];
      expect([retried!.message, retried!.attempt, retried!.id]).toEqual([
        { n: 1 },
        2,
        envelope(read!.body).id,
      ]);
      await retried!.ack(); // releases the key
      await expectNothing(queue, 200);
      expect(await exists(`${name}.key.k`)).toBe(false);

      // A requeue (basic.nack) instead: sluice counts the redelivery as an attempt.
      await queue.send({ n: 3 });
      await consume(name, 1, 'requeue');
      const [requeued] = await receive(queue, 1);
      expect([requeued!.message, requeued!.attempt]).toEqual([{ n: 3 }, 2]);
      await requeued!.ack();
      expect(await counts(name, `${name}.delay.200`)).toEqual([0, 0]);
    });

    it('dead-letters into a queue Python reads with the reason, the id kept', async () => {
      const name = queueName('dead');
      const queue = open<Numbered>(name, { maxAttempts: 1 });
      await queue.send({ n: 1 });
      await queue.send({ n: 2 });
      const [one, two] = (await receive(queue, 2)) as AmqpDelivery<Numbered>[];
      await one!.nack({ requeue: false, error: new TypeError('bad input') });
      await two!.nack({ error: new Error('boom') });
      const dead = await consume(`${name}.dead`, 2, 'ack');
      const reasons = Object.fromEntries(
        dead.map((m) => [envelope(m.body).id, m.headers['x-sluice-reason']]),
      );
      expect(reasons).toEqual({
        [one!.id]: 'rejected: TypeError: bad input',
        [two!.id]: 'failed 1 of 1 attempts: boom',
      });
      expect(await counts(name, `${name}.dead`)).toEqual([0, 0]);
    });

    it('reads in sluice a message Python dead-lettered as the document says, with its reason', async () => {
      const name = queueName('foreign-dead');
      const queue = open<Numbered>(name);
      await queue.send({ n: 1 }, { key: 'k' });
      await consume(name, 1, 'dead-letter', { reason: 'rejected: not for us' });
      expect(await exists(`${name}.key.k`)).toBe(false);
      const [corpse] = (await receive(open<Numbered>(`${name}.dead`), 1)) as AmqpDelivery<Numbered>[];
      expect([corpse!.message, corpse!.deadLetterReason]).toEqual([{ n: 1 }, 'rejected: not for us']);
      await corpse!.ack();
      expect(await counts(name, `${name}.dead`)).toEqual([0, 0]);
    });
  });
});
