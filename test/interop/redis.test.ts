/**
 * Interop with a program that is not sluice: Python (Debian's python3-redis) speaking the wire
 * protocol of docs/wire-protocol.md (Redis) through test/interop/redis/sluice_redis.py, which runs the
 * scripts of that page. Both directions, the dead-letter queue included; every message is counted.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { RedisDelivery } from '../../src/transports/redis/index.js';
import { bandKey, streamKey } from '../../src/transports/redis/keys.js';
import * as protocol from '../../src/transports/redis/protocol.js';
import { brokerAvailable } from '../support/broker.js';
import { expectNothing, receive } from '../support/deliveries.js';
import { pythonModuleAvailable, runPython } from '../support/python.js';
import { redisQueues } from '../transports/redis-fixture.js';
import { withRedis } from '../transports/redis-harness.js';

const document = fileURLToPath(new URL('../../docs/wire-protocol.md', import.meta.url));
const library = fileURLToPath(new URL('./redis/', import.meta.url));

describe('docs/wire-protocol.md, Redis', () => {
  it('shows the scripts sluice runs, verbatim, in the order the Python client reads them', () => {
    const blocks = [...readFileSync(document, 'utf8').matchAll(/```lua\n([\s\S]*?)```/g)].map((m) => m[1]);
    const { PRELUDE, SEND, PROMOTE, ACK, NACK, DEAD_LETTER } = protocol;
    expect(blocks).toEqual([PRELUDE, SEND, PROMOTE, ACK, NACK, DEAD_LETTER]);
  });
});

const up = (await brokerAvailable('redis')) && (await pythonModuleAvailable('redis', 'python3-redis'));

/** A summary of a message as the Python side read it (Message.summary). */
interface Read {
  payload: unknown;
  id: string;
  attempt: number;
  priority: string;
  headers: Record<string, unknown>;
  reason: string | null;
  fields: string[];
  at: number;
}

