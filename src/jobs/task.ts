import { InvalidOptionError } from '../errors.js';
import type { SendOptions } from '../queuing/types.js';
import type { CronSchedule } from './cron.js';
import type { Job } from './job.js';
import { PLAIN_PUSH, type PushRequest, resolveJobOptions } from './job-options.js';
import type { JobContext, JobOptions, TaskFunction, TaskOptions } from './types.js';

/** A task as the runtime sees it: options checked and resolved once, at registration. */
export interface TaskDefinition {
  readonly name: string;
  readonly fn: (this: JobContext, ...args: any[]) => unknown;
  readonly priority: number;
  /** What the queue is sent for this task's jobs; made once, since most sends need nothing else. */
  readonly sendOptions: SendOptions | undefined;
  readonly retry: number;
  readonly timeout: number | undefined;
  readonly metadata: Readonly<Record<string, unknown>>;
}

/** How a task reaches its app (implemented by Jobs). */
export interface TaskHost {
  push(task: TaskDefinition, args: unknown[], request: PushRequest): Promise<Job<any>>;
  cron(task: TaskDefinition, args: unknown[], expression: string, id: string | undefined): CronSchedule;
}

/** What `jobs.task(...)` returns: pushes jobs of one task, typed from its function. */
export class Task<A extends unknown[], R> {
  readonly #host: TaskHost;
  readonly #definition: TaskDefinition;

  /** @internal Made by `jobs.task`. */
  constructor(host: TaskHost, definition: TaskDefinition) {
    this.#host = host;
    this.#definition = definition;
  }

  /** The task's name, unique within its app. */
  get name(): string {
    return this.#definition.name;
  }

  /**
   * Creates a job and resolves with its handle once the job is accepted: behind a QueueMiddleware,
   * once it is on the queue (waiting while the queue is full). Rejects `SerializationError` when an
   * argument is not JSON-serialisable and `InvalidStateError` when the app is not running.
   */
  push(...args: A): Promise<Job<R>> {
    return this.#host.push(this.#definition, args, PLAIN_PUSH);
  }

  /**
   * A pusher of jobs with these options: `id` (idempotent while the store keeps the job),
   * `priority`, `delay`, `metadata`. Throws `InvalidOptionError` for a bad option.
   */
  with(options: JobOptions): Pusher<A, R> {
    return new Pusher(this.#host, this.#definition, resolveJobOptions(options));
  }

  /** Runs later: `.delay(ms)`, `.at(date)`, or repeatedly: `.cron(expression, { id })`. */
  schedule(...args: A): ScheduleBuilder<R> {
    return new ScheduleBuilder(this.#host, this.#definition, args);
  }
}

/** What `task.with(options)` returns: `push(...args)` with those options. */
export class Pusher<A extends unknown[], R> {
  readonly #host: TaskHost;
  readonly #definition: TaskDefinition;
  readonly #request: PushRequest;

  /** @internal Made by `task.with`. */
  constructor(host: TaskHost, definition: TaskDefinition, request: PushRequest) {
    this.#host = host;
    this.#definition = definition;
    this.#request = request;
  }

  /** As `task.push`; with an `id` the store keeps, resolves that job's handle and enqueues nothing. */
  push(...args: A): Promise<Job<R>> {
    return this.#host.push(this.#definition, args, this.#request);
  }
}

/** What `task.schedule(...args)` returns: pushes the job later, once or on a cron schedule. */
export class ScheduleBuilder<R> {
  readonly #host: TaskHost;
  readonly #definition: TaskDefinition;
  readonly #args: unknown[];

  /** @internal Made by `task.schedule`. */
  constructor(host: TaskHost, definition: TaskDefinition, args: unknown[]) {
    this.#host = host;
    this.#definition = definition;
    this.#args = args;
  }

  /** A job with status `scheduled` that becomes ready after `ms` milliseconds. */
  delay(ms: number): Promise<Job<R>> {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
      return Promise.reject(new InvalidOptionError('delay', ms, 'a finite number of milliseconds ≥ 0'));
    }
    return this.#host.push(this.#definition, this.#args, { delay: ms });
  }

  /** A job that becomes ready at `date` (at once when `date` is past). */
  at(date: Date): Promise<Job<R>> {
    const time = date instanceof Date ? date.getTime() : Number.NaN;
    if (Number.isNaN(time)) return Promise.reject(new InvalidOptionError('date', date, 'a valid Date'));
    return this.#host.push(this.#definition, this.#args, { delay: Math.max(0, time - Date.now()) });
  }

  /**
   * Pushes a job at every time the cron expression matches while the app runs (5 fields, or 6 with
   * seconds first). `id` names the schedule (default `task:expression`); each run's job id is
   * `id@<ISO time>` and is sent as the queue's dedup key, so processes sharing a broker queue and
   * running the same schedule push each run once. Throws `InvalidCronError` on a bad expression.
   */
  cron(expression: string, options: { id?: string } = {}): CronSchedule {
    if (options === null || typeof options !== 'object') {
      throw new InvalidOptionError('cron options', options, 'an object such as { id }');
    }
    return this.#host.cron(this.#definition, this.#args, expression, options.id);
  }
}

/** @internal Checks a task's options once, at registration. */
export function defineTask<A extends unknown[], R>(
  name: string,
  fn: TaskFunction<A, R>,
  options: TaskOptions = {},
): TaskDefinition {
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidOptionError('task name', name, 'a non-empty string');
  }
  if (typeof fn !== 'function') throw new InvalidOptionError(`function of task "${name}"`, fn, 'a function');
  const { metadata = {}, retry = 0, timeout } = options;
  if (metadata === null || typeof metadata !== 'object') {
    throw new InvalidOptionError('metadata', metadata, 'an object');
  }
  const priority = options.priority ?? metadata.priority ?? 0;
  if (typeof priority !== 'number' || !Number.isFinite(priority)) {
    throw new InvalidOptionError('priority', priority, 'a finite number');
  }
  if (!Number.isInteger(retry) || retry < 0) throw new InvalidOptionError('retry', retry, 'an integer ≥ 0');
  if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout > 0) || !Number.isFinite(timeout))) {
    throw new InvalidOptionError('timeout', timeout, 'a finite number of milliseconds > 0');
  }
  const sendOptions = priority === 0 ? undefined : Object.freeze({ priority });
  return { name, fn: fn as TaskDefinition['fn'], priority, sendOptions, retry, timeout, metadata };
}
