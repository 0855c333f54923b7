import { InvalidStateError } from '../errors.js';
import type { Job } from './job.js';
import type { JobContext, JobEnvelope } from './types.js';

/**
 * One execution of a job: `this` of the task function and the context of worker-side middlewares.
 * The AbortController is made on the first read of `signal`, so a task that never looks at it
 * costs none; an abort that happened before that read is applied to the new signal.
 */
export class JobExecution<R = unknown> implements JobContext<R> {
  readonly job: Job<R>;
  readonly message: JobEnvelope;
  readonly attempt: number;
  readonly #report: ProgressReport;
  #controller: AbortController | undefined;
  #abortReason: unknown;
  #aborted = false;

  constructor(job: Job<R>, message: JobEnvelope, report: ProgressReport) {
    this.job = job;
    this.message = message;
    this.attempt = message.attempt;
    this.#report = report;
  }

  progress(value: unknown): Promise<void> {
    return this.#report(this.job, value);
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#abortReason);
    }
    return this.#controller.signal;
  }

  /** Why this execution was aborted (timeout, cancel, stop); `undefined` while it was not. */
  get abortReason(): unknown {
    return this.#abortReason;
  }

  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#abortReason = reason;
    this.#controller?.abort(reason);
  }
}

/** How an execution's progress reaches the job's handle and its store. */
export type ProgressReport = (job: Job<any>, value: unknown) => Promise<void>;

const neverAborted = new AbortController().signal;

/**
 * The context of push-side middlewares (before the QueueMiddleware). Nothing runs yet, so its
 * signal never aborts. `delay` and `key` are how the enqueue step learns a schedule's timing.
 */
export class PushContext<R = unknown> implements JobContext<R> {
  readonly job: Job<R>;
  readonly message: JobEnvelope;
  readonly attempt = 1;
  readonly delay: number;
  readonly key: string | undefined;

  constructor(job: Job<R>, message: JobEnvelope, delay: number, key: string | undefined) {
    this.job = job;
    this.message = message;
    this.delay = delay;
    this.key = key;
  }

  get signal(): AbortSignal {
    return neverAborted;
  }

  progress(): Promise<void> {
    return Promise.reject(
      new InvalidStateError(`job ${this.job.id} reports no progress at push time: it is not running`),
    );
  }
}
