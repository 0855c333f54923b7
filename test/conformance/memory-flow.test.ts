import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import type { DurableQueueOptions } from './durable.js';
import { flowSuite } from './flow.js';

/**
 * In-process "handles": the same queue for the same name, `${name}.dead` its dead-letter queue. With
 * no child module the suite's consumers are pumps in this process, sharing the queue's limits.
 */
const queues = new Map<string, MemoryQueue<unknown>>();

function open<T>(name: string, options: DurableQueueOptions = {}): MemoryQueue<T> {
  let queue = queues.get(name);
  if (queue === undefined) {
    const { maxAttempts, backoff } = options;
    const dead = name.endsWith('.dead') ? undefined : open(`${name}.dead`);
    queue = new MemoryQueue<unknown>({ name, order: 'priority', maxAttempts, backoff, deadLetter: dead });
    queues.set(name, queue);
  }
  return queue as MemoryQueue<T>;
}

flowSuite({
  name: 'MemoryQueue',
  open,
  async purge(name) {
    for (const each of [name, `${name}.dead`]) {
      await queues.get(each)?.close();
      queues.delete(each);
    }
  },
});
