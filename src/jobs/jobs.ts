import { InvalidOptionError, InvalidStateError, SerializationError } from '../errors.js';
import { assertMiddlewares } from '../middleware/compose.js';
import type { InlineGeneratorMiddleware } from '../middleware/types.js';
import { assertBackoff } from '../queuing/backoff.js';
import { serializationProblem } from '../queuing/json.js';
import type { Backoff, Queue } from '../queuing/types.js';
import { CronSchedule, startSchedule } from './cron.js';
import { TaskAlreadyRegisteredError, UnknownTaskError } from './errors.js';
import type { Job } from './job.js';
import { assertJobId } from './job-id.js';
import { type PushRequest, resolveJobOptions } from './job-options.js';
import type { JobsOptions, StopOptions } from './jobs-options.js';
import { MemoryJobStore } from './memory-job-store.js';
import { QueueMiddleware } from './queue-middleware.js';
import { JobRuntime } from './runtime.js';
import type { JobStore } from './store.js';
import { defineTask, Task, type TaskDefinition, type TaskHost } from './task.js';
import type {
  JobContext,
  JobEnvelope,
  JobMiddleware,
  JobOptions,
  TaskFunction,
  TaskOptions,
} from './types.js';

type State = 'configuring' | 'starting' | 'running' | 'stopping' | 'stopped';

/**
 * A jobs app: register tasks and middlewares, `start()`, push jobs, `stop()`. Configuration is
 * frozen by `start()`; an app runs once (make a new one to run again).
 *
 * @example
 * ```ts
 * import { Jobs } from 'sluice';
 *
 * const jobs = new Jobs();
 * const add = jobs.task('add', async (a: number, b: number) => a + b, { retry: 2 });
 * await jobs.start();
 * const job = await add.push(1, 2);
 * await job.wait();
 * console.log(job.result()); // 3
 * await jobs.stop();
 * ```
 */
