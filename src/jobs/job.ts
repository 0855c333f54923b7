import { JobFailedError, JobNotCompletedError } from './errors.js';

export type JobStatus = 'pending' | 'scheduled' | 'running' | 'success' | 'failed' | 'timeout' | 'cancelled';

/** Statuses a job never leaves. */
export type FinalStatus = 'success' | 'failed' | 'timeout' | 'cancelled';

/** What a job handle asks of the app that made it; kept off the public surface. */
export interface JobOwner {
  cancel(job: Job<any>): void;
}

/** Internal transitions, keyed by symbols the package entry point does not export. */
export const setStatus: unique symbol = Symbol('sluice.job.setStatus');
export const settle: unique symbol = Symbol('sluice.job.settle');
export const execution: unique symbol = Symbol('sluice.job.execution');
/** Links of the runtime's list of jobs that are not final yet (see LiveJobs). */
export const livePrevious: unique symbol = Symbol('sluice.job.livePrevious');
export const liveNext: unique symbol = Symbol('sluice.job.liveNext');

/** What the runtime needs of the execution in progress: a way to abort it. */
export interface Abortable {
  abort(reason: unknown): void;
}

/**
 * The handle `push` returns. It follows the job as the worker in THIS process runs it. When the job
 * is executed by a worker in another process (a broker queue shared by several processes), this
 * handle does not see that execution: it stays `pending` until this app stops, and is then
 * `cancelled` (meaning "not completed here"), while the job itself completes over there.
 *
 * Deliberately not a thenable: `await job` would be ambiguous; use `await job.wait()`.
 */
export class Job<R = unknown> {
  readonly id: string;
  /** The task's name. */
  readonly task: string;
  readonly #owner: JobOwner;
  #status: JobStatus;
  #value: R | undefined;
  #error: unknown;
  /** Created on the first `wait()`, so a job nobody waits for allocates no promise. */
  #waiters: ((status: FinalStatus) => void)[] | undefined;
  /** The execution in progress, set by the runtime while the task function runs. */
  [execution]: Abortable | undefined = undefined;
  [livePrevious]: Job<any> | undefined = undefined;
  [liveNext]: Job<any> | undefined = undefined;

  constructor(owner: JobOwner, id: string, task: string, status: JobStatus) {
    this.#owner = owner;
    this.id = id;
    this.task = task;
    this.#status = status;
  }

  get status(): JobStatus {
    return this.#status;
  }

  /** Resolves with the final status once the job has one. Never rejects. */
  wait(): Promise<FinalStatus> {
    if (isFinal(this.#status)) return Promise.resolve(this.#status);
    return new Promise((resolve) => {
      this.#waiters ??= [];
      this.#waiters.push(resolve);
    });
  }

  /**
   * The task's return value. Throws `JobFailedError` (cause: the task's error, or the `TimeoutError`)
   * when the job failed or timed out, and `JobNotCompletedError` when it has not finished or was cancelled.
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
   * at once and its `signal` aborts; its worker is busy until the function returns. No-op when done.
   */
  cancel(): Promise<void> {
    if (!isFinal(this.#status)) this.#owner.cancel(this);
    return Promise.resolve();
  }

  [setStatus](status: 'pending' | 'scheduled' | 'running'): void {
    this.#status = status;
  }

  /** Records the outcome once; later calls (a cancelled job's function returning) are ignored. */
  [settle](status: FinalStatus, value?: R, error?: unknown): boolean {
    if (isFinal(this.#status)) return false;
    this.#status = status;
    this.#value = value;
    this.#error = error;
    const waiters = this.#waiters;
    if (waiters !== undefined) {
      this.#waiters = undefined;
      for (const resolve of waiters) resolve(status);
    }
    return true;
  }
}

export function isFinal(status: JobStatus): status is FinalStatus {
  return status === 'success' || status === 'failed' || status === 'timeout' || status === 'cancelled';
}
