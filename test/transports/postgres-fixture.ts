import { afterAll, afterEach, beforeAll } from 'vitest';
import { PostgresQueue, type PostgresQueueOptions } from '../../src/transports/postgres/index.js';
import { lockPostgres, purge, url } from './postgres-harness.js';

/**
 * What a PostgreSQL test file's `describe` sets up: it holds the lock that keeps a server restart in
 * another file from cutting it off, names its queues uniquely, and closes and purges them after each
 * test.
 */
export function postgresQueues<D = unknown>(prefix: string) {
  let unlock: () => Promise<void> = async () => {};
  beforeAll(async () => {
    unlock = await lockPostgres();
  });
  afterAll(() => unlock());

  const opened: PostgresQueue<unknown>[] = [];
  const names: string[] = [];
  const closeOpened = async () => {
    await Promise.allSettled(opened.splice(0).map((queue) => queue.close()));
  };
  afterEach(async () => {
    await closeOpened();
    await purge(...names.splice(0));
  });

  return {
    queueName(label: string): string {
      const name = `${prefix}-${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
      names.push(name);
      return name;
    },
    /** A queue on the server (`url` by default), closed after the test. */
    open<T = D>(name: string, options: PostgresQueueOptions<T> = {}): PostgresQueue<T> {
      const queue = new PostgresQueue<T>(name, { url, ...options });
      opened.push(queue as PostgresQueue<unknown>);
      return queue;
    },
    /** Purges `name` after the test too (a name not from `queueName`). */
    purgeAfter(name: string): void {
      names.push(name);
    },
    /** Closes the queues opened so far now (before dropping a schema they use, say). */
    closeOpened,
  };
}
