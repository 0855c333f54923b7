import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  BrokerUnavailableError,
  InvalidOptionError,
  MessageTooLargeError,
  SerializationError,
} from '../../src/errors.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import { defineCommand } from '../../src/routing/define.js';
import { type RedisDelivery, RedisQueue } from '../../src/transports/redis/index.js';
import { streamKey } from '../../src/transports/redis/keys.js';
import { sleep, within } from '../support/async.js';
import { brokerAvailable, services } from '../support/broker.js';
import { expectNothing, receive, sendRetrying } from '../support/deliveries.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { redisQueues } from './redis-fixture.js';
import { REDIS_URL, restartRedis, withRedis } from './redis-harness.js';

const up = await brokerAvailable('redis');

describe.runIf(up)('RedisQueue (Redis specifics)', () => {
  const { queueName, open } = redisQueues('sluice-redis');

  it('rejects bad options with InvalidOptionError naming them', () => {
    expect(() => new RedisQueue('')).toThrow(InvalidOptionError);
    expect(() => new RedisQueue('q', { maxAttempts: 0 })).toThrow(/maxAttempts: 0/);
    expect(() => new RedisQueue('q', { visibilityTimeout: -1 })).toThrow(/visibilityTimeout: -1/);
    expect(() => new RedisQueue('q', { deadLetter: 'q' })).toThrow(/deadLetter/);
    expect(() => new RedisQueue('q', { schema: {} as never })).toThrow(/schema/);
    expect(() => new RedisQueue('q', { url: REDIS_URL, client: {} as Redis })).toThrow(
      /either url or client/,
    );
  });

  it('rejects bad send options and non-JSON messages without storing anything', async () => {
    const name = queueName('bad-send');
    const queue = open<unknown>(name);
    await expect(queue.send({ n: 1 }, { priority: Number.NaN })).rejects.toThrow(/priority: NaN/);
    await expect(queue.send({ n: 1 }, { delay: -5 })).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(queue.send({ n: 1n })).rejects.toBeInstanceOf(SerializationError);
    await expect(queue.send(undefined)).rejects.toBeInstanceOf(SerializationError);
    await queue.send({ n: 2 }); // the handle still works
    expect(await withRedis((redis) => redis.xlen(streamKey(name)))).toBe(1);
  });

  it('refuses, storing nothing, a message over maxMessageSize or one that would not arrive equal', async () => {
    const name = queueName('strict');
    const queue = open<unknown>(name, { maxMessageSize: 1_000 });
    await expect(queue.send({ text: 'x'.repeat(2_000) })).rejects.toBeInstanceOf(MessageTooLargeError);
    await expect(queue.send({ text: 'x'.repeat(2_000) }, { priority: 2 })).rejects.toMatchObject({
      code: 'MESSAGE_TOO_LARGE',
    });
    await expect(queue.send({ x: Number.NaN })).rejects.toThrow(SerializationError);
    await expect(queue.send({ x: Number.NaN })).rejects.toThrow(/message\.x is NaN/);
    await expect(queue.send({ at: new Date() }, { delay: 10 })).rejects.toThrow(
      /message\.at is an instance of Date/,
    );
    expect(await keysOf(name)).toEqual([]);
    await queue.send({ text: 'x'.repeat(900) }); // under the limit
    expect(await withRedis((redis) => redis.xlen(streamKey(name)))).toBe(1);
  });

  it('gives a message sent without an id one id for good: on every retry and its dead-lettered copy', async () => {
    const name = queueName('stable-id');
    await withRedis((redis) => redis.xadd(streamKey(name), '*', 'body', '{"payload":"no id"}'));
    const queue = open<string>(name, { maxAttempts: 2, backoff: { type: 'fixed', delay: 10 } });
    const [first] = (await receive(queue, 1)) as RedisDelivery<string>[];
    expect(first!.id).toMatch(/^\d+-\d+$/); // the entry id of its first delivery
    await first!.nack({ error: new Error('boom') });
    const [second] = (await receive(queue, 1)) as RedisDelivery<string>[];
    expect([second!.message, second!.attempt, second!.id]).toEqual(['no id', 2, first!.id]);
    await second!.nack({ error: new Error('boom') });
    const [corpse] = (await receive(open<string>(`${name}.dead`), 1)) as RedisDelivery<string>[];
    expect([corpse!.message, corpse!.id, corpse!.deadLetterReason]).toEqual([
      'no id',
      first!.id,
      'failed 2 of 2 attempts: boom',
    ]);
    await corpse!.ack();
  });

  it('keeps every entry of a stream a message, and leaves no acked entry behind', async () => {
    const name = queueName('clean');
    const queue = open<number>(name, { visibilityTimeout: 60 });
    for (let n = 0; n < 300; n++) await queue.send(n);
    await queue.send(1_000, { priority: 3 }); // a new priority: readers are woken
    await queue.send(-1_000, { priority: -1 });
    await queue.send(2_000, { delay: 20, priority: 3 });
    await sleep(50);
    const deliveries = await receive(queue, 303);
    expect(deliveries.slice(0, 2).map((d) => d.message)).toEqual([1_000, 2_000]);
    await Promise.all(deliveries.map((d) => d.ack()));
    await sleep(100); // the lease's reclaim removes the streams of priorities left empty
    const streams = (await keysOf(name)).filter((key) => key.includes(':stream'));
    expect(streams).toEqual([streamKey(name)]);
    await withRedis(async (redis) => {
      const left = await redis.xrange(streamKey(name), '-', '+');
      expect(left.every(([, fields]) => fields[0] === 'body')).toBe(true);
      // acked entries go in whole stream nodes, behind the oldest one pending
      const [, nodeSize] = (await redis.config('GET', 'stream-node-max-entries')) as string[];
      expect(left.length).toBeLessThanOrEqual(Number(nodeSize));
    });
  });

  it('holds a dedup key for a bounded time, renewed on retry, released on ack and dead-lettering', async () => {
    const name = queueName('key-lifetime');
    const day = 24 * 60 * 60 * 1_000;
    const pttl = (key: string) => withRedis((redis) => redis.pttl(`sluice:{${name}}:key:${key}`));
    const queue = open<string>(name, { maxAttempts: 2, backoff: { type: 'fixed', delay: 10 } });
    await queue.send('a', { key: 'a' });
    await queue.send('b', { key: 'b', delay: 60_000 });
    expect(await pttl('a')).toBeGreaterThan(day - 5_000);
    expect(await pttl('a')).toBeLessThanOrEqual(day);
    expect(await pttl('b')).toBeGreaterThan(day + 55_000);
    expect(await pttl('b')).toBeLessThanOrEqual(day + 60_000);
    await withRedis((redis) => redis.pexpire(`sluice:{${name}}:key:a`, 5_000));
    const [a] = await receive(queue, 1);
    await a!.nack();
    expect(await pttl('a')).toBeGreaterThan(day - 5_000);
    const [again] = await receive(queue, 1);
    await again!.nack(); // out of attempts: dead-lettered, the key released
    expect(await pttl('a')).toBe(-2);
    await queue.send('a2', { key: 'a' });
    const [a2] = await receive(queue, 1);
    expect(a2!.message).toBe('a2');
    await a2!.ack();
    await sleep(20); // acks travel on the next tick
    expect(await pttl('a')).toBe(-2);
  });

  it('releases a key only for the message holding it, not once its lifetime ran out and another took it', async () => {
    const name = queueName('key-holder');
    const key = `sluice:{${name}}:key:k`;
    const queue = open<string>(name, { maxAttempts: 2, backoff: { type: 'fixed', delay: 10 } });
    await queue.send('first', { key: 'k' });
    const [first] = await receive(queue, 1);
    await withRedis((redis) => redis.del(key)); // its lifetime ran out
    await queue.send('second', { key: 'k' }); // the key was free: stored, and now it holds the key
    const holder = await withRedis((redis) => redis.get(key));
    await first!.nack(); // a retry renews the key it holds: none any more
    expect(await withRedis((redis) => redis.get(key))).toBe(holder);
    const [second, again] = await receive(queue, 2);
    expect([second!.message, again!.message]).toEqual(['second', 'first']);
    await again!.ack(); // leaves the second message's key alone
    await queue.send('duplicate', { key: 'k' }); // after the ack, on the same connection: not stored
    expect(await withRedis((redis) => redis.get(key))).toBe(holder);
    await second!.nack({ requeue: false }); // dead-lettered: its key released
    expect(await withRedis((redis) => redis.exists(key))).toBe(0);
    await expectNothing(queue, 300);
    const dead = await receive(open<string>(`${name}.dead`), 1);
    expect(dead.map((d) => d.message)).toEqual(['second']);
    await dead[0]!.ack();
  });

  it('keeps the priority of a dead-lettered message on the dead-letter queue', async () => {
    const name = queueName('dead-priority');
    const queue = open<string>(name, { maxAttempts: 1 });
    await queue.send('zero');
    await queue.send('low', { priority: -1 });
    await queue.send('high', { priority: 5 });
    await queue.send('middle', { priority: 2.5 });
    const deliveries = await receive(queue, 4);
    // dead-lettered lowest priority first: the dead-letter queue hands them out highest first
    for (const delivery of deliveries.reverse()) await delivery.nack({ requeue: false });
    const dead = (await receive(open<string>(`${name}.dead`), 4)) as RedisDelivery<string>[];
    expect(dead.map((d) => [d.message, d.priority])).toEqual([
      ['high', 5],
      ['middle', 2.5],
      ['zero', 0],
      ['low', -1],
    ]);
    await Promise.all(dead.map((d) => d.ack()));
  });

  it('delivers the messages of a priority whose stream lost its group, without a busy loop', async () => {
    const name = queueName('regroup');
    const band = `${streamKey(name)}:5`;
    const producer = open<number>(name);
    await producer.send(1, { priority: 5 });
    await producer.send(2, { priority: 5 });
    await withRedis((redis) => redis.xgroup('DESTROY', band, 'sluice')); // the messages wait there
    const client = new Redis(REDIS_URL);
    const sent: string[] = [];
    const sendCommand = client.sendCommand.bind(client);
    client.sendCommand = (command, stream) => {
      sent.push(command.name);
      return sendCommand(command, stream);
    };
    try {
      const queue = open<number>(name, { client, url: undefined });
      const waiting = await receive(queue, 2, 5_000);
      expect(waiting.map((d) => d.message)).toEqual([1, 2]);
      await Promise.all(waiting.map((d) => d.ack()));

      const iterator = queue[Symbol.asyncIterator]();
      const next = iterator.next();
      await sleep(200); // blocked on the priority's stream, which now loses its group
      await withRedis((redis) => redis.xgroup('DESTROY', band, 'sluice'));
      await producer.send(3, { priority: 5 });
      const third = await within(next, 5_000, () => 'the message sent after the group was lost');
      expect(third.value?.message).toBe(3);
      await third.value!.ack();

      const idle = iterator.next(); // nothing comes: the handle waits, it does not spin
      sent.length = 0;
      await sleep(1_000);
      expect(sent.length).toBeLessThan(10);
      await iterator.return!();
      expect((await idle).done).toBe(true);
    } finally {
      client.disconnect();
    }
  });

  it('wakes one of several blocked handles for a message of a new priority', async () => {
    const name = queueName('wake');
    const [a, b] = [open<string>(name), open<string>(name)];
    const [ia, ib] = [a[Symbol.asyncIterator](), b[Symbol.asyncIterator]()];
    const pending = new Map([
      [ia, ia.next()],
      [ib, ib.next()],
    ]);
    await sleep(300); // both block, watching only the queue's stream and the wake-up stream
    for (const [message, priority] of [
      ['three', 3],
      ['four', 4],
    ] as const) {
      const sentAt = Date.now();
      await a.send(message, { priority });
      // The group hands the wake-up to one blocked handle; it looks again at once.
      const [woken, result] = await Promise.race(
        [...pending].map(([iterator, next]) => next.then((result) => [iterator, result] as const)),
      );
      expect(result.value?.message).toBe(message);
      expect(Date.now() - sentAt).toBeLessThan(1_000); // not the end of a blocking read
      await result.value!.ack();
      pending.delete(woken);
      await woken.return!(); // stops fetching: the next message must reach the other handle
      await sleep(100);
    }
  });

  it('writes the documented envelope, and reads one written by a foreign producer', async () => {
    const name = queueName('envelope');
    const queue = open<{ type: string; payload: unknown }>(name);
    await queue.send({ type: 'orders.place', payload: { quantity: 2 } });
    const entries = await withRedis((redis) => redis.xrange(streamKey(name), '-', '+'));
    const fields = entries[0]![1];
    expect(fields[0]).toBe('body');
    expect(JSON.parse(fields[1]!)).toEqual({
      id: expect.stringMatching(/^[\w-]{17,}$/),
      type: 'orders.place',
      payload: { type: 'orders.place', payload: { quantity: 2 } },
    });

    const foreign = {
      id: 'from-python-1',
      type: null,
      attempt: 1,
      headers: { traceparent: 't' },
      payload: 42,
    };
    await withRedis((redis) => redis.xadd(streamKey(name), '*', 'body', JSON.stringify(foreign)));
    const iterator = queue[Symbol.asyncIterator]();
    const first = (await iterator.next()).value as RedisDelivery<unknown>;
    const second = (await iterator.next()).value as RedisDelivery<unknown>;
    await iterator.return!();
    expect(first.message).toEqual({ type: 'orders.place', payload: { quantity: 2 } });
    expect([second.message, second.id, second.headers]).toEqual([42, 'from-python-1', { traceparent: 't' }]);
    await Promise.all([first.ack(), second.ack()]);
  });

  it('coalesces the sends of one tick into one script call', async () => {
    const name = queueName('pipeline');
    const client = new Redis(REDIS_URL);
    try {
      const queue = open<number>(name, { client, url: undefined });
      await queue.send(-1); // loads the script
      const sendCommand = client.sendCommand.bind(client);
      const sent: string[] = [];
      client.sendCommand = (command, stream) => {
        sent.push(command.name);
        return sendCommand(command, stream);
      };
      await Promise.all(Array.from({ length: 500 }, (_, i) => queue.send(i)));
      expect(sent).toEqual(['evalsha']);
      expect(await client.xlen(streamKey(name))).toBe(501);
      await queue.close();
      expect(client.status).toBe('ready'); // a client given to the queue is left open
    } finally {
      client.disconnect();
    }
  });

  it('keeps one copy per dedup key while the message is in the queue', async () => {
    const name = queueName('dedup');
    const queue = open<string>(name);
    await queue.send('first', { key: 'order-1' });
    await queue.send('duplicate', { key: 'order-1' });
    await queue.send('delayed duplicate', { key: 'order-1', delay: 10 });
    await queue.send('other', { key: 'order-2', priority: 3 });
    const deliveries = await receive(queue, 2);
    expect(deliveries.map((d) => d.message)).toEqual(['other', 'first']);
    await Promise.all(deliveries.map((d) => d.ack()));
    await queue.send('again', { key: 'order-1' }); // acked: the key is free again
    const [again] = await receive(queue, 1);
    expect(again!.message).toBe('again');
    await again!.ack();
  });

  it('stores the reason with a dead-lettered message', async () => {
    const name = queueName('reason');
    const queue = open<string>(name, { maxAttempts: 1 });
    await queue.send('poison');
    const [delivery] = await receive(queue, 1);
    await delivery!.nack({ error: new Error('cannot parse invoice') });
    const dead = open<string>(`${name}.dead`);
    const [corpse] = (await receive(dead, 1)) as RedisDelivery<string>[];
    expect(corpse!.message).toBe('poison');
    expect(corpse!.deadLetterReason).toBe('failed 1 of 1 attempts: cannot parse invoice');
    await corpse!.ack();
  });

  it('accepts several definitions (matched by type) or a Standard Schema as schema', async () => {
    const name = queueName('schemas');
    const Place = defineCommand('orders.place', z.object({ quantity: z.number() }));
    const Cancel = defineCommand('orders.cancel', z.object({ id: z.string() }));
    const producer = open<unknown>(name);
    await producer.send(Place({ quantity: 1 }));
    await producer.send({ type: 'orders.refund', payload: {} });
    await producer.send(Cancel({ id: 'a' }));
    const byType = open<unknown>(name, { schema: [Place, Cancel] });
    const valid = await receive(byType, 2);
    expect(valid.map((d) => (d.message as { type: string }).type)).toEqual(['orders.place', 'orders.cancel']);
    await Promise.all(valid.map((d) => d.ack()));
    const [corpse] = (await receive(open<unknown>(`${name}.dead`), 1)) as RedisDelivery<unknown>[];
    expect(corpse!.deadLetterReason).toBe(
      'invalid message: ValidationError: no schema for message type "orders.refund"',
    );

    const numbers = queueName('standard');
    await open<unknown>(numbers).send('not a number');
    await open<unknown>(numbers).send(7);
    const [seven] = await receive(open<unknown>(numbers, { schema: z.number() }), 1);
    expect(seven!.message).toBe(7);
    await seven!.ack();
  });

  it('keeps a slow delivery its own while the handle lives (heartbeat), past the visibility timeout', async () => {
    const name = queueName('heartbeat');
    const queue = open<string>(name, { visibilityTimeout: 300 });
    await queue.send('slow');
    const [delivery] = await receive(queue, 1);
    const other = open<string>(name, { visibilityTimeout: 300 });
    await expectNothing(other, 1_200);
    await delivery!.ack();
  });

  it('dead-letters a delivery whose consumers keep vanishing once maxAttempts is reached', async () => {
    const name = queueName('ghost');
    const queue = open<string>(name, { visibilityTimeout: 200, maxAttempts: 1 });
    await queue.send('crashes its consumers');
    await withRedis(async (redis) => {
      // a consumer that reads the message and dies: it never heartbeats
      await redis.xgroup('CREATE', streamKey(name), 'sluice', '0', 'MKSTREAM');
      await redis.xreadgroup('GROUP', 'sluice', 'ghost', 'COUNT', 1, 'STREAMS', streamKey(name), '>');
    });
    const dead = open<string>(`${name}.dead`);
    const watching = expectNothing(queue, 2_000); // the live handle reclaims the ghost's delivery
    const [corpse] = (await receive(dead, 1, 10_000)) as RedisDelivery<string>[];
    expect(corpse!.message).toBe('crashes its consumers');
    expect(corpse!.deadLetterReason).toBe(
      'failed 1 of 1 attempts: not settled: its consumer stopped or its lease ran out',
    );
    await corpse!.ack();
    await watching;
  });

  it('fails a send with BrokerUnavailableError when Redis cannot be reached', async () => {
    const queue = open<string>(queueName('unreachable'), { url: 'redis://127.0.0.1:1' });
    await expect(queue.send('lost?')).rejects.toBeInstanceOf(BrokerUnavailableError);
  });

  it('leaves no listener behind on a client it was given', async () => {
    const client = new Redis(REDIS_URL);
    try {
      const before = client.listenerCount('ready');
      for (let i = 0; i < 20; i++) {
        const queue = open<number>(queueName('shared'), { client, url: undefined });
        await queue.send(i); // the first queues are made while the client still connects
        await queue.close();
      }
      expect(client.listenerCount('ready')).toBe(before);
    } finally {
      client.disconnect();
    }
  });

  it('gives back its prefetched messages once its last iterator returned, while the handle stays open', async () => {
    const name = queueName('stopped');
    // Heartbeats every 100 ms: whatever a handle still holds is never reclaimed by another one.
    const lease = { visibilityTimeout: 300 };
    const first = open<number>(name, lease);
    for (let n = 0; n < 40; n++) await first.send(n);
    const done: number[] = [];
    const draining = new Pump(first, async (n: number) => {
      done.push(n);
      await sleep(5);
    }).draining();
    await waitUntil(() => done.length >= 10);
    await draining.stop();

    const rest = await receive(open<number>(name, lease), 40 - done.length, 10_000);
    const all = [...done, ...rest.map((d) => d.message)].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 40 }, (_, n) => n));
    await Promise.all(rest.map((d) => d.ack()));
  });

  it('closes within its closeTimeout while Redis cannot be reached, though its client waits for ever', async () => {
    // A client told to wait for Redis for ever: ioredis keeps every command until it reconnects.
    const client = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: null });
    client.on('error', () => {});
    try {
      const queue = open<number>(queueName('never-reached'), { client, url: undefined, closeTimeout: 300 });
      const iterator = queue[Symbol.asyncIterator]();
      const pending = iterator.next(); // a fetch now waits for Redis
      await within(queue.close(), 5_000, () => 'close() while Redis cannot be reached');
      expect((await pending).done).toBe(true);
    } finally {
      client.disconnect();
    }
  });

  it('closes within its closeTimeout when Redis goes away mid-delivery, and the messages come back', async () => {
    const name = queueName('gone');
    const proxy = await startTcpProxy(services.redis.port);
    const client = new Redis(proxy.port, '127.0.0.1', { maxRetriesPerRequest: null });
    client.on('error', () => {});
    try {
      const first = open<number>(name, { client, url: undefined, closeTimeout: 300 });
      await first.send(1);
      await first.send(2);
      const [held] = await receive(first, 1);
      proxy.cut(60_000); // the delivery cannot be settled, nor released, while this lasts
      await within(first.close(), 5_000, () => 'close() while Redis went away');
      await expect(held!.ack()).rejects.toMatchObject({ code: 'DELIVERY_SETTLED' });

      const second = open<number>(name, { visibilityTimeout: 300 }); // reclaims what first held
      const back = await receive(second, 2, 10_000);
      expect(back.map((d) => d.message).sort()).toEqual([1, 2]);
      await Promise.all(back.map((d) => d.ack()));
    } finally {
      client.disconnect();
      await proxy.close();
    }
  });

  it('rejects a send cut off mid-flight when the queue closes before Redis is back', async () => {
    const proxy = await startTcpProxy(services.redis.port);
    try {
      const queue = open<number>(queueName('cut-send'), {
        url: `redis://127.0.0.1:${proxy.port}`,
        closeTimeout: 300,
      });
      await queue.send(1); // connected
      const cutOff = queue.send(2); // written to a connection that is dropped before any answer
      proxy.cut(60_000);
      await sleep(100); // the client waits to reconnect, holding the send to replay it
      await within(queue.close(), 5_000, () => 'close() while Redis went away');
      await expect(within(cutOff, 5_000, () => 'the send cut off')).rejects.toBeInstanceOf(
        BrokerUnavailableError,
      );
    } finally {
      await proxy.close();
    }
  });

  it('closes within its closeTimeout when Redis stops answering on an open connection', async () => {
    const proxy = await startTcpProxy(services.redis.port);
    try {
      const queue = open<number>(queueName('mute'), {
        url: `redis://127.0.0.1:${proxy.port}`,
        closeTimeout: 300,
      });
      await queue.send(1);
      proxy.stall(); // the socket stays open: QUIT is sent and never answered
      await within(queue.close(), 5_000, () => 'close() while Redis did not answer');
    } finally {
      await proxy.close();
    }
  });

  it('resumes consuming by itself after Redis restarted without persistence', async () => {
    const name = queueName('resume');
    const consumer = open<number>(name);
    const producer = open<number>(name);
    const received: number[] = [];
    let arrived: () => void = () => {};
    const draining = new Pump(consumer, (n: number) => {
      received.push(n);
      arrived();
    }).draining({ concurrency: 2 });
    const next = () => new Promise<void>((resolve) => (arrived = resolve));

    let got = next();
    await producer.send(1);
    await got;
    await restartRedis({ persist: false }); // everything is gone, the consumer group included
    got = next();
    await sendRetrying(producer, 2);
    await got;
    await draining.stop();
    expect(received).toEqual([1, 2]);
  }, 60_000);
});

function keysOf(name: string): Promise<string[]> {
  return withRedis((redis) => redis.keys(`sluice:{${name}}:*`));
}

async function waitUntil(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(5);
}
