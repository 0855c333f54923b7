import { SluiceError } from '../errors.js';

/** `jobs.task(name, ...)` with a name another task of the same app already has. */
export class TaskAlreadyRegisteredError extends SluiceError {
  constructor(task: string) {
    super('TASK_ALREADY_REGISTERED', `a task named "${task}" is already registered`);
  }
}

/** A worker received a job whose task this process does not define (it is nacked, not run). */
export class UnknownTaskError extends SluiceError {
  constructor(task: string, jobId: string) {
    super('UNKNOWN_TASK', `job ${jobId} names task "${task}", which is not registered in this process`);
  }
}

/** A cron expression that is not 5 or 6 fields, or that the parser rejects; `cause` says why. */
export class InvalidCronError extends SluiceError {
  constructor(expression: unknown, cause: unknown) {
    const reason = cause instanceof Error ? `: ${cause.message}` : '';
    super('INVALID_CRON', `invalid cron expression ${JSON.stringify(expression)}${reason}`, { cause });
  }
}

/** The abort reason a task's `signal` carries when the job is cancelled or the app stops. */
export class JobCancelledError extends SluiceError {
  constructor(jobId: string, task: string, why: string) {
    super('JOB_CANCELLED', `job ${jobId} of task "${task}" was aborted: ${why}`);
  }
}

/** `job.result()` on a job that failed or timed out; `cause` is the task's error. */
export class JobFailedError extends SluiceError {
  /** The id of the job that failed. */
  readonly jobId: string;

  constructor(jobId: string, task: string, status: string, cause: unknown) {
    super('JOB_FAILED', `job ${jobId} of task "${task}" ended with status ${status}`, { cause });
    this.jobId = jobId;
  }
}

/** `job.result()` on a job that has not succeeded or failed yet, or was cancelled. */
export class JobNotCompletedError extends SluiceError {
  /** The id of the job that has no result. */
  readonly jobId: string;

  constructor(jobId: string, task: string, status: string) {
    super('JOB_NOT_COMPLETED', `job ${jobId} of task "${task}" has no result: its status is ${status}`);
    this.jobId = jobId;
  }
}
