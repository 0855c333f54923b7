import { MemoryQueue } from '../queuing/memory/memory-queue.js';
import type { Draining } from '../queuing/pump/draining.js';
import type { Backoff, Queue } from '../queuing/types.js';
import { JobCancelledError } from './errors.js';
import { execution, type Job, type JobOwner } from './job.js';
import { PushSide } from './push-side.js';
import { type QueueMiddleware, startWorkers } from './queue-middleware.js';
import type { TaskDefinition } from './task.js';
import { TrackedJobs } from './tracked-jobs.js';
import type { JobEnvelope, JobMiddleware } from './types.js';
import { WorkerSide } from './worker-side.js';

export interface RuntimeConfig {
  readonly tasks: ReadonlyMap<string, TaskDefinition>;
  /** Middlewares registered before the QueueMiddleware, or all of them when there is none. */
  readonly before: readonly JobMiddleware[];
  readonly after: readonly JobMiddleware[];
  readonly queueMiddleware: QueueMiddleware<Queue<any>> | undefined;
  readonly backoff: Backoff;
}

/**
 * Runs the jobs of a started app, and stops it. Two modes:
 * - with a QueueMiddleware: `push` runs the push-side middlewares and sends the envelope to the
 *   queue; the workers (a Pump) take envelopes, look the task up by name and execute them;
 * - without: `push` starts the execution at once (a delay or a retry waits on a timer).
 *
 * `PushSide` and `WorkerSide` are those two halves; `TrackedJobs` is what they share: the jobs
 * pushed here, kept until they are final, and the executions running here.
 */
export class JobRuntime implements JobOwner {
  readonly #jobs: TrackedJobs;
  readonly #push: PushSide;
  readonly #worker: WorkerSide;
  readonly #queue: Queue<JobEnvelope> | undefined;
  readonly #draining: Draining<JobEnvelope> | undefined;

  constructor(config: RuntimeConfig) {
    const { tasks, backoff, before, after, queueMiddleware } = config;
    const queue: Queue<JobEnvelope> | undefined = queueMiddleware?.queue;
    // Not for a subclass: it may override `send` and copy the envelope.
    const handsOutCopies = queue !== undefined && Object.getPrototypeOf(queue) !== MemoryQueue.prototype;
    this.#jobs = new TrackedJobs(handsOutCopies);
    const middlewares = queue === undefined ? [...before, ...after] : after;
    this.#worker = new WorkerSide(this, this.#jobs, { tasks, backoff, queue, middlewares });
    this.#push = new PushSide(this, this.#jobs, this.#worker, queue, queue === undefined ? [] : before);
    this.#queue = queue;
    // An object dispatcher is called as is; a function one would get an extra async wrapper per job.
    this.#draining = queueMiddleware?.[startWorkers](this.#worker);
  }

  push(task: TaskDefinition, args: unknown[], delay: number, id?: string, key?: string): Promise<Job<any>> {
    return this.#push.push(task, args, delay, id, key);
  }

  /** A queued or waiting job never runs; a running one has its signal aborted. */
  cancel(job: Job<any>): void {
    if (!this.#jobs.finish(job, 'cancelled')) return;
    const running = job[execution];
    if (running !== undefined)
      running.abort(new JobCancelledError(job.id, job.task, 'job.cancel() was called'));
    else if (!this.#worker.cancelTimer(job)) this.#jobs.dropWhenTaken(job);
  }

  /**
   * Graceful: let every job pushed here and every execution here finish, up to `timeout`. Then no
   * job starts any more: abort what still runs and let the executions settle up to what is left of
   * `timeout` (a job that ends meanwhile is acked like any other). Then stop the workers: the
   * messages of jobs still running and of jobs the stop aborted go back to the queue. Close the
   * queue and mark every job that did not finish as `cancelled`.
   */
  async stop(graceful: boolean, timeout: number): Promise<void> {
    const deadline = performance.now() + timeout;
    const jobs = this.#jobs;
    if (graceful) await jobs.settled(() => jobs.live.size === 0, timeout);
    const endHolding = this.#worker.holdBack();
    for (const job of jobs.live.toArray()) {
      job[execution]?.abort(new JobCancelledError(job.id, job.task, 'the jobs app stopped'));
    }
    await jobs.settled(() => jobs.executing === 0, deadline - performance.now());
    let failure: { error: unknown } | undefined;
    try {
      await this.#draining?.stop(); // releases what the workers still hold
    } catch (error) {
      failure = { error }; // the queue failed the workers: reported once the app is stopped
    }
    endHolding();
    try {
      await this.#queue?.close();
    } catch (error) {
      failure ??= { error }; // reported too, but only once every handle has settled
    }
    jobs.cancelAll();
    if (failure !== undefined) throw failure.error;
  }
}
