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
import { apply, Job, type JobOwner, setProgress, setStatus } from './job.js';
import { storedError } from './job-error.js';
import type { JobLedger } from './job-ledger.js';
import { isFinal } from './status.js';
import type { JobChange } from './store.js';
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
 * QueueMiddleware) and, without a queue, what `push` hands its job to. It starts the job in the
 * store (a job that ended meanwhile, cancelled say, is dropped), looks the task up by name and
 * executes it through the worker-side middlewares, then ends the job in the store before the
 * message is acked. A retry is a new envelope (attempt + 1) sent with the backoff as its delay: the
 * worker is free while the job waits.
 */
export class WorkerSide implements DispatcherObject<JobEnvelope> {
  readonly #owner: JobOwner;
  readonly #jobs: TrackedJobs;
  readonly #ledger: JobLedger;
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

  constructor(owner: JobOwner, jobs: TrackedJobs, ledger: JobLedger, config: WorkerSideConfig) {
    this.#owner = owner;
    this.#jobs = jobs;
    this.#ledger = ledger;
    this.#tasks = config.tasks;
    this.#backoff = config.backoff;
    this.#queue = config.queue;
    this.#execute = compose(config.middlewares, this.#call);
  }

  /** A worker's dispatch: start the job (or drop one that ended), then execute it. */
  dispatch(envelope: JobEnvelope): Promise<void> {
    const found = this.#jobs.find(envelope);
    if (found !== undefined && isFinal(found.status)) return RESOLVED; // cancelled while queued
    if (this.#givingBack !== undefined) return this.#givingBack; // taken while the app stops: not run
    const task = this.#tasks.get(envelope.task);
    if (task === undefined) return Promise.reject(new UnknownTaskError(envelope.task, envelope.id));
    if (this.#ledger.shared) {
      return this.#ledger.start(envelope).then((record) => this.#begin(found, task, envelope, record));
    }
    let job = found;
    if (job === undefined) {
      // Pushed by another process or app: this handle becomes the job's record here, found by id.
      job = new Job(this.#owner, envelope.id, envelope.task, 'pending', envelope.args);
      this.#ledger.admit(job, Date.now(), true);
      this.#jobs.add(job);
    }
    job[setStatus]('running', job.attempt + 1);
    this.#ledger.touched(job);
    return this.#run(job, task, envelope, found !== undefined);
  }

  /**
   * On a shared store, once it started the job. `found`: the handle of the pusher in this process,
   * if any; otherwise the worker makes one.
   */
  #begin(found: Job<any> | undefined, task: TaskDefinition, envelope: JobEnvelope, record: JobChange) {
    if (record.status !== 'running') {
      // It ended before this execution could start (cancelled while queued, or a redelivery of a
      // job that already ended): the message is acked and the job does not run again.
      if (found !== undefined) {
        found[apply](record);
        if (isFinal(found.status)) this.#jobs.release(found);
      }
      return RESOLVED;
    }
    if (this.#givingBack !== undefined) return this.#givingBack;
    const job = found ?? new Job(this.#owner, envelope.id, envelope.task, 'pending', envelope.args);
    job[apply](record);
    this.#jobs.add(job);
    return this.#run(job, task, envelope, found !== undefined);
  }

  /** Chained with `then` rather than written `async`: one suspended frame fewer per job. */
  #run(job: Job<any>, task: TaskDefinition, envelope: JobEnvelope, local: boolean): Promise<void> {
    const context = new JobExecution(job, envelope, this.#report);
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
        if (problem === undefined) return this.#end(job, 'success', value, undefined);
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
  later(job: Job<any>, envelope: JobEnvelope, delay: number): void {
    const timer = new Timer(delay, () => {
      this.#timers.delete(job);
      this.runNow(job, envelope);
    });
    this.#timers.set(job, timer);
  }

  /** Without a queue: runs the job now; a store that cannot start it fails it. */
  runNow(job: Job<any>, envelope: JobEnvelope): void {
    this.dispatch(envelope).catch((error: unknown) => this.#jobs.finish(job, 'failed', undefined, error));
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

  /** `this.progress(value)` of an execution: onto its handle here and its record in the store. */
  readonly #report = (job: Job<any>, value: unknown): Promise<void> => {
    const problem = serializationProblem(value, 'progress');
    if (problem !== undefined) {
      return Promise.reject(
        new SerializationError(`cannot report the progress of job ${job.id}: ${problem}`),
      );
    }
    if (isFinal(job.status)) return RESOLVED;
    job[setProgress](value);
    return this.#ledger.progress(job);
  };

  /** The end of the worker-side chain: the task function, `this` bound to the execution. */
  readonly #call = (envelope: JobEnvelope, execution: JobContext): Promise<unknown> => {
    const task = this.#tasks.get(envelope.task);
    if (task === undefined) return Promise.reject(new UnknownTaskError(envelope.task, envelope.id));
    return task.fn.apply(execution, envelope.args as unknown[]) as Promise<unknown>;
  };

  /** The job ends: in a shared store first (before its message is acked), then its handle here. */
  #end(job: Job<any>, status: 'success' | 'failed' | 'timeout', value: unknown, error: unknown) {
    if (!this.#ledger.shared) {
      this.#jobs.finish(job, status, value, error);
      return RESOLVED;
    }
    const written = this.#ledger.finish(
      job.id,
      status === 'success' ? { status, result: value } : { status, error: storedError(error) },
    );
    return written.then((ended) => {
      if (ended) this.#jobs.finish(job, status, value, error);
      else return this.#endedElsewhere(job); // cancelled meanwhile, say
    });
  }

  async #endedElsewhere(job: Job<any>): Promise<void> {
    await this.#ledger.refresh(job);
    this.#jobs.release(job);
  }

  #failed(
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
      // complete, so its message goes back to the queue (the next execution starts it again).
      if (isFinal(job.status)) return RESOLVED;
      if (this.#ledger.shared) this.#jobs.release(job);
      else this.#jobs.finish(job, 'cancelled');
      return this.#givingBack ?? RESOLVED;
    }
    if (envelope.attempt <= task.retry) return this.#retry(job, envelope, local);
    return this.#end(job, reason !== undefined && error === reason ? 'timeout' : 'failed', undefined, error);
  }

  async #retry(job: Job<any>, envelope: JobEnvelope, local: boolean): Promise<void> {
    job[setStatus]('scheduled');
    await this.#ledger.retrying(job);
    const { id, priority, attempt } = envelope;
    // A job pushed elsewhere is not followed here: its retry does not carry this handle.
    const next = this.#jobs.envelope(
      id,
      envelope.task,
      envelope.args,
      priority,
      attempt + 1,
      local ? job : undefined,
      envelope.group,
    );
    // Never 0: a delayed send does not wait for room in a full queue, so a worker never blocks on it.
    const delay = Math.max(1, backoffDelay(this.#backoff, attempt));
    if (this.#queue === undefined) return this.later(job, next, delay);
    // A worker in any process may take the retry, even this one before the send returns: only the
    // pushing process keeps following the job (on a shared store, not even it: its handle follows
    // the store when waited on).
    if (this.#ledger.shared || !local) this.#jobs.release(job);
    try {
      await this.#queue.send(next, { priority, delay, group: envelope.group });
    } catch (error) {
      await this.#end(job, 'failed', undefined, error);
    }
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
