import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import { queueConformanceSuite } from './queue.js';

const retrying = { maxAttempts: 3, backoff: { type: 'fixed', delay: 10 } } as const;

queueConformanceSuite({
  name: 'MemoryQueue',
  create: <T>() => new MemoryQueue<T>({ order: 'priority', ...retrying }),
  bounded: <T>(maxsize: number) => new MemoryQueue<T>({ order: 'priority', maxsize, ...retrying }),
});