describe.runIf(up)('Redis interop with Python (redis-py)', () => {
  const { queueName, open } = redisQueues('sluice-interop');

  /** Runs `code` with `q`, the Python client on queue `name`; returns what it printed as JSON. */
  async function python<R>(name: string, code: string): Promise<R> {
    const script = [
      'import json, sys, time',
      `sys.path.insert(0, ${JSON.stringify(library)})`,
      'from sluice_redis import Queue',
      'q = Queue(sys.argv[2], sys.argv[1])',
      code,
    ].join('\n');
    const { stdout } = await runPython(script, [document, name]);
    return JSON.parse(stdout) as R;
  }

  describe('Python sends, sluice receives', () => {
    it('a payload-only envelope, a full one, and two messages with one id: all arrive, ids and headers kept', async () => {
      const name = queueName('envelopes');
      const entryId = await python<string>(
        name,
        `first = q.xadd(json.dumps({'payload': {'n': 1}}))
q.xadd(json.dumps({'id': 'py-1', 'type': 'orders.place', 'attempt': 1,
                   'headers': {'traceparent': '00-abc-def-01'}, 'payload': {'n': 2}}))
q.xadd(json.dumps({'id': 'reused', 'payload': {'n': 3}}))
q.xadd(json.dumps({'id': 'reused', 'payload': {'n': 4}}))
print(json.dumps(first))`,
      );
      const queue = open<{ n: number }>(name);
      const deliveries = (await receive(queue, 4)) as RedisDelivery<{ n: number }>[];
      expect(deliveries.map((d) => [d.message.n, d.id, d.headers, d.attempt])).toEqual([
        [1, entryId, {}, 1],
        [2, 'py-1', { traceparent: '00-abc-def-01' }, 1],
        [3, 'reused', {}, 1],
        [4, 'reused', {}, 1],
      ]);
      await Promise.all(deliveries.map((d) => d.ack()));
      await expectNothing(queue, 300);
    });

    it('a body that is not JSON goes to the dead-letter queue with its reason, never to a consumer', async () => {
      const name = queueName('garbage');
      await python(name, `q.xadd('not json {')\nq.xadd(json.dumps({'payload': 'fine'}))\nprint(1)`);
      const queue = open<string>(name);
      const [fine] = await receive(queue, 1);
      expect(fine!.message).toBe('fine');
      await fine!.ack();
      await expectNothing(queue, 300);
      const [corpse] = (await receive(open<string>(`${name}.dead`), 1)) as RedisDelivery<string>[];
      expect(corpse!.message).toBe('not json {');
      expect(corpse!.deadLetterReason).toMatch(/^undecodable body: /);
      await corpse!.ack();
    });

    it('priorities, a delay and a dedup key through the send script: in order, on time, one copy', async () => {
      const name = queueName('options');
      const { stored, delayedAt } = await python<{ stored: number[]; delayedAt: number }>(
        name,
        `stored = [q.send(json.dumps({'payload': n}), priority) for n, priority in
          [(1, 1), (2, 5), (3, -2), (4, 1), (5, 0), (6, 2.5)]]
delayed_at = time.time() * 1000
stored.append(q.send(json.dumps({'payload': 7}), 9, 1500))
stored.append(q.send(json.dumps({'payload': 8}), 0, 0, 'order-8'))
stored.append(q.send(json.dumps({'payload': 9}), 0, 0, 'order-8'))
print(json.dumps({'stored': stored, 'delayedAt': delayed_at}))`,
      );
      expect(stored).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 0]);
      const queue = open<number>(name);
      const ready = await receive(queue, 7);
      expect(ready.map((d) => d.message)).toEqual([2, 6, 1, 4, 5, 8, 3]);
      const [delayed] = await receive(queue, 1);
      expect(delayed!.message).toBe(7);
      expect(Date.now()).toBeGreaterThanOrEqual(delayedAt + 1_490);
      await Promise.all([...ready, delayed!].map((d) => d.ack()));
      await expectNothing(queue, 300);
    });

    it('Python nacks and dead-letters per the document: sluice sees the retry and the dead letter', async () => {
      const name = queueName('settle');
      const producer = open<string>(name);
      await producer.send('retry me');
      await producer.send('kill me');
      const ids = await python<string[]>(
        name,
        `q.create_group()
retry, kill = q.receive(2)
assert q.nack(retry, 0) == 1 and q.dead_letter(kill, 'rejected: bad sku', sys.argv[2] + '.dead') == 1
print(json.dumps([retry.id, kill.id]))`,
      );
      const [again] = (await receive(open<string>(name), 1)) as RedisDelivery<string>[];
      expect([again!.message, again!.attempt, again!.id]).toEqual(['retry me', 2, ids[0]]);
      await again!.ack();
      const [corpse] = (await receive(open<string>(`${name}.dead`), 1)) as RedisDelivery<string>[];
      expect([corpse!.message, corpse!.id, corpse!.deadLetterReason]).toEqual([
        'kill me',
        ids[1],
        'rejected: bad sku',
      ]);
      await corpse!.ack();
    });
  });

  describe('sluice sends, Python receives', () => {
    it('every message in priority order, delayed ones when due; acks leave nothing and release the key', async () => {
      const name = queueName('consume');
      const queue = open<number>(name);
      const sentAt = Date.now();
      await queue.send(1);
      await queue.send(2);
      await queue.send(3, { priority: 3 });
      await queue.send(4, { priority: -1 });
      await queue.send(5, { delay: 1_500 });
      await queue.send(6, { priority: 2, delay: 1_000 });
      await queue.send(7, { key: 'order-7' });
      await queue.send(8, { key: 'order-7' }); // a duplicate while 7 is in the queue: not stored
      const read = await python<Read[]>(
        name,
        `q.create_group()
got = []
for message in q.receive(7):
    got.append(message.summary())
    assert q.ack(message) == 1
print(json.dumps(got))`,
      );
      expect(read.map((r) => r.payload)).toEqual([3, 1, 2, 7, 4, 6, 5]);
      expect(read.map((r) => r.priority)).toEqual(['3', '0', '0', '0', '-1', '2', '0']);
      expect(read.every((r) => r.attempt === 1 && r.id.length > 0 && r.fields.includes('body'))).toBe(true);
      expect(new Set(read.map((r) => r.id)).size).toBe(7);
      expect(read[5]!.at).toBeGreaterThanOrEqual(sentAt + 990);
      expect(read[6]!.at).toBeGreaterThanOrEqual(sentAt + 1_490);
      await withRedis(async (redis) => {
        for (const band of ['0', '3', '-1', '2'])
          expect(await redis.xlen(bandKey(streamKey(name), band))).toBe(0);
        expect(await redis.exists(`sluice:{${name}}:key:order-7`)).toBe(0);
      });
      await queue.send(9, { key: 'order-7' }); // released by the Python ack: stored again
      const [again] = await receive(open<number>(name), 1);
      expect(again!.message).toBe(9);
      await again!.ack();
    });

    it('the dead-letter queue, read from Python, holds each dead message with its reason', async () => {
      const name = queueName('dead');
      const queue = open<string>(name, { maxAttempts: 1 });
      await queue.send('poison');
      await withRedis((redis) => redis.xadd(streamKey(name), '*', 'body', 'not json'));
      const [poison] = (await receive(queue, 1)) as RedisDelivery<string>[];
      await poison!.nack({ error: new Error('cannot parse invoice') });
      await expectNothing(queue, 300); // fetches the body that is not JSON, which is dead-lettered
      const read = await python<Read[]>(
        `${name}.dead`,
        `got = []
for message in q.receive(2):
    got.append(message.summary())
    assert q.ack(message) == 1
print(json.dumps(got))`,
      );
      const byPayload = new Map(read.map((r) => [r.payload, r]));
      expect(read).toHaveLength(2);
      expect(byPayload.get('poison')).toMatchObject({
        id: poison!.id,
        reason: 'failed 1 of 1 attempts: cannot parse invoice',
      });
      expect(byPayload.get('not json')?.reason).toMatch(/^undecodable body: /);
      expect(read.every((r) => r.fields.includes('queue'))).toBe(true);
    });
  });
});
