import { afterAll, beforeAll, describe } from 'vitest';
import type { PostgresQueue } from '../../src/transports/postgres/index.js';
import { brokerAvailable } from '../support/broker.js';
import { lockPostgres, open, purge } from '../transports/postgres-harness.js';
import { dashboardBrowserSuite, type NamedQueue } from './browser-suite.js';
import { deadLetterThrough } from './queues.js';

const up = await brokerAvailable('postgres');

describe.runIf(up)('dashboard on PostgresQueue', () => {
  let release: () => Promise<void> = async () => {};
  beforeAll(async () => {
    release = await lockPostgres();
  }, 250_000);
  afterAll(() => release());

  let count = 0;
  const opened: PostgresQueue<unknown>[] = [];
  dashboardBrowserSuite({
    name: 'PostgresQueue',
    open(label) {
      const queue = open<unknown>(`sluice-dashboard-${label}-${process.pid}-${++count}`);
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
      await purge(...queues.map((queue) => queue.name));
    },
  });
});
