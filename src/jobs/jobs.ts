import { InvalidOptionError, InvalidStateError, SerializationError } from '../errors.js';
import { assertMiddlewares } from '../middleware/compose.js';
import type { InlineGeneratorMiddleware } from '../middleware/types.js';
import { assertBackoff } from '../queuing/backoff.js';
import { serializationProblem } from '../queuing/json.js';
import type { Backoff, Queue } from '../queuing/types.js';
import { CronSchedule, startSchedule } from './cron.js';
import { TaskAlreadyRegisteredError } from './errors.js';
import type { Job } from './job.js';
import { QueueMiddleware } from './queue-middleware.js';
import { JobRuntime } from './runtime.js';
import { defineTask, Task, type TaskDefinition, type TaskHost } from './task.js';
import type { JobContext, JobEnvelope, JobMiddleware, TaskFunction, TaskOptions } from './types.js';

export interface JobsOptions {
  /** Wait before each retry. Default `{ type: 'exponential', delay: 100, max: 30_000 }`. */
  backoff?: Backoff;
}

export interface StopOptions {
  /** `true` (default): let queued and running jobs finish first, up to `timeout`. `false`: abort now. */
  graceful?: boolean;
  /** Milliseconds the whole stop may take before what still runs is abandoned. Default 10 s. */
  timeout?: number;
}

type State = 'configuring' | 'running' | 'stopping' | 'stopped';

/**
 * A jobs app: register tasks and middlewares, `start()`, push jobs, `stop()`. Configuration is
 * frozen by `start()`; an app runs once (make a new one to run again).
 */
