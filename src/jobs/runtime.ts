import { MemoryQueue } from '../queuing/memory/memory-queue.js';
import { RESOLVED } from '../queuing/settled.js';
import type { Backoff, Queue } from '../queuing/types.js';
import { JobCancelledError } from './errors.js';
import { handleIndex } from './handle-index.js';
import { execution, type Job, type JobOwner } from './job.js';
import { JobLedger } from './job-ledger.js';
import type { PushRequest } from './job-options.js';
import { PushSide } from './push-side.js';
import { type QueueMiddleware, startWorkers, stopWorkers } from './queue-middleware.js';
import { isFinal } from './status.js';
import type { JobStore, Unsubscribe } from './store.js';
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
  readonly store: JobStore;
}

/**
 * Runs the jobs of a started app, and stops it. Two modes:
 * - with a QueueMiddleware: `push` runs the push-side middlewares and sends the envelope to the
 *   queue; the workers (a Pump) take envelopes, look the task up by name and execute them;
 * - without: `push` starts the execution at once (a delay or a retry waits on a timer).
 *
 * `PushSide` and `WorkerSide` are those two halves; `TrackedJobs` is what they share: the jobs
 * followed here until they are final and the executions running here; `JobLedger` is their way to
 * the job store.
 */
export class JobRuntime implements JobOwner {
  readonly #jobs: TrackedJobs;
  readonly #ledger: JobLedger;
  readonly #push: PushSide;
  readonly #worker: WorkerSide;
  readonly #queue: Queue<JobEnvelope> | undefined;
  readonly #queueMiddleware: QueueMiddleware<Queue<any>> | undefined;
  #stopCancels: Unsubscribe | undefined;

  constructor(config: RuntimeConfig) {
    const { tasks, backoff, before, after, queueMiddleware, store } = config;
    const queue: Queue<JobEnvelope> | undefined = queueMiddleware?.queue;
    // Not for a subclass: it may override `send` and copy the envelope.
    const copies = queue !== undefined && Object.getPrototypeOf(queue) !== MemoryQueue.prototype;
    this.#jobs = new TrackedJobs(handleIndex(store, copies));
    this.#ledger = new JobLedger(store, this, this.#jobs);
    const middlewares = queue === undefined ? [...before, ...after] : after;
    this.#worker = new WorkerSide(this, this.#jobs, this.#ledger, { tasks, backoff, queue, middlewares });
    this.#push = new PushSide(
      this,
      this.#jobs,
      this.#ledger,
      this.#worker,
      queue,
      queue === undefined ? [] : before,
    );
    this.#queue = queue;
    this.#queueMiddleware = queueMiddleware;
  }

  /** Hears of cancels (a job may run here), then starts the workers. Rejects when the store cannot be reached. */
  async start(): Promise<void> {
    // Even a producer (workers: 0) may be given workers later; cancels are rare.
    this.#stopCancels = await this.#ledger.store.onCancel(this.#cancelled);
    // An object dispatcher is called as is; a function one would get an extra async wrapper per job.
    this.#queueMiddleware?.[startWorkers](this.#worker);
  }

  push(task: TaskDefinition, args: unknown[], request: PushRequest): Promise<Job<any>> {
    return this.#push.push(task, args, request);
  }

  get(id: string): Promise<Job<any> | undefined> {
    return this.#ledger.get(id);
  }

  /**
   * Ends the job `cancelled` in the store, which tells every process: a queued job never runs, a
   * running one has its signal aborted where it runs.
   */
  cancel(job: Job<any>): Promise<void> {
    if (this.#ledger.holds(job)) {
      this.#cancelHere(job);
      return RESOLVED;
    }
    return this.#ledger
      .finish(job.id, { status: 'cancelled' })
      .then((ended) => (ended ? this.#cancelHere(job) : this.#ledger.refresh(job)));
  }

  follow(job: Job<any>): Promise<Unsubscribe> | undefined {
    return this.#ledger.follow(job);
  }

  /** A job cancelled by any process: if it is followed here, it ends here too. */
  readonly #cancelled = (id: string): void => {
    const job = this.#jobs.byId(id) ?? this.#jobs.live.find(id);
    if (job !== undefined) this.#cancelHere(job);
  };

  #cancelHere(job: Job<any>): void {
    if (isFinal(job.status) || !this.#jobs.finish(job, 'cancelled')) return;
    const running = job[execution];
    if (running !== undefined) {
      running.abort(new JobCancelledError(job.id, job.task, 'job.cancel() was called'));
    } else this.#worker.cancelTimer(job);
  }

  /**
   * Graceful: let every job followed here and every execution here finish, up to `timeout`. Then
   * no job starts any more: abort what still runs and let the executions settle up to what is left
   * of `timeout` (a job that ends meanwhile is acked like any other). Then stop the workers: the
   * messages of jobs still running and of jobs the stop aborted go back to the queue. Close the
   * queue and the store. On a MemoryJobStore every job that did not finish ends `cancelled`; on a
   * shared store it is left to the other processes, and waits on its handles here reject.
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
      await this.#queueMiddleware?.[stopWorkers](); // releases what the workers still hold
    } catch (error) {
      failure = { error }; // the queue failed the workers: reported once the app is stopped
    }
    endHolding();
    this.#stopCancels?.();
    try {
      await this.#queue?.close();
    } catch (error) {
      failure ??= { error }; // reported too, but only once every handle has settled
    }
    jobs.clear(!this.#ledger.shared);
    this.#ledger.abandonAll();
    try {
      await this.#ledger.store.close();
    } catch (error) {
      failure ??= { error };
    }
    if (failure !== undefined) throw failure.error;
  }
}
