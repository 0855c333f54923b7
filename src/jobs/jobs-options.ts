import type { Backoff } from '../queuing/types.js';
import type { JobStore } from './store.js';

/** Options of a {@link Jobs} app; the constructor throws {@link InvalidOptionError} on a bad one. */
export interface JobsOptions {
  /**
   * Wait before each retry of a job whose task has `retry`.
   *
   * @defaultValue `{ type: 'exponential', delay: 100, max: 30_000 }`
   */
  backoff?: Backoff;
  /**
   * Where jobs' records live (status, attempts, progress, result or error). The default
   * MemoryJobStore serves this process only. A shared store (RedisJobStore, PostgresJobStore,
   * SqliteJobStore, NatsJobStore) lets every process sharing it follow, look up and cancel any job.
   * The app closes it when it stops.
   *
   * @defaultValue `new MemoryJobStore()`
   */
  store?: JobStore;
}

/** Options of {@link Jobs.stop}. */
export interface StopOptions {
  /**
   * `true`: let queued and running jobs finish first, up to `timeout`. `false`: abort now.
   *
   * @defaultValue `true`
   */
  graceful?: boolean;
  /**
   * Milliseconds the whole stop may take before what still runs is abandoned.
   *
   * @defaultValue `10_000`
   */
  timeout?: number;
}
