import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import { type RedisDelivery, RedisQueue } from '../../src/transports/redis/index.js';
import { streamKey } from '../../src/transports/redis/keys.js';
import { MAX_DELAY } from '../../src/transports/shared/broker-options.js';
import { sleep } from '../support/async.js';
import { brokerAvailable } from '../support/broker.js';
import { expectNothing, receive } from '../support/deliveries.js';
import { redisQueues } from './redis-fixture.js';
import { REDIS_URL, withRedis } from './redis-harness.js';

const up = await brokerAvailable('redis');

describe.runIf(up)('RedisQueue (hostile input)', () => {
  const { queueName, open } = redisQueues('sluice-hostile');

  it('refuses a malformed url with InvalidOptionError naming it, never a bare TypeError', async () => {
    const malformed: unknown[] = [
      'redis://:@',
      'redis://',
      'redis://host:99999',
      'redis://host:0',
      'http://x',
      'redis://%zz@host',
      'redis://host/abc',
      'localhost:6379',
      42,
    ];
    for (const url of malformed) {
      expect(() => new RedisQueue('q', { url: url as string }), String(url)).toThrow(InvalidOptionError);
      expect(() => new RedisQueue('q', { url: url as string }), String(url)).toThrow(/invalid url/);
    }
    const valid = open<number>(queueName('url'), { url: `${REDIS_URL}/0` });
    await valid.send(1);
  });

  it('takes the path of a unix socket as its url', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-redis-'));
    const socket = join(dir, 'redis.sock');
    const server = spawn('redis-server', [
      '--port',
      '0',
      '--unixsocket',
      socket,
      '--save',
      '',
      '--appendonly',
      'no',
    ]);
    try {
      for (let tries = 0; !existsSync(socket); tries++) {
        if (tries > 100) throw new Error('redis-server did not open its unix socket');
        await sleep(50);
      }
      const queue = open<number>(queueName('socket'), { url: socket });
      await queue.send(7);
      const [delivery] = await receive(queue, 1);
      expect(delivery!.message).toBe(7);
      await delivery!.ack();
      await queue.close();
    } finally {
      server.kill();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses names and keys that are not well-formed Unicode, though their U+FFFD twin is fine', async () => {
    expect(() => open('q\uD800')).toThrow(InvalidOptionError);
    const name = queueName('q\uFFFD');
    const queue = open<number>(name);
    await expect(queue.send(1, { key: 'k\uD800' })).rejects.toBeInstanceOf(InvalidOptionError);
    await queue.send(2, { key: 'k\uFFFD' });
    const [delivery] = await receive(queue, 1);
    expect(delivery!.message).toBe(2);
    await delivery!.ack();
  });

  it('refuses a queue name holding "}", whose keys could be those of another queue', async () => {
    // Queue `a`'s dedup key `k{}:stream` would be stored at the stream of queue `a}:key:k{`.
    expect(() => open('a}:key:k{')).toThrow(InvalidOptionError);
    expect(() => open('a}:key:k{')).toThrow(/invalid name/);
    expect(() => open(queueName('dead'), { deadLetter: 'x}' })).toThrow(/invalid deadLetter/);
    const name = queueName('a');
    const queue = open<number>(name);
    await queue.send(1, { key: 'k{}:stream' }); // any key is stored under its own queue's keys
    const [delivery] = await receive(queue, 1);
    await delivery!.ack();
  });

  it('stores a delay of MAX_DELAY and refuses a longer one, storing nothing', async () => {
    const name = queueName('delay');
    const queue = open<number>(name);
    await expect(queue.send(1, { delay: MAX_DELAY + 1 })).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(queue.send(1, { delay: MAX_DELAY + 1 })).rejects.toThrow(/invalid delay/);
    expect(await delayedCount(name)).toBe(0);
    await queue.send(2, { delay: MAX_DELAY });
    expect(await delayedCount(name)).toBe(1);
    const [, due] = await withRedis((redis) => redis.zrange(`sluice:{${name}}:delayed`, 0, 0, 'WITHSCORES'));
    expect(Number(due) - Date.now()).toBeGreaterThan(MAX_DELAY - 60_000);
  });

  it('retries at the longest delay it can store when the backoff asks for more', async () => {
    const name = queueName('huge-backoff');
    const queue = open<number>(name, { backoff: () => 1e300 });
    await queue.send(1);
    const [delivery] = await receive(queue, 1);
    await delivery!.nack();
    expect(await delayedCount(name)).toBe(1);
  });

  it('dead-letters, saying so, a message whose backoff function throws; nack never throws', async () => {
    const name = queueName('throwing-backoff');
    const queue = open<number>(name, {
      backoff: () => {
        throw new Error('no backoff today');
      },
    });
    await queue.send(1);
    const [delivery] = await receive(queue, 1);
    await delivery!.nack({ error: new Error('failed') });
    const [corpse] = (await receive(open<number>(`${name}.dead`), 1)) as RedisDelivery<number>[];
    expect(corpse!.deadLetterReason).toBe('backoff failed on attempt 1: no backoff today');
    await corpse!.ack();
  });

  it('rejects a nack delay it cannot store, leaving the delivery unsettled and still leased', async () => {
    const name = queueName('nack-delay');
    const queue = open<number>(name, { visibilityTimeout: 300 });
    await queue.send(1);
    const [delivery] = await receive(queue, 1);
    await expect(delivery!.nack({ delay: MAX_DELAY + 1 })).rejects.toBeInstanceOf(InvalidOptionError);
    expect(delivery!.settled).toBe(false);
    // Still heartbeated: another handle gets nothing past the visibility timeout.
    await expectNothing(open<number>(name, { visibilityTimeout: 300 }), 1_200);
    await delivery!.ack();
  });

  it('dead-letters an entry with a huge attempt field once, with a bounded reason', async () => {
    const name = queueName('attempt');
    const attempt = `x\r\n\0${'9'.repeat(200_000)}`;
    await withRedis((redis) => redis.xadd(streamKey(name), '*', 'body', '{"payload":1}', 'attempt', attempt));
    const queue = open<number>(name);
    await queue.send(2);
    const [delivery] = await receive(queue, 1);
    expect(delivery!.message).toBe(2);
    await delivery!.ack();
    const [corpse] = (await receive(open<number>(`${name}.dead`), 1)) as RedisDelivery<number>[];
    expect(corpse!.deadLetterReason).toMatch(/^undecodable body: attempt "x.*9…$/);
    expect(corpse!.deadLetterReason!.length).toBeLessThanOrEqual(1_000);
    await corpse!.ack();
  });
});

function delayedCount(name: string): Promise<number> {
  return withRedis((redis) => redis.zcard(`sluice:{${name}}:delayed`));
}
