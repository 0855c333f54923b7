import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { Pump } from '../../src/queuing/pump/pump.js';
import { RedisAccessError } from '../../src/transports/redis/index.js';
import { sleep, stateOf } from '../support/async.js';
import { brokerAvailable, services } from '../support/broker.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { redisQueues } from './redis-fixture.js';
import { REDIS_URL } from './redis-harness.js';

const up = await brokerAvailable('redis');

describe.runIf(up)('RedisQueue (outages)', () => {
  const { queueName, open } = redisQueues('sluice-outage');

  it('keeps a failSilently pump going when a nack fails while Redis is cut off, and handles the message after', async () => {
    const name = queueName('nack-cut');
    const proxy = await startTcpProxy(services.redis.port);
    // A client that gives a command up at once when its connection drops: the nack fails.
    const client = new Redis(proxy.port, '127.0.0.1', { maxRetriesPerRequest: 0 });
    client.on('error', () => {});
    try {
      const consumer = open<number>(name, {
        client,
        url: undefined,
        visibilityTimeout: 300,
        backoff: { type: 'fixed', delay: 10 },
      });
      await open<number>(name).send(1);
      const attempts: number[] = [];
      let handled = false;
      const draining = new Pump(
        consumer,
        async (_message: number, { attempt }) => {
          attempts.push(attempt);
          if (attempt === 1) {
            proxy.cut(1_000);
            await sleep(100); // the client is reconnecting: the nack that follows fails
            throw new Error('failing while Redis is cut off');
          }
          handled = true;
        },
        { failSilently: true },
      ).draining();
      const deadline = Date.now() + 15_000;
      while (!handled && Date.now() < deadline && (await stateOf(draining.done)) === 'pending') {
        await sleep(50);
      }
      expect(await stateOf(draining.done)).toBe('pending'); // the failed nack did not stop it
      expect(attempts).toEqual([1, 2]); // back once its lease ran out
      await draining.stop();
    } finally {
      client.disconnect();
      await proxy.close();
    }
  }, 30_000);

  it('opens a consumer while Redis cannot be reached, which waits and then carries on', async () => {
    const name = queueName('opened-down');
    const proxy = await startTcpProxy(services.redis.port);
    try {
      proxy.cut(1_500);
      const consumer = open<number>(name, { url: `redis://127.0.0.1:${proxy.port}` });
      const handled: number[] = [];
      const draining = new Pump(consumer, (n: number) => void handled.push(n)).draining();
      await sleep(500);
      await open<number>(name).send(7);
      const deadline = Date.now() + 15_000;
      while (handled.length === 0 && Date.now() < deadline) await sleep(50);
      expect(handled).toEqual([7]);
      expect(await stateOf(draining.done)).toBe('pending');
      await draining.stop();
    } finally {
      await proxy.close();
    }
  }, 30_000);

  it('refuses wrong credentials with RedisAccessError on send, next() and a pump, rather than retrying', async () => {
    const queue = open<number>(queueName('wrong-password'), {
      url: `redis://nobody:wrong@127.0.0.1:${services.redis.port}`,
    });
    await expect(queue.send(1)).rejects.toBeInstanceOf(RedisAccessError);
    await expect(queue[Symbol.asyncIterator]().next()).rejects.toThrow('WRONGPASS');
    const draining = new Pump(queue, () => {}, { failSilently: true }).draining();
    await expect(draining.done).rejects.toBeInstanceOf(RedisAccessError);
  });

  it('stops a pump whose user may not read the queue (NOPERM), and fails its sends, naming the queue', async () => {
    const name = queueName('no-permission');
    const admin = new Redis(REDIS_URL);
    const user = `sluice-readonly-${process.pid}`;
    try {
      // May connect and run read commands only: the queue's scripts and stream writes are refused.
      await admin.acl('SETUSER', user, 'on', '>secret', '~*', '&*', '+@read', '+@connection');
      const queue = open<number>(name, { url: `redis://${user}:secret@127.0.0.1:${services.redis.port}` });
      const sent = queue.send(1);
      await expect(sent).rejects.toBeInstanceOf(RedisAccessError);
      await expect(sent).rejects.toThrow(`send to queue ${name}`);
      const draining = new Pump(queue, () => {}, { failSilently: true }).draining();
      await expect(draining.done).rejects.toThrow('NOPERM');
    } finally {
      await admin.acl('DELUSER', user);
      admin.disconnect();
    }
  });
});
