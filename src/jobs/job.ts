import { InvalidOptionError, TimeoutError } from '../errors.js';
import { Timer } from '../timer.js';
import { now } from './clock.js';
import { JobFailedError, JobNotCompletedError } from './errors.js';
import { revivedError, storedError } from './job-error.js';
import {
  type Abortable,
  abandon,
  apply,
  execution,
  indexed,
  liveNext,
  livePrevious,
  setProgress,
  setStatus,
  settle,
  snapshot,
  type Waiter,
} from './job-internals.js';
import { type FinalStatus, isFinal, type JobStatus } from './status.js';
import type { JobChange, JobRecord, Unsubscribe } from './store.js';

export * from './job-internals.js';
export type { FinalStatus, JobStatus } from './status.js';

/** Options of {@link Job.wait}. */
export interface WaitOptions {
  /** Milliseconds to wait before rejecting with {@link TimeoutError}; unset, no limit. */
  timeout?: number;
}

/** @internal What a job handle asks of the app that made it; kept off the public surface. */
export interface JobOwner {
  cancel(job: Job<any>): Promise<void>;
  /**
   * Keeps `job` current from its store's record while it is waited on; `undefined` when the app
   * settles the handle itself (a job of this process, on a store only this process sees).
   */
  follow(job: Job<any>): Promise<Unsubscribe> | undefined;
}

/**
 * The handle `push` and `jobs.get` return. It follows the job wherever it runs: the app settles it
 * when the job runs here, and while it is waited on it follows a shared job store's notifications.
 * With the default MemoryJobStore, a job that a worker of another process takes is not seen: the
 * handle ends `cancelled` ("not completed here") when this app stops. Deliberately not a thenable:
 * `await job` would be ambiguous; use `await job.wait()`.
 */
export class Job<R = unknown> {
  /** The job's id: the one given at push time, or a generated one. */
  readonly id: string;
  /** The task's name. */
  readonly task: string;
  /** The arguments the task is called with. */
  readonly args: readonly unknown[];
  /** The metadata the job was pushed with. */
  readonly metadata: Readonly<Record<string, unknown>> | undefined;
  readonly #owner: JobOwner;
  #status: JobStatus;
  #attempt = 0;
  #progress: unknown;
  #createdAt: number;
  #startedAt: number | undefined;
  #endedAt: number | undefined;
  /** The version of the last store record applied (0: none). */
  #version = 0;
  #value: R | undefined;
  #error: unknown;
  /** Created on the first `wait()`, so a job nobody waits for allocates no promise. */
  #waiters: Waiter[] | undefined;
  /** While waited on: the subscription keeping this handle current, if the owner follows it. */
  #following: Promise<Unsubscribe> | undefined;
  /** @internal The execution in progress, set by the runtime while the task function runs. */
  [execution]: Abortable | undefined = undefined;
  /** @internal */ [livePrevious]: Job<any> | undefined = undefined;
  /** @internal */ [liveNext]: Job<any> | undefined = undefined;
  /** @internal */ [indexed] = false;

  /** @internal Handles are made by `push` and `jobs.get`. */
  constructor(
    owner: JobOwner,
    id: string,
    task: string,
    status: JobStatus,
    args: readonly unknown[],
    metadata?: Readonly<Record<string, unknown>>,
    createdAt = now(),
  ) {
    this.#owner = owner;
    this.id = id;
    this.task = task;
    this.args = args;
    this.metadata = metadata;
    this.#status = status;
    this.#createdAt = createdAt;
  }

  /** @internal A handle on what a store keeps of a job. */
  static fromRecord<R>(owner: JobOwner, record: JobRecord): Job<R> {
    const { id, task, args, metadata, createdAt } = record;
    // Made not ended, so that the record (an ended job's included) is applied whole.
    const job = new Job<R>(owner, id, task, 'pending', args, metadata, createdAt);
    job[apply](record);
    return job;
  }