export class Jobs implements AsyncDisposable {
  readonly #backoff: Backoff;
  readonly #tasks = new Map<string, TaskDefinition>();
  readonly #middlewares: (JobMiddleware | QueueMiddleware<Queue<any>>)[] = [];
  readonly #schedules = new Map<string, CronSchedule>();
  readonly #store: JobStore;
  readonly #host: TaskHost = {
    push: (task, args, request) => this.#push(task, args, request),
    cron: (task, args, expression, id) => this.#cron(task, args, expression, id),
  };
  #state: State = 'configuring';
  #runtime: JobRuntime | undefined;
  #stopped: Promise<void> | undefined;

  /** @throws {@link InvalidOptionError} when `backoff` or `store` cannot work */
  constructor(options: JobsOptions = {}) {
    const { backoff = { type: 'exponential', delay: 100, max: 30_000 }, store = new MemoryJobStore() } =
      options;
    assertBackoff(backoff);
    this.#backoff = backoff;
    if (!isJobStore(store)) throw new InvalidOptionError('store', store, 'a JobStore');
    this.#store = store;
  }

  /**
   * Registers a task; its jobs call `fn` with the pushed arguments and `this` = `{ job, signal, attempt }`.
   * @throws {@link TaskAlreadyRegisteredError} when the app has a task of that name
   * @throws {@link InvalidStateError} once the app was started
   * @throws {@link InvalidOptionError} when the name, `fn` or an option cannot work
   */
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
   *
   * @throws {@link InvalidStateError} once the app was started
   * @throws {@link InvalidOptionError} for something that is not a middleware, or a second QueueMiddleware
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

  /**
   * Freezes the configuration, starts the workers and the cron schedules.
   * @throws {@link InvalidStateError} (as a rejection) when the app was started before
   */
  async start(): Promise<void> {
    if (this.#state !== 'configuring') {
      throw new InvalidStateError(`cannot start the jobs app: it is ${this.#state} (an app runs once)`);
    }
    const at = this.#middlewares.findIndex((m) => m instanceof QueueMiddleware);
    const queueMiddleware = at < 0 ? undefined : (this.#middlewares[at] as QueueMiddleware<Queue<any>>);
    const split = at < 0 ? this.#middlewares.length : at;
    const runtime = new JobRuntime({
      tasks: this.#tasks,
      before: this.#middlewares.slice(0, split) as JobMiddleware[],
      after: this.#middlewares.slice(split + 1) as JobMiddleware[],
      queueMiddleware,
      backoff: this.#backoff,
      store: this.#store,
    });
    this.#state = 'starting';
    try {
      await runtime.start();
    } catch (error) {
      this.#state = 'configuring';
      throw error;
    }
    this.#runtime = runtime;
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
   *
   * @throws {@link InvalidOptionError} (as a rejection) when `timeout` is not a finite number ≥ 0
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

  /**
   * The job with this id, as its store keeps it (`undefined` once its record expired or if there
   * was none): the handle follows it while waited on, from any process sharing the store.
   * @throws {@link InvalidStateError} (as a rejection) when the app is not running
   * @throws {@link InvalidOptionError} (as a rejection) when `id` is not a valid job id
   */
  get(id: string): Promise<Job<any> | undefined> {
    try {
      assertJobId(id);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#state !== 'running' || this.#runtime === undefined) {
      return Promise.reject(new InvalidStateError(`cannot look job ${id} up: the jobs app ${this.#why()}`));
    }
    return this.#runtime.get(id);
  }

  /**
   * Pushes a job of a task by name, for a producer that does not define the task (a
   * `QueueMiddleware({ queue, workers: 0 })` sends it to the workers of other processes): the
   * task's priority there is not known here, so the job's is `options.priority`, default 0.
   *
   * @throws {@link UnknownTaskError} (as a rejection) when no task has that name and the app has no
   * QueueMiddleware to send the job to
   * @throws {@link InvalidStateError} (as a rejection) when the app is not running
   * @throws {@link InvalidOptionError} (as a rejection) for a bad task name, `args` or option
   */
  push<R = unknown>(task: string, args: readonly unknown[], options?: JobOptions): Promise<Job<R>> {
    let request: PushRequest;
    try {
      if (typeof task !== 'string' || task.length === 0) {
        throw new InvalidOptionError('task name', task, 'a non-empty string');
      }
      if (!Array.isArray(args)) throw new InvalidOptionError('args', args, 'an array of arguments');
      request = resolveJobOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    const definition =
      this.#tasks.get(task) ??
      (this.#middlewares.some((m) => m instanceof QueueMiddleware) ? remoteTask(task) : undefined);
    if (definition === undefined)
      return Promise.reject(new UnknownTaskError(task, options?.id ?? '(not pushed)'));
    return this.#push(definition, [...args], request);
  }

  /** `await using jobs = new Jobs()`: a graceful stop on leaving the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  #push(task: TaskDefinition, args: unknown[], request: PushRequest): Promise<Job<any>> {
    if (this.#state !== 'running' || this.#runtime === undefined) {
      return Promise.reject(
        new InvalidStateError(`cannot push a job of task "${task.name}": the jobs app ${this.#why()}`),
      );
    }
    return this.#runtime.push(task, args, request);
  }

  #why(): string {
    return this.#state === 'configuring' ? 'has not been started' : `is ${this.#state}`;
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
      (jobId) => this.#push(task, args, { id: jobId, delay: 0, key: jobId }),
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

function isJobStore(store: unknown): store is JobStore {
  const candidate = store as Partial<JobStore> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.create === 'function' &&
    typeof candidate.start === 'function' &&
    typeof candidate.finish === 'function' &&
    typeof candidate.watch === 'function'
  );
}

/** A task another process defines: pushed by name, with priority 0 unless the push says. */
function remoteTask(name: string): TaskDefinition {
  return {
    name,
    fn: () => Promise.reject(new UnknownTaskError(name, '(pushed by name)')),
    priority: 0,
    sendOptions: undefined,
    retry: 0,
    timeout: undefined,
    metadata: {},
  };
}
