import { afterAll, beforeAll, describe } from 'vitest';
import type { RedisQueue } from '../../src/transports/redis/index.js';
import { brokerAvailable } from '../support/broker.js';
import { lockRedis, open, purge } from '../transports/redis-harness.js';
import { dashboardBrowserSuite, type NamedQueue } from './browser-suite.js';
import { deadLetterThrough } from './queues.js';

const up = await brokerAvailable('redis');

describe.runIf(up)('dashboard on RedisQueue', () => {
  let release: () => void = () => {};
  beforeAll(async () => {
    release = await lockRedis();
  }, 250_000);
  afterAll(() => release());

  let count = 0;
  const opened: RedisQueue<unknown>[] = [];
  dashboardBrowserSuite({
    name: 'RedisQueue',
    open(label) {
      const queue = open<unknown>(
        `sluice-dashboard-${label}-${process.pid}-${++count}`,
      ) as RedisQueue<unknown>;
      opened.push(queue);
      return queue as NamedQueue;
    },
    async deadLetter(queue, messages, reason = 'boom') {
      const consumer = open<unknown>(queue.name);
      try {
        await deadLetterThrough(queue, consumer, messages, reason);
      } finally {
        await consumer.close();
      }
    },
    async cleanup() {
      const queues = opened.splice(0);
      await Promise.allSettled(queues.map((queue) => queue.close()));
      await Promise.all(queues.map((queue) => purge(queue.name)));
    },
  });
});
