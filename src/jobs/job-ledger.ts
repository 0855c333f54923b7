import { InvalidStateError } from '../errors.js';
import { RESOLVED } from '../queuing/settled.js';
import { abandon, apply, Job, type JobOwner } from './job.js';
import { adopt, handleOf, MemoryJobStore, touched } from './memory-job-store.js';
import { isFinal } from './status.js';
import type { JobChange, JobEnd, JobRecord, JobStore, NewJobRecord, Unsubscribe } from './store.js';
import type { TrackedJobs } from './tracked-jobs.js';
import type { JobEnvelope } from './types.js';

/**
 * A runtime's way to its job store, in one of two modes:
 * - a MemoryJobStore (the default) keeps the app's handles themselves as its records: nothing
 *   waits on it, and the app settles its handles itself;
 * - any other store is **shared** with other processes: a worker runs a job only once the store
 *   says it started, a job ends in the store before its message is acked, and a handle waited on
 *   follows the store's notifications, since the job may run anywhere.
 */
export class JobLedger {
  readonly store: JobStore;
  readonly shared: boolean;
  readonly #memory: MemoryJobStore | undefined;
  readonly #owner: JobOwner;
  readonly #jobs: TrackedJobs;
  /** Handles following the store now, released when the app stops. */
  readonly #following = new Set<Job<any>>();

  constructor(store: JobStore, owner: JobOwner, jobs: TrackedJobs) {
    this.store = store;
    this.#memory = store instanceof MemoryJobStore ? store : undefined;
    this.shared = this.#memory === undefined;
    this.#owner = owner;
    this.#jobs = jobs;
  }

  /**
   * A pushed job's record. `undefined`: kept, go on at once. Else resolves `undefined` (stored) or
   * the record the store keeps under the same id (then the push enqueues nothing).
   */
  admit(job: Job<any>, createdAt: number, named: boolean): Promise<JobRecord | undefined> | undefined {
    if (this.#memory !== undefined) {
      // A made id is unique: only a caller-chosen one needs the index to be idempotent.
      if (!named) return undefined;
      const kept = this.#memory[adopt](job);
      return kept === undefined ? undefined : Promise.resolve(kept);
    }
    const { id, task, args, metadata } = job;
    const status = job.status as NewJobRecord['status'];
    return this.store.create({ id, task, args, status, createdAt, metadata });
  }

  /** A handle on a kept job: this app's own while it follows the job, else one made from the record. */
  handle(record: JobRecord): Job<any> {
    return this.#jobs.byId(record.id) ?? Job.fromRecord(this.#owner, record);
  }

  /** Whether the store's record of `job` is `job` itself (a MemoryJobStore's, held by this app). */
  holds(job: Job<any>): boolean {
    return this.#memory !== undefined && (this.#jobs.live.has(job) || this.#memory[handleOf](job.id) === job);
  }

  /** A shared store starts the execution (see JobStore.start). */
  start(envelope: JobEnvelope): Promise<JobChange> {
    const { id, task, args } = envelope;
    return this.store.start(id, { id, task, args, status: 'pending', createdAt: Date.now() });
  }

  /** `job`, held as a MemoryJobStore's record, changed: the store's watchers hear of it. */
  touched(job: Job<any>): void {
    this.#memory?.[touched](job);
  }

  retrying(job: Job<any>): Promise<void> {
    if (!this.shared) {
      this.touched(job);
      return RESOLVED;
    }
    return this.store.retrying(job.id);
  }

  progress(job: Job<any>): Promise<void> {
    if (!this.shared) {
      this.touched(job);
      return RESOLVED;
    }
    return this.store.progress(job.id, job.progress);
  }

  /** On a shared store: ends the job there; whether this call ended it. */
  finish(id: string, end: JobEnd): Promise<boolean> {
    return this.store.finish(id, end);
  }

  /** A job the queue refused leaves no record. */
  forget(id: string): Promise<void> {
    return this.store.remove(id);
  }

  /** Reads the store's record into `job` (after a write found the job ended elsewhere). */
  async refresh(job: Job<any>): Promise<void> {
    const record = await this.store.get(job.id);
    if (record !== undefined) job[apply](record);
  }

  /**
   * On a shared store a live handle of this app may lag the store: a worker's own handle hears of
   * the end it wrote after every watcher did. The store's record of an ended job wins.
   */
  async get(id: string): Promise<Job<any> | undefined> {
    const live = this.#jobs.byId(id) ?? this.#jobs.live.find(id);
    if (live !== undefined && (!this.shared || isFinal(live.status))) return live;
    const record = await this.store.get(id);
    if (record === undefined || (live !== undefined && !isFinal(record.status))) return live;
    return live === undefined ? this.handle(record) : Job.fromRecord(this.#owner, record);
  }

  /**
   * Keeps `job` current from the store while it is waited on: subscribe, then read (a change
   * between the two is in both; the record's version keeps the newer). `undefined` for a handle
   * this app settles itself (a MemoryJobStore's record).
   */
  follow(job: Job<any>): Promise<Unsubscribe> | undefined {
    if (this.holds(job)) return undefined;
    this.#following.add(job);
    return this.#follow(job);
  }

  async #follow(job: Job<any>): Promise<Unsubscribe> {
    const unwatch = await this.store.watch(job.id, (record) => job[apply](record));
    const stop = () => {
      unwatch();
      this.#following.delete(job);
    };
    try {
      const record = await this.store.get(job.id);
      if (record !== undefined) job[apply](record);
    } catch (error) {
      stop();
      throw error;
    }
    return stop;
  }

  /** The app stops: the waits of handles following the store reject, since nothing will update them. */
  abandonAll(): void {
    for (const job of [...this.#following]) {
      job[abandon](
        new InvalidStateError(
          `stopped following job ${job.id} of task "${job.task}": the jobs app stopped before the job ended`,
        ),
      );
    }
    this.#following.clear();
  }
}
