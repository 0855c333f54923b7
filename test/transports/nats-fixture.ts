import { afterAll, afterEach, beforeAll } from 'vitest';
import type { NatsQueue } from '../../src/transports/nats/index.js';
import { lockNatsServer, purge } from './nats-harness.js';

/**
 * What a NATS test file's `describe` sets up: it holds the lock that keeps a server restart in
 * another file from cutting it off, names its queues uniquely, and closes and purges them after
 * each test.
 */
export function natsQueues() {
  let unlock: (() => void) | undefined;
  beforeAll(async () => {
    unlock = await lockNatsServer();
  }, 300_000);
  afterAll(() => unlock?.());

  const names: string[] = [];
  const opened: NatsQueue<unknown>[] = [];
  const closeTracked = async () => {
    await Promise.allSettled(opened.splice(0).map((queue) => queue.close()));
  };
  afterEach(async () => {
    await closeTracked();
    await purge(...names.splice(0));
  });

  return {
    queueName(label: string): string {
      const name = `nats-${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
      names.push(name);
      return name;
    },
    /** Closes `queue` after the test. */
    track<T>(queue: NatsQueue<T>): NatsQueue<T> {
      opened.push(queue as NatsQueue<unknown>);
      return queue;
    },
    /** Closes the queues tracked so far now (before closing a connection they borrowed, say). */
    closeTracked,
  };
}
