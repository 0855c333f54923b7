/**
 * Flow control on RedisQueue, what the shared flow suite (redis-flow.test.ts) cannot see: the keys
 * grouped messages live in (docs/wire-protocol.md (Redis)), a consumer that vanished while holding a
 * group's slot, and the operator face on grouped messages.
 */
import { describe, expect, it } from 'vitest';
import type { RedisDelivery, RedisQueue } from '../../src/transports/redis/index.js';
import { streamKey } from '../../src/transports/redis/keys.js';
import { withScripts } from '../../src/transports/redis/scripts.js';
import { brokerAvailable } from '../support/broker.js';
import { expectNothing, receive } from '../support/deliveries.js';
import { redisQueues } from './redis-fixture.js';
import { withRedis } from './redis-harness.js';

const up = await brokerAvailable('redis');

/** The queue's keys, without its `sluice:{<name>}:` prefix. */
function keysOf(name: string): Promise<string[]> {
  return withRedis(async (redis) => {
    const prefix = `sluice:{${name}}:`;
    const keys = await redis.keys(`${prefix}*`);
    return keys.map((key) => key.slice(prefix.length)).sort();
  });
}

const FLOW_KEYS = /^(ring|parked|inflight|group-delayed|group:|rate)/;

/**
 * Takes deliveries one `next()` at a time from an iterator that applies `groupConcurrency: cap` and
 * a rate limit, so that the handle reads nothing ahead.
 */
async function takeLimited<T>(queue: RedisQueue<T>, count: number, cap: number): Promise<RedisDelivery<T>[]> {
  const iterator = queue[Symbol.asyncIterator]() as AsyncIterator<RedisDelivery<T>> & {
    flow(limits: object): void;
  };
  iterator.flow({ groupConcurrency: cap, rateLimit: { limit: 1_000, interval: 1_000 } });
  const taken: RedisDelivery<T>[] = [];
  while (taken.length < count) {
    const next = await iterator.next();
    taken.push(next.value as RedisDelivery<T>);
  }
  return taken;
}

