import { InvalidStateError, SerializationError, TimeoutError } from '../errors.js';
import { compose } from '../middleware/compose.js';
import type { Chain, DispatcherObject } from '../middleware/types.js';
import { backoffDelay } from '../queuing/backoff.js';
import { serializationProblem } from '../queuing/json.js';
import { RESOLVED } from '../queuing/settled.js';
import type { Backoff, Queue } from '../queuing/types.js';
import { Timer } from '../timer.js';
import { JobExecution } from './context.js';
import { JobCancelledError, UnknownTaskError } from './errors.js';
import { Job, type JobOwner, setStatus } from './job.js';
import type { TaskDefinition } from './task.js';
import type { TrackedJobs } from './tracked-jobs.js';
import type { JobContext, JobEnvelope, JobMiddleware } from './types.js';

export interface WorkerSideConfig {
  readonly tasks: ReadonlyMap<string, TaskDefinition>;
  readonly backoff: Backoff;
  /** Where retries are sent; `undefined` without a QueueMiddleware (a retry then waits on a timer). */
  readonly queue: Queue<JobEnvelope> | undefined;
  /** Around each execution, outer first. */
  readonly middlewares: readonly JobMiddleware[];
}

/**
 * The worker side of a started app's runtime: the workers' dispatcher (a Pump's, behind a
 * QueueMiddleware) and, without a queue, what `push` hands its job to. It looks the task up by name
 * and executes it through the worker-side middlewares. A retry is a new envelope (attempt + 1) sent
 * with the backoff as its delay: the worker is free while the job waits.
 */
export class WorkerSide implements DispatcherObject<JobEnvelope> {
  readonly #owner: JobOwner;
  readonly #jobs: TrackedJobs;
  readonly #tasks: ReadonlyMap<string, TaskDefinition>;
  readonly #backoff: Backoff;
  readonly #queue: Queue<JobEnvelope> | undefined;
  /** The worker-side middlewares, ending in the task function. */
  readonly #execute: Chain<JobEnvelope, JobContext>;
  /** Without a queue: delayed jobs and retries waiting to run. */
  readonly #timers = new Map<Job<any>, Timer>();
  /**
   * Set by the stop (with a queue) once no job may start. A dispatch waits on it instead of running
   * a message taken after that, or instead of settling a job the stop aborted: the workers, stopped
   * later, then release those messages to the queue (for the next start) rather than ack them.
   * Rejected once the workers stopped.
   */
  #givingBack: Promise<never> | undefined;

  constructor(owner: JobOwner, jobs: TrackedJobs, config: WorkerSideConfig) {
    this.#owner = owner;
    this.#jobs = jobs;
    this.#tasks = config.tasks;
    this.#backoff = config.backoff;
    this.#queue = config.queue;
    this.#execute = compose(config.middlewares, this.#call);
  }

