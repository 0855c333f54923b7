import type { Job } from './job.js';
import { adopt, ended, handleOf, MemoryJobStore } from './memory-job-store.js';
import type { JobStore } from './store.js';

/** Where a runtime finds the handle it follows a job with, by the job's id. */
export interface HandleIndex {
  get(id: string): Job<any> | undefined;
  set(job: Job<any>): void;
  /** `job` is not followed any more (its outcome is up to another process now). */
  release(job: Job<any>): void;
  /** `job` ended. */
  ended(job: Job<any>): void;
}

/**
 * On a MemoryJobStore the store's records are the handles: the store is the index, and a handle
 * that ended stays its record. Its jobs are indexed by id only when `copies` (the queue hands
 * workers a copy of the envelope, without the handle it carries): on a MemoryQueue a worker finds
 * the handle on the envelope, and hashing every job's id would be a large share of its cost.
 */
export function handleIndex(store: JobStore, copies: boolean): HandleIndex {
  if (store instanceof MemoryJobStore) {
    return {
      get: (id) => store[handleOf](id),
      set: copies ? (job) => store[adopt](job) : () => {},
      release: () => {},
      ended: (job) => store[ended](job),
    };
  }
  const byId = new Map<string, Job<any>>();
  const release = (job: Job<any>) => {
    if (byId.get(job.id) === job) byId.delete(job.id);
  };
  return { get: (id) => byId.get(id), set: (job) => byId.set(job.id, job), release, ended: release };
}