export class Jobs implements AsyncDisposable {
  readonly #backoff: Backoff;
  readonly #tasks = new Map<string, TaskDefinition>();
  readonly #middlewares: (JobMiddleware | QueueMiddleware<Queue<any>>)[] = [];
  readonly #schedules = new Map<string, CronSchedule>();
  readonly #host: TaskHost = {
    push: (task, args, delay) => this.#push(task, args, delay),
    cron: (task, args, expression, id) => this.#cron(task, args, expression, id),
  };
  #state: State = 'configuring';
  #runtime: JobRuntime | undefined;
  #stopped: Promise<void> | undefined;

  constructor(options: JobsOptions = {}) {
    const { backoff = { type: 'exponential', delay: 100, max: 30_000 } } = options;
    assertBackoff(backoff);
    this.#backoff = backoff;
  }

  /** Registers a task; its jobs call `fn` with the pushed arguments and `this` = `{ job, signal, attempt }`. */
  task<A extends unknown[], R>(
    name: string,
    fn: TaskFunction<A, R>,
    options?: TaskOptions,
  ): Task<A, Awaited<R>> {
    this.#assertConfiguring(`register task "${name}"`);
    if (this.#tasks.has(name)) throw new TaskAlreadyRegisteredError(name);
    const definition = defineTask(name, fn, options);
    this.#tasks.set(name, definition);
    return new Task(this.#host, definition);
  }

  /**
   * Adds job middlewares, outer first, and at most one QueueMiddleware: those before it run in
   * `push`, those after it in the worker around each execution.
   */
  use(...middlewares: (InlineGeneratorMiddleware<JobEnvelope, JobContext> | QueueMiddleware<any>)[]): this;
  use(...middlewares: (JobMiddleware | QueueMiddleware<any>)[]): this;
  use(...middlewares: (JobMiddleware | QueueMiddleware<any>)[]): this {
    this.#assertConfiguring('add middlewares');
    let queueMiddlewares = this.#middlewares.some((m) => m instanceof QueueMiddleware) ? 1 : 0;
    for (const middleware of middlewares) {
      if (!(middleware instanceof QueueMiddleware)) assertMiddlewares([middleware]);
      else if (++queueMiddlewares > 1) {
        throw new InvalidOptionError(
          'middleware',
          'a second QueueMiddleware',
          'at most one QueueMiddleware per app',
        );
      }
    }
    this.#middlewares.push(...middlewares);
    return this;
  }

  /** Freezes the configuration, starts the workers and the cron schedules. */
  async start(): Promise<void> {
    if (this.#state !== 'configuring') {
      throw new InvalidStateError(`cannot start the jobs app: it is ${this.#state} (an app runs once)`);
    }
    const at = this.#middlewares.findIndex((m) => m instanceof QueueMiddleware);
    const queueMiddleware = at < 0 ? undefined : (this.#middlewares[at] as QueueMiddleware<Queue<any>>);
    const split = at < 0 ? this.#middlewares.length : at;
    this.#runtime = new JobRuntime({
      tasks: this.#tasks,
      before: this.#middlewares.slice(0, split) as JobMiddleware[],
      after: this.#middlewares.slice(split + 1) as JobMiddleware[],
      queueMiddleware,
      backoff: this.#backoff,
    });
    this.#state = 'running';
    for (const schedule of this.#schedules.values()) schedule[startSchedule]();
  }

  /**
   * Stops the cron schedules and refuses new jobs, then (graceful, the default) lets queued and
   * running jobs finish up to `timeout`, then aborts what still runs. `graceful: false` aborts at
   * once. Never takes much longer than `timeout`. A job that ends before then keeps its outcome (its
   * message is acked); jobs that did not finish end `cancelled`, and the messages of those the stop
   * aborted or that still run go back to the queue, which is then closed. Rejects, once every job
   * handle has settled, with the error that stopped the workers early, if one did (the queue's
   * iteration failing), or else with the queue's `close()` error.
   */
  stop(options: StopOptions = {}): Promise<void> {
    const { graceful = true, timeout = 10_000 } = options;
    if (typeof timeout !== 'number' || !(timeout >= 0) || !Number.isFinite(timeout)) {
      return Promise.reject(
        new InvalidOptionError('timeout', timeout, 'a finite number of milliseconds ≥ 0'),
      );
    }
    if (this.#stopped !== undefined) return this.#stopped;
    const runtime = this.#runtime;
    this.#state = runtime === undefined ? 'stopped' : 'stopping';
    for (const schedule of [...this.#schedules.values()]) schedule.stop();
    this.#stopped =
      runtime === undefined
        ? Promise.resolve()
        : runtime.stop(graceful, timeout).finally(() => {
            this.#state = 'stopped';
          });
    return this.#stopped;
  }

  /** `await using jobs = new Jobs()`: a graceful stop on leaving the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  #push(task: TaskDefinition, args: unknown[], delay: number, id?: string): Promise<Job<any>> {
    if (this.#state !== 'running' || this.#runtime === undefined) {
      const why = this.#state === 'configuring' ? 'has not been started' : `is ${this.#state}`;
      return Promise.reject(
        new InvalidStateError(`cannot push a job of task "${task.name}": the jobs app ${why}`),
      );
    }
    return this.#runtime.push(task, args, delay, id, id);
  }

  #cron(
    task: TaskDefinition,
    args: unknown[],
    expression: string,
    id = `${task.name}:${expression}`,
  ): CronSchedule {
    if (this.#state === 'stopping' || this.#state === 'stopped') {
      throw new InvalidStateError(`cannot schedule task "${task.name}": the jobs app is ${this.#state}`);
    }
    if (typeof id !== 'string' || id.length === 0)
      throw new InvalidOptionError('id', id, 'a non-empty string');
    if (this.#schedules.has(id)) {
      throw new InvalidOptionError('id', id, 'an id no other cron schedule of this app uses');
    }
    const problem = serializationProblem(args, 'args');
    if (problem !== undefined)
      throw new SerializationError(`cannot schedule task "${task.name}": ${problem}`);
    const schedule = new CronSchedule(
      id,
      expression,
      (jobId) => this.#push(task, args, 0, jobId),
      (stopped) => this.#schedules.delete(stopped.id),
    );
    this.#schedules.set(id, schedule);
    if (this.#state === 'running') schedule[startSchedule]();
    return schedule;
  }

  #assertConfiguring(what: string): void {
    if (this.#state === 'configuring') return;
    const why = this.#state === 'running' ? 'the jobs app already started' : `the jobs app is ${this.#state}`;
    throw new InvalidStateError(`cannot ${what}: ${why}`);
  }
}
