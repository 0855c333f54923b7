import { afterAll, afterEach, beforeAll } from 'vitest';
import { RedisQueue, type RedisQueueOptions } from '../../src/transports/redis/index.js';
import { lockRedis, purge, REDIS_URL } from './redis-harness.js';

/**
 * What a Redis test file's `describe` sets up: it holds the lock that keeps a Redis restart in another
 * file from cutting it off, names its queues uniquely, and closes and deletes them after each test.
 */
export function redisQueues(prefix: string) {
  let release: () => void = () => {};
  beforeAll(async () => {
    release = await lockRedis();
  }, 250_000);
  afterAll(() => release());

  const opened: RedisQueue<unknown>[] = [];
  const names: string[] = [];
  afterEach(async () => {
    await Promise.allSettled(opened.splice(0).map((queue) => queue.close()));
    await Promise.all(names.splice(0).map(purge));
  });

  return {
    queueName(label: string): string {
      const name = `${prefix}-${label}-${Math.random().toString(36).slice(2, 10)}`;
      names.push(name);
      return name;
    },
    open<T>(name: string, options: RedisQueueOptions = {}): RedisQueue<T> {
      const queue = new RedisQueue<T>(name, { url: REDIS_URL, closeTimeout: 500, ...options });
      opened.push(queue as RedisQueue<unknown>);
      return queue;
    },
  };
}
