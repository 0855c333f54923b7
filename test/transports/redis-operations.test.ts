import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { OperableQueue } from '../../src/queuing/operations.js';
import { queueNames, RedisJobStore, RedisQueue } from '../../src/transports/redis/index.js';
import { GROUP, pausedKey, streamKey } from '../../src/transports/redis/keys.js';
import { operationsSuite } from '../conformance/operations.js';
import { statsBecome } from '../conformance/operations-support.js';
import { sleep } from '../support/async.js';
import { brokerAvailable } from '../support/broker.js';
import { expectNothing, receive } from '../support/deliveries.js';
import { lockRedis, purge, REDIS_URL, redisHarness, withRedis } from './redis-harness.js';

const up = await brokerAvailable('redis');

describe.runIf(up)('RedisQueue operations', () => {
  let release: () => void = () => {};
  beforeAll(async () => {
    release = await lockRedis();
  }, 250_000);
  afterAll(() => release());

  operationsSuite(redisHarness);

  describe('on Redis', () => {
    const opened: RedisQueue<unknown>[] = [];
    const names: string[] = [];
    function queueName(label: string): string {
      const name = `sluice-redis-ops-${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
      names.push(name);
      return name;
    }
    function open<T>(name: string, options: { maxAttempts?: number } = {}): OperableQueue<T> & RedisQueue<T> {
      const queue = new RedisQueue<T>(name, { url: REDIS_URL, closeTimeout: 1_000, ...options });
      opened.push(queue as RedisQueue<unknown>);
      return queue;
    }
    afterEach(async () => {
      await Promise.allSettled(opened.splice(0).map((queue) => queue.close()));
      await Promise.all(names.splice(0).map((name) => purge(name)));
    });

    it('pauses with the key sluice:{<q>}:paused, which another handle sees, and a foreign XADD is still stored', async () => {
      const name = queueName('key');
      const operator = open<{ n: number }>(name);
      await operator.pause();
      expect(await withRedis((redis) => redis.exists(pausedKey(name)))).toBe(1);
      expect((await open(name).stats()).paused).toBe(true);

      const body = JSON.stringify({ id: 'foreign-1', payload: { n: 1 } });
      await withRedis((redis) => redis.xadd(streamKey(name), '*', 'body', body));
      await statsBecome(operator, { ready: 1, paused: true });
      await expectNothing(open(name), 1_500);

      await operator.resume();
      expect(await withRedis((redis) => redis.exists(pausedKey(name)))).toBe(0);
      const [delivery] = await receive(open<{ n: number }>(name), 1);
      expect([delivery!.id, delivery!.message]).toEqual(['foreign-1', { n: 1 }]);
      await delivery!.ack();
    });

    it('a paused consumer asks Redis about twice a second, not in a busy loop, and takes messages once resumed', async () => {
      const name = queueName('poll');
      const client = new Redis(REDIS_URL);
      try {
        const queue = new RedisQueue<{ n: number }>(name, { client, closeTimeout: 1_000 });
        opened.push(queue as RedisQueue<unknown>);
        await queue.pause();
        await queue.send({ n: 1 });
        const scripts = client as unknown as { sluiceTake: (...args: unknown[]) => Promise<unknown> };
        const take = scripts.sluiceTake.bind(client);
        let rounds = 0;
        scripts.sluiceTake = (...args) => {
          rounds++;
          return take(...args);
        };
        const iterator = queue[Symbol.asyncIterator]();
        const next = iterator.next();
        await sleep(2_000);
        expect(rounds).toBeGreaterThan(0);
        expect(rounds).toBeLessThan(20);
        await queue.resume();
        const { value } = await next;
        expect(value!.message).toEqual({ n: 1 });
        await value!.ack();
        await iterator.return?.();
        await queue.close();
      } finally {
        client.disconnect();
      }
    });

    it('counts every priority, and stays exact after a nack of the last entry read', async () => {
      const name = queueName('priorities');
      const queue = open<{ n: number }>(name, { maxAttempts: 3 });
      await queue.send({ n: 1 }, { priority: 5 });
      await queue.send({ n: 2 });
      await queue.send({ n: 3 }, { priority: -1 });
      await queue.send({ n: 4 });
      await statsBecome(queue, { ready: 4, inFlight: 0 });
      const [first, second] = await receive(open<{ n: number }>(name), 2);
      expect([first!.message, second!.message]).toEqual([{ n: 1 }, { n: 2 }]);
      await statsBecome(queue, { ready: 2, inFlight: 2 });
      await second!.nack({ delay: 60_000 });
      await statsBecome(queue, { ready: 2, delayed: 1, inFlight: 1 });
      await first!.ack();
      await statsBecome(queue, { ready: 2, delayed: 1, inFlight: 0, dead: 0 });
    });

    it('keeps dead letters of every priority in one list, oldest first, and redrives them with their priority', async () => {
      const name = queueName('bands');
      const queue = open<{ n: number }>(name, { maxAttempts: 1 });
      for (const [n, priority] of [
        [1, 3],
        [2, 0],
        [3, -2],
      ] as const) {
        await queue.send({ n }, { priority });
        const [delivery] = await receive(queue, 1);
        await delivery!.nack({ requeue: false });
        await sleep(5);
      }
      await statsBecome(queue, { dead: 3 });
      const letters = await queue.deadLetters();
      expect(letters.map((l) => l.message.n)).toEqual([1, 2, 3]);
      // A handle that has not shown them finds the letters by reading the dead-letter queue.
      const fresh = open<{ n: number }>(name);
      expect((await fresh.deadLetters({ after: letters[0]!.id })).map((l) => l.message.n)).toEqual([2, 3]);
      await expect(open(name).deadLetters({ after: 'no-such-letter' })).rejects.toThrow(/after/);

      expect(await queue.redrive()).toBe(3);
      await statsBecome(queue, { ready: 3, dead: 0 });
      const deliveries = await receive(queue, 3);
      expect(deliveries.map((d) => d.message.n)).toEqual([1, 2, 3]); // priority 3, 0, -2
      await Promise.all(deliveries.map((d) => d.ack()));
    });

    it('declare makes the streams and groups, and queueNames finds the queue', async () => {
      const name = queueName('declare');
      await open(name).declare();
      await open(name).declare(); // again: no error
      for (const queue of [name, `${name}.dead`]) {
        const groups = (await withRedis((redis) => redis.xinfo('GROUPS', streamKey(queue)))) as unknown[][];
        expect(groups.map((group) => group[1])).toEqual([GROUP]);
      }
      const found = await queueNames({ url: REDIS_URL });
      expect(found).toContain(name);
      expect(found).toContain(`${name}.dead`);
      expect(found).toEqual([...found].sort());
    });
  });

  describe('RedisJobStore.recentFailures', () => {
    const namespace = `sluice-failures-${process.pid}`;
    afterEach(async () => {
      await withRedis(async (redis) => {
        const keys = await redis.keys(`sluice-jobs:{${namespace}}:*`);
        await redis.del(`sluice-jobs-failures:{${namespace}}`, ...keys);
      });
    });

    it('lists the failed, timed out and cancelled jobs, most recently ended first, skipping expired ones', async () => {
      const store = new RedisJobStore({ url: REDIS_URL, name: namespace });
      try {
        const ends = ['success', 'failed', 'timeout', 'cancelled', 'failed'] as const;
        for (const [i, status] of ends.entries()) {
          const id = `job-${i}`;
          await store.create({ id, task: 't', args: [i], status: 'pending', createdAt: Date.now() });
          await store.start(id, { id, task: 't', args: [i], status: 'pending', createdAt: Date.now() });
          await store.finish(
            id,
            status === 'success' ? { status } : { status, error: { name: 'Error', message: status } },
          );
          await sleep(3);
        }
        expect((await store.recentFailures()).map((job) => [job.id, job.status])).toEqual([
          ['job-4', 'failed'],
          ['job-3', 'cancelled'],
          ['job-2', 'timeout'],
          ['job-1', 'failed'],
        ]);
        expect((await store.recentFailures({ limit: 2 })).map((job) => job.id)).toEqual(['job-4', 'job-3']);
        await store.remove('job-3'); // as its retention running out would
        expect((await store.recentFailures({ limit: 2 })).map((job) => job.id)).toEqual(['job-4', 'job-2']);
        await expect(store.recentFailures({ limit: 0 })).rejects.toThrow(/limit/);
      } finally {
        await store.close();
      }
    });
  });
});
