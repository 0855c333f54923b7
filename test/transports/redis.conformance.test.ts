import { afterAll, beforeAll, describe } from 'vitest';
import { durableQueueSuite } from '../conformance/durable.js';
import { queueConformanceSuite } from '../conformance/queue.js';
import { brokerAvailable } from '../support/broker.js';
import { lockRedis, open, purge, redisHarness } from './redis-harness.js';

const up = await brokerAvailable('redis');

describe.runIf(up)('RedisQueue', () => {
  let release: () => void = () => {};
  beforeAll(async () => {
    release = await lockRedis();
  }, 250_000);
  afterAll(() => release());

  const names: string[] = [];
  queueConformanceSuite({
    name: 'redis',
    create: <T>() => {
      const name = `sluice-basic-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
      names.push(name);
      return open<T>(name, { maxAttempts: 3, backoff: { type: 'fixed', delay: 20 }, closeTimeout: 1_000 });
    },
    teardown: async () => {
      await Promise.all(names.splice(0).map((name) => purge(name)));
    },
  });

  durableQueueSuite(redisHarness);
});
