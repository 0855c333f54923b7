/** The job-store suite's module for MemoryJobStore: every call makes a new store and queue. */
import { MemoryJobStore, type Retention } from '../../src/jobs/index.js';
import type { JobEnvelope } from '../../src/jobs/types.js';
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';

export function store(_namespace: string, options: { retain?: Retention } = {}): MemoryJobStore {
  return new MemoryJobStore(options);
}

export function queue(_namespace: string): MemoryQueue<JobEnvelope> {
  return new MemoryQueue<JobEnvelope>({ order: 'priority' });
}