  /** @internal This handle as a store record (a MemoryJobStore keeps handles as its records). */
  [snapshot](version: number): JobRecord {
    const status = this.#status;
    return {
      id: this.id,
      task: this.task,
      args: this.args,
      status,
      attempt: this.#attempt,
      progress: this.#progress,
      result: status === 'success' ? this.#value : undefined,
      error: status === 'failed' || status === 'timeout' ? storedError(this.#error) : undefined,
      metadata: this.metadata,
      createdAt: this.#createdAt,
      startedAt: this.#startedAt,
      endedAt: this.#endedAt,
      version,
    };
  }

  /** Where the job is in its life, as last seen by this handle. */
  get status(): JobStatus {
    return this.#status;
  }

  /** Executions started so far (0 while the job waits for its first). */
  get attempt(): number {
    return this.#attempt;
  }

  /** The last value the task reported with `this.progress(value)`. */
  get progress(): unknown {
    return this.#progress;
  }

  /** When the job was pushed. */
  get createdAt(): Date {
    return new Date(this.#createdAt);
  }

  /** When its latest execution started; `undefined` before the first. */
  get startedAt(): Date | undefined {
    return this.#startedAt === undefined ? undefined : new Date(this.#startedAt);
  }

  /** When it reached a final status; `undefined` until then. */
  get endedAt(): Date | undefined {
    return this.#endedAt === undefined ? undefined : new Date(this.#endedAt);
  }

  /**
   * Resolves with the final status once the job has one, wherever it ran. On the default
   * MemoryJobStore, without `timeout`, it never rejects.
   * @throws {@link TimeoutError} (as a rejection) when `timeout` is given and passes first
   * @throws {@link InvalidStateError} (as a rejection) if the app stops while following a shared store's job
   * @throws {@link InvalidOptionError} (as a rejection) when `timeout` is not a finite number ≥ 0
   */
  wait(options: WaitOptions = {}): Promise<FinalStatus> {
    const timeout = options?.timeout;
    if (
      timeout !== undefined &&
      (typeof timeout !== 'number' || !(timeout >= 0) || !Number.isFinite(timeout))
    ) {
      return Promise.reject(
        new InvalidOptionError('timeout', timeout, 'a finite number of milliseconds ≥ 0'),
      );
    }
    if (isFinal(this.#status)) return Promise.resolve(this.#status);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined };
      if (timeout !== undefined) {
        waiter.timer = new Timer(timeout, () => {
          this.#leave(waiter);
          reject(new TimeoutError(`waiting for job ${this.id} of task "${this.task}"`, timeout));
        });
      }
      this.#waiters ??= [];
      this.#waiters.push(waiter);
      if (this.#following === undefined) this.#follow();
    });
  }

  /**
   * The task's return value, once the job ended `success`.
   * @throws {@link JobFailedError} when the job failed or timed out (cause: the task's error, or the
   * {@link TimeoutError})
   * @throws {@link JobNotCompletedError} when it has not ended, or ended `cancelled`
   */
  result(): R {
    const status = this.#status;
    if (status === 'success') return this.#value as R;
    if (status === 'failed' || status === 'timeout') {
      throw new JobFailedError(this.id, this.task, status, this.#error);
    }
    throw new JobNotCompletedError(this.id, this.task, status);
  }

  /**
   * A queued or scheduled job becomes `cancelled` and never runs. A running job becomes `cancelled`
   * and its `signal` aborts in the process running it. No-op once the job has ended.
   */
  cancel(): Promise<void> {
    if (isFinal(this.#status)) return Promise.resolve();
    return this.#owner.cancel(this);
  }

  /** @internal */ [setStatus](status: 'pending' | 'scheduled' | 'running', attempt?: number): void {
    if (isFinal(this.#status)) return;
    this.#status = status;
    if (attempt !== undefined) {
      this.#attempt = attempt;
      this.#startedAt = now();
    }
  }

  /** @internal Progress reported by an execution in this process. */
  [setProgress](value: unknown): void {
    if (!isFinal(this.#status)) this.#progress = value;
  }

  /** @internal Records the outcome once; later calls (a cancelled job's function returning) are ignored. */
  [settle](status: FinalStatus, value?: R, error?: unknown, endedAt = now()): boolean {
    if (isFinal(this.#status)) return false;
    this.#status = status;
    this.#value = value;
    this.#error = error;
    this.#endedAt = endedAt;
    const waiters = this.#waiters;
    if (waiters !== undefined) {
      this.#waiters = undefined;
      this.#unfollow();
      for (const waiter of waiters) {
        waiter.timer?.cancel();
        waiter.resolve(status);
      }
    }
    return true;
  }

  /** @internal Nothing will update this handle any more (its app stopped): its waits reject with `error`. */
  [abandon](error: unknown): void {
    const waiters = this.#waiters;
    this.#waiters = undefined;
    this.#unfollow();
    for (const waiter of waiters ?? []) {
      waiter.timer?.cancel();
      waiter.reject(error);
    }
  }

  /** @internal Takes the store's record (or change), unless this handle has seen a newer one or has ended. */
  [apply](record: JobChange): void {
    if (record.version <= this.#version || isFinal(this.#status)) return;
    this.#version = record.version;
    this.#attempt = record.attempt;
    this.#progress = record.progress;
    this.#startedAt = record.startedAt;
    if (!isFinal(record.status)) {
      this.#status = record.status;
      return;
    }
    const error = record.error === undefined ? undefined : revivedError(record.error);
    this[settle](record.status, record.result as R, error, record.endedAt);
  }

  #follow(): void {
    const following = this.#owner.follow(this);
    if (following === undefined) return;
    this.#following = following;
    // A store that cannot be followed now leaves the handle as it is; the waits keep waiting.
    following.catch(() => {
      if (this.#following === following) this.#following = undefined;
    });
  }

  #unfollow(): void {
    const following = this.#following;
    this.#following = undefined;
    following?.then(
      (stop) => stop(),
      () => {},
    );
  }

  #leave(waiter: Waiter): void {
    const waiters = this.#waiters;
    if (waiters === undefined) return;
    waiters.splice(waiters.indexOf(waiter), 1);
    if (waiters.length > 0) return;
    this.#waiters = undefined;
    this.#unfollow();
  }
}