  /** A worker's dispatch: find the job (or drop a cancelled one), then execute it. */
  dispatch(envelope: JobEnvelope): Promise<void> {
    let job = this.#jobs.find(envelope);
    if (this.#jobs.cancelledWhileQueued(envelope, job)) return RESOLVED;
    if (this.#givingBack !== undefined) return this.#givingBack; // taken while the app stops: not run
    const task = this.#tasks.get(envelope.task);
    if (task === undefined) return Promise.reject(new UnknownTaskError(envelope.task, envelope.id));
    if (job !== undefined) return this.run(job, task, envelope, true);
    job = new Job(this.#owner, envelope.id, envelope.task, 'pending'); // pushed by another process
    this.#jobs.live.add(job);
    return this.run(job, task, envelope, false);
  }

  /**
   * `local`: pushed by this process, whose handle this is; otherwise a handle made by the worker.
   * Chained with `then` rather than written `async`: one suspended frame fewer per job.
   */
  run(job: Job<any>, task: TaskDefinition, envelope: JobEnvelope, local: boolean): Promise<void> {
    job[setStatus]('running');
    const context = new JobExecution(job, envelope);
    this.#jobs.started(job, context);
    let outcome: Promise<unknown>;
    try {
      outcome = Promise.resolve(this.#execute(envelope, context));
    } catch (error) {
      outcome = Promise.reject(error);
    }
    if (task.timeout !== undefined) outcome = limit(outcome, task.timeout, context);
    return outcome.then(
      (value) => {
        this.#jobs.ran(job);
        const problem = serializationProblem(value, 'result');
        if (problem === undefined) {
          this.#jobs.finish(job, 'success', value);
          return;
        }
        const error = new SerializationError(
          `job ${job.id} of task "${task.name}" returned a value that cannot travel over a queue: ${problem}`,
        );
        return this.#failed(job, task, envelope, context, local, error);
      },
      (error) => {
        this.#jobs.ran(job);
        return this.#failed(job, task, envelope, context, local, error);
      },
    );
  }

  /** Without a queue: runs the job once `delay` has passed, unless it is cancelled meanwhile. */
  later(job: Job<any>, task: TaskDefinition, envelope: JobEnvelope, delay: number): void {
    const timer = new Timer(delay, () => {
      this.#timers.delete(job);
      void this.run(job, task, envelope, true);
    });
    this.#timers.set(job, timer);
  }

  /** `job` waits on a timer no more; `false` if it was not waiting on one. */
  cancelTimer(job: Job<any>): boolean {
    const timer = this.#timers.get(job);
    if (timer === undefined) return false;
    timer.cancel();
    this.#timers.delete(job);
    return true;
  }

  /**
   * The stop begins: no waiting job runs any more and, with a queue, no job starts or settles (see
   * `#givingBack`). Returns what to call once the workers stopped.
   */
  holdBack(): () => void {
    for (const timer of this.#timers.values()) timer.cancel();
    this.#timers.clear();
    if (this.#queue === undefined) return () => {};
    let endHolding!: () => void;
    const givingBack = new Promise<never>((_resolve, reject) => {
      endHolding = () => reject(new InvalidStateError('the jobs app stopped'));
    });
    givingBack.catch(() => {}); // rejected only once the workers released what waited on it
    this.#givingBack = givingBack;
    return endHolding;
  }

  /** The end of the worker-side chain: the task function, `this` bound to the execution. */
  readonly #call = (envelope: JobEnvelope, execution: JobContext): Promise<unknown> => {
    const task = this.#tasks.get(envelope.task);
    if (task === undefined) return Promise.reject(new UnknownTaskError(envelope.task, envelope.id));
    return task.fn.apply(execution, envelope.args as unknown[]) as Promise<unknown>;
  };

  async #failed(
    job: Job<any>,
    task: TaskDefinition,
    envelope: JobEnvelope,
    context: JobExecution,
    local: boolean,
    error: unknown,
  ): Promise<void> {
    const reason = context.abortReason;
    if (reason instanceof JobCancelledError) {
      // job.cancel() made it final already: the message is acked. A stop did not: the job did not
      // complete, so its message goes back to the queue.
      if (this.#jobs.finish(job, 'cancelled') && this.#givingBack !== undefined) return this.#givingBack;
      return;
    }
    if (envelope.attempt <= task.retry) return this.#retry(job, task, envelope, local);
    const status = reason !== undefined && error === reason ? 'timeout' : 'failed';
    this.#jobs.finish(job, status, undefined, error);
  }

  async #retry(job: Job<any>, task: TaskDefinition, envelope: JobEnvelope, local: boolean): Promise<void> {
    job[setStatus]('scheduled');
    const { id, priority, attempt } = envelope;
    // A job pushed elsewhere is not followed here: its retry does not carry this handle.
    const next = this.#jobs.envelope(
      id,
      envelope.task,
      envelope.args,
      priority,
      attempt + 1,
      local ? job : undefined,
    );
    // Never 0: a delayed send does not wait for room in a full queue, so a worker never blocks on it.
    const delay = Math.max(1, backoffDelay(this.#backoff, attempt));
    if (this.#queue === undefined) return this.later(job, task, next, delay);
    try {
      await this.#queue.send(next, { priority, delay });
    } catch (error) {
      this.#jobs.finish(job, 'failed', undefined, error);
      return;
    }
    // A worker in any process may take the retry: only the pushing process keeps following the job.
    // This worker's handle stops here, `cancelled` as in "not completed here", like a pushing
    // handle whose job another process ran: not `failed`, since a retry may still succeed.
    if (!local) this.#jobs.finish(job, 'cancelled');
  }
}

/** Settles like `outcome`, or rejects with a `TimeoutError` (and aborts the execution) after `ms`. */
function limit(outcome: Promise<unknown>, ms: number, execution: JobExecution): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = new Timer(ms, () => {
      const error = new TimeoutError(`job ${execution.job.id} of task "${execution.job.task}"`, ms);
      execution.abort(error);
      reject(error);
    });
    Promise.resolve(outcome).then(
      (value) => {
        timer.cancel();
        resolve(value);
      },
      (error) => {
        timer.cancel();
        reject(error);
      },
    );
  });
}