describe.runIf(up)('RedisQueue flow control (Redis specifics)', () => {
  const { queueName, open } = redisQueues('sluice-redis-flow');

  it('gives back the slot a vanished consumer held once its lease runs out; its message rejoins the group', async () => {
    const name = queueName('vanished');
    const queue = open<number>(name, { visibilityTimeout: 1_000 });
    await queue.send(1, { group: 'g' });
    await queue.send(2, { group: 'g' });
    // A consumer that takes one message of group g under a cap of 1, then never heartbeats.
    const [, , taken] = await withRedis((redis) =>
      withScripts(redis).sluiceFlowTake(streamKey(name), 'vanished', 1, 1, 0, 0, 1),
    );
    expect(taken).toHaveLength(1);
    expect(await withRedis((redis) => redis.hget(`sluice:{${name}}:inflight`, 'g'))).toBe('1');

    const iterator = queue[Symbol.asyncIterator]() as AsyncIterator<RedisDelivery<number>> & {
      flow(limits: object): void;
    };
    iterator.flow({ groupConcurrency: 1 });
    const first = iterator.next();
    // Well within the visibility timeout: the slot is still the vanished consumer's.
    expect(await Promise.race([first, new Promise((resolve) => setTimeout(resolve, 300, 'none'))])).toBe(
      'none',
    );
    const second = (await first).value as RedisDelivery<number>;
    expect([second.message, second.attempt, second.group]).toEqual([2, 1, 'g']);
    await second.ack();
    const again = (await iterator.next()).value as RedisDelivery<number>;
    expect([again.message, again.attempt, again.group]).toEqual([1, 2, 'g']);
    await again.ack();
    await iterator.return?.();
    await expect.poll(() => keysOf(name)).not.toContain('inflight');
  });

  it('purges grouped messages, ready and delayed, releasing their keys and leaving no group key', async () => {
    const name = queueName('purge');
    const queue = open<number>(name);
    await queue.send(1, { group: 'a', key: 'k' });
    await queue.send(2, { group: 'a', priority: 3 });
    await queue.send(3, { group: 'b', delay: 60_000 });
    await queue.send(4);
    expect(await queue.stats()).toMatchObject({ ready: 3, delayed: 1, inFlight: 0 });
    expect(await keysOf(name)).toEqual(expect.arrayContaining(['ring', 'group:a', 'group-delayed']));

    expect(await queue.purge()).toBe(4);
    expect(await queue.stats()).toMatchObject({ ready: 0, delayed: 0, inFlight: 0 });
    expect((await keysOf(name)).filter((key) => FLOW_KEYS.test(key) || key.startsWith('key:'))).toEqual([]);
    await queue.send(5, { group: 'a', key: 'k' }); // the key was released
    const [five] = await receive(queue, 1);
    expect([five!.message, five!.group]).toEqual([5, 'a']);
    await five!.ack();
  });

  it('counts grouped messages in stats, holds them while paused, and keeps a dedup key until the ack', async () => {
    const name = queueName('operator');
    const queue = open<number>(name);
    await queue.send(1, { group: 'a', key: 'once' });
    await queue.send(1, { group: 'a', key: 'once' }); // a duplicate: not stored
    await queue.send(2, { group: 'b' });
    await queue.send(3, { group: 'b', delay: 60_000 });
    expect(await queue.stats()).toMatchObject({ ready: 2, delayed: 1, inFlight: 0 });

    const [first] = await takeLimited(queue, 1, 1);
    expect(await queue.stats()).toMatchObject({ ready: 1, delayed: 1, inFlight: 1 });
    await queue.send(1, { group: 'a', key: 'once' }); // still held by the delivery
    expect(await queue.stats()).toMatchObject({ ready: 1, inFlight: 1 });
    await first!.ack();

    await queue.pause();
    await expectNothing(queue, 1_200);
    await queue.resume();
    const [second] = await receive(queue, 1);
    expect(second!.message).toBe(first!.message === 1 ? 2 : 1);
    await second!.ack();
    await expect.poll(() => queue.stats()).toMatchObject({ ready: 0, delayed: 1, inFlight: 0 });
  });

  it('keeps the group on a dead letter in its entry, and redrives it into its group', async () => {
    const name = queueName('dead');
    const queue = open<number>(name);
    await queue.send(1, { group: 'g', priority: 2 });
    const [delivery] = await receive(queue, 1);
    await delivery!.nack({ requeue: false });
    const letters = await withRedis((redis) => redis.xrange(`${streamKey(`${name}.dead`)}:2`, '-', '+'));
    expect(letters).toHaveLength(1);
    expect(letters[0]![1]).toEqual(expect.arrayContaining(['group', 'g']));

    expect(await queue.redrive()).toBe(1);
    expect(await keysOf(name)).toContain('group:g');
    const [redriven] = await receive(queue, 1);
    expect([redriven!.message, redriven!.group, redriven!.attempt]).toEqual([1, 'g', 1]);
    await redriven!.ack();
  });

  it('adds no flow key for an ungrouped queue without limits, and drops its own once grouped messages are gone', async () => {
    const name = queueName('plain');
    const queue = open<number>(name);
    await queue.send(1);
    const [plain] = await receive(queue, 1);
    await plain!.ack();
    expect((await keysOf(name)).filter((key) => FLOW_KEYS.test(key) || key.endsWith(':flow'))).toEqual([]);

    await queue.send(2, { group: 'g' });
    await queue.send(3);
    const both = await receive(queue, 2);
    expect(both.map((delivery) => delivery.message).sort()).toEqual([2, 3]);
    await Promise.all(both.map((delivery) => delivery.ack()));
    await queue.send(4); // a round finds no grouped message left
    const [four] = await receive(queue, 1);
    await four!.ack();
    await expect.poll(async () => (await keysOf(name)).filter((key) => FLOW_KEYS.test(key))).toEqual([]);
  });

  it('keeps the rate log in Redis, gone one interval after the last hand-out', async () => {
    const name = queueName('rate');
    const queue = open<number>(name);
    await queue.send(1);
    const iterator = queue[Symbol.asyncIterator]() as AsyncIterator<RedisDelivery<number>> & {
      flow(limits: object): void;
    };
    iterator.flow({ rateLimit: { limit: 5, interval: 400 } });
    const delivery = (await iterator.next()).value as RedisDelivery<number>;
    await delivery.ack();
    await iterator.return?.();
    expect(await keysOf(name)).toEqual(expect.arrayContaining(['rate', 'rate-count']));
    await expect.poll(() => keysOf(name), { timeout: 3_000 }).not.toContain('rate');
  });

  it('drops the limits of a handle once its last iterator returned: the next iteration sets its own', async () => {
    const name = queueName('reset');
    const queue = open<number>(name);
    await Promise.all([1, 2, 3].map((n) => queue.send(n)));
    const limited = queue[Symbol.asyncIterator]() as AsyncIterator<RedisDelivery<number>> & {
      flow(limits: object): void;
    };
    limited.flow({ rateLimit: { limit: 1, interval: 60_000 } });
    await ((await limited.next()).value as RedisDelivery<number>).ack();
    await limited.return?.();
    const rest = await receive(queue, 2, 5_000); // a full window of a minute would hold these
    expect(rest.map((delivery) => delivery.message).sort()).toEqual([2, 3]);
    await Promise.all(rest.map((delivery) => delivery.ack()));
  });
});
