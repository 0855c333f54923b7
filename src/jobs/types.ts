import type { Context, Middleware } from '../middleware/types.js';
import type { Job } from './job.js';

export interface TaskOptions {
  /** Higher runs first behind a QueueMiddleware. Default `metadata.priority`, else 0. */
  priority?: number;
  /** Tries after the first one (`retry: 3` runs at most 4 times), with exponential backoff. Default 0. */
  retry?: number;
  /** Milliseconds one execution may take (time spent queued does not count). Default: none. */
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
  readonly id: string;
  readonly task: string;
  readonly args: readonly unknown[];
  readonly priority: number;
  /** 1 on the first execution, +1 on each retry. */
  readonly attempt: number;
}

/** `this` inside a task function, and the context job middlewares receive. */
export interface JobContext<R = unknown> extends Context<JobEnvelope> {
  readonly job: Job<R>;
  /** 1 on the first execution, +1 on each retry. */
  readonly attempt: number;
  /** Aborts on timeout, on `job.cancel()` and when the app stops without waiting for the job. */
  readonly signal: AbortSignal;
}

export type TaskFunction<A extends unknown[], R> = (this: JobContext<Awaited<R>>, ...args: A) => R;

/**
 * Job middlewares: the same two styles as bus middlewares, with the envelope as message. Registered
 * before a QueueMiddleware they run in `push`; after it, in the worker around each execution.
 */
export type JobMiddleware = Middleware<JobEnvelope, JobContext>;
