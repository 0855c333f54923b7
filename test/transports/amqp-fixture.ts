import { afterAll, afterEach, beforeAll } from 'vitest';
import type { AmqpQueue } from '../../src/transports/amqp/index.js';
import { deleteQueues, leaseRabbit, open, purge } from './amqp-harness.js';

/**
 * What a RabbitMQ test file's `describe` sets up: it holds a lease that keeps a broker restart in
 * another file from cutting it off, names its queues uniquely, and after each test stops what it
 * pumped, closes its queues, purges them and deletes the queues left over (delay queues, say).
 */
export function amqpQueues() {
  let release: () => void = () => {};
  beforeAll(async () => {
    release = await leaseRabbit();
  }, 130_000);
  afterAll(() => release());

  const stoppable: { stop(): Promise<unknown> }[] = [];
  const opened: AmqpQueue<unknown>[] = [];
  const names: string[] = [];
  const leftOver: string[] = [];
  const closeTracked = async () => {
    await Promise.allSettled(stoppable.splice(0).map((running) => running.stop()));
    await Promise.allSettled(opened.splice(0).map((queue) => queue.close()));
  };
  afterEach(async () => {
    await closeTracked();
    await purge(...names.splice(0));
    await deleteQueues(...leftOver.splice(0));
  }, 60_000);

  const track = <T>(queue: AmqpQueue<T>): AmqpQueue<T> => {
    opened.push(queue as AmqpQueue<unknown>);
    return queue;
  };
  return {
    queueName(label: string): string {
      const name = `sluice-amqp-${label}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
      names.push(name);
      return name;
    },
    /** Closes `queue` after the test. */
    track,
    /** A queue with a short close timeout, closed after the test. */
    openQueue<T>(name: string, options: Parameters<typeof open>[1] = {}): AmqpQueue<T> {
      return track(open<T>(name, { closeTimeout: 500, ...options }));
    },
    /** Stops `running` (a pump's draining) after the test, before the queues close. */
    stopAfter<R extends { stop(): Promise<unknown> }>(running: R): R {
      stoppable.push(running);
      return running;
    },
    /** Purges `name` (and its dead-letter queue) after the test: a name not from `queueName`. */
    purgeAfter(name: string): void {
      names.push(name);
    },
    /** Deletes queue `name` after the test: one sluice derived and left, a delay queue say. */
    deleteAfter(name: string): void {
      leftOver.push(name);
    },
    /** Stops and closes what the test tracked so far, now. */
    closeTracked,
  };
}
