import type { Context, Middleware } from '../middleware/types.js';
import type { Job } from './job.js';

/** Options of `jobs.task(name, fn, options)`; `jobs.task` throws {@link InvalidOptionError} on a bad one. */
export interface TaskOptions {
  /**
   * Higher runs first behind a QueueMiddleware. A finite number.
   *
   * @defaultValue `metadata.priority`, else `0`
   */
  priority?: number;
  /**
   * Tries after the first one (`retry: 3` runs at most 4 times), waiting the app's `backoff` between
   * them. An integer of at least 0.
   *
   * @defaultValue `0`
   */
  retry?: number;
  /**
   * Milliseconds one execution may take (time spent queued does not count). Past it the execution's
   * signal aborts and it fails with a {@link TimeoutError}: retried as `retry` allows, else the job
   * ends `timeout`. Unset: no limit.
   */
  timeout?: number;
  /** Free-form data about the task; `metadata.priority` is read when `priority` is not given. */
  metadata?: Readonly<Record<string, unknown>>;
}

/**
 * What travels through the queue: plain JSON, so a worker in another process can run the job by
 * looking the task up by name. Job middlewares see (and may replace) it as their message. Within
 * the process that pushed it, it also carries the job handle under a private symbol key, which
 * JSON ignores.
 */
export interface JobEnvelope {
  /** The job's id. */
  readonly id: string;
  /** The name of the task that runs the job. */
  readonly task: string;
  /** The arguments the task function is called with. */
  readonly args: readonly unknown[];
  /** The job's priority, sent as the queue message's priority. */
  readonly priority: number;
  /** 1 on the first execution, +1 on each retry. */
  readonly attempt: number;
  /** The job's group (`JobOptions.group`), sent as the queue message's group; absent for none. */
  readonly group?: string;
}

/** `this` inside a task function, and the context job middlewares receive. */
export interface JobContext<R = unknown> extends Context<JobEnvelope> {
  /** The handle of the job being run. */
  readonly job: Job<R>;
  /** 1 on the first execution, +1 on each retry. */
  readonly attempt: number;
  /** Aborts on timeout, on `job.cancel()` and when the app stops without waiting for the job. */
  readonly signal: AbortSignal;
  /**
   * Reports how far the job is (a number or any JSON value): every handle on the job sees it, in
   * every process sharing the job store. Rejects `SerializationError` for a value JSON cannot carry.
   */
  progress(value: unknown): Promise<void>;
}

/** What `task.with(options)` and `jobs.push(task, args, options)` take. */
export interface JobOptions {
  /**
   * The job's id (a non-empty string of at most 255 characters). While the store keeps a job with
   * this id, pushing it again enqueues nothing and returns that job's handle. Default: a unique id.
   */
  id?: string;
  /** Overrides the task's priority for this job. */
  priority?: number;
  /** Milliseconds before the job becomes ready (its status is `scheduled` until then). Default 0. */
  delay?: number;
  /** Free-form JSON data kept with the job's record. */
  metadata?: Readonly<Record<string, unknown>>;
  /**
   * The job's group, e.g. a tenant (SPEC § 7): behind a QueueMiddleware, workers take jobs
   * round-robin across groups, and its `groupConcurrency` caps each group's jobs running at once.
   * Retries keep it. Default: none (the default group).
   */
  group?: string;
}

/**
 * The function of a task: called with the pushed arguments and `this` = the {@link JobContext}; what
 * it returns (or resolves with) is the job's result, what it throws fails the execution.
 */
export type TaskFunction<A extends unknown[], R> = (this: JobContext<Awaited<R>>, ...args: A) => R;

/**
 * Job middlewares: the same two styles as bus middlewares, with the envelope as message. Registered
 * before a QueueMiddleware they run in `push`; after it, in the worker around each execution.
 */
export type JobMiddleware = Middleware<JobEnvelope, JobContext>;
