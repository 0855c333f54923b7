import type { Timer } from '../timer.js';
import type { FinalStatus } from './status.js';

/** Internal transitions, keyed by symbols the package entry point does not export. */
export const setStatus: unique symbol = Symbol('sluice.job.setStatus');
export const settle: unique symbol = Symbol('sluice.job.settle');
export const apply: unique symbol = Symbol('sluice.job.apply');
export const setProgress: unique symbol = Symbol('sluice.job.setProgress');
export const abandon: unique symbol = Symbol('sluice.job.abandon');
export const snapshot: unique symbol = Symbol('sluice.job.snapshot');
export const execution: unique symbol = Symbol('sluice.job.execution');
/** Links of the runtime's list of jobs that are not final yet (see LiveJobs). */
export const livePrevious: unique symbol = Symbol('sluice.job.livePrevious');
export const liveNext: unique symbol = Symbol('sluice.job.liveNext');
/** Set once a MemoryJobStore indexes the handle by id (see memory-job-store.ts). */
export const indexed: unique symbol = Symbol('sluice.job.indexed');

/** What the runtime needs of the execution in progress: a way to abort it. */
export interface Abortable {
  abort(reason: unknown): void;
}

/** One pending `job.wait()`: settled by the job, or by its own timeout. */
export interface Waiter {
  resolve(status: FinalStatus): void;
  reject(error: unknown): void;
  timer: Timer | undefined;
}
