import { InvalidStateError, SerializationError, TimeoutError } from '../errors.js';
import { compose } from '../middleware/compose.js';
import type { Chain } from '../middleware/types.js';
import { backoffDelay } from '../queuing/backoff.js';
import { serializationProblem } from '../queuing/json.js';
import { MemoryQueue } from '../queuing/memory/memory-queue.js';
import type { Draining } from '../queuing/pump/draining.js';
import { RESOLVED } from '../queuing/settled.js';
import type { Backoff, Queue } from '../queuing/types.js';
import { uniqueId } from '../queuing/unique-id.js';
import { Timer } from '../timer.js';
import { JobExecution, PushContext } from './context.js';
import { JobCancelledError, UnknownTaskError } from './errors.js';
import { execution, type FinalStatus, isFinal, Job, type JobOwner, setStatus, settle } from './job.js';
import { LiveJobs } from './live-jobs.js';
import { type QueueMiddleware, startWorkers } from './queue-middleware.js';
import type { TaskDefinition } from './task.js';
import type { JobContext, JobEnvelope, JobMiddleware } from './types.js';

export interface RuntimeConfig {
  readonly tasks: ReadonlyMap<string, TaskDefinition>;
  /** Middlewares registered before the QueueMiddleware, or all of them when there is none. */
  readonly before: readonly JobMiddleware[];
  readonly after: readonly JobMiddleware[];
  readonly queueMiddleware: QueueMiddleware<Queue<any>> | undefined;
  readonly backoff: Backoff;
}

/**
 * Runs the jobs of a started app. Two modes:
 * - with a QueueMiddleware: `push` runs the push-side middlewares and sends the envelope to the
 *   queue; the workers (a Pump) take envelopes, look the task up by name and execute them;
 * - without: `push` starts the execution at once (a delay or a retry waits on a timer).
 *
 * Jobs pushed here are kept in `#live` until they are final, and the local worker updates the very
 * handle `push` returned: the handle rides on its envelope under a symbol of this runtime (JSON
 * ignores symbol keys, so a broker never sees it; another app sharing the queue does not know the
 * symbol). A queue that hands workers a copy (a broker) loses it, so there jobs are also indexed by
 * id. A retry is a new envelope (attempt + 1) sent with the backoff as its delay: the worker is free
 * while the job waits.
 */
export class JobRuntime implements JobOwner {
  readonly #tasks: ReadonlyMap<string, TaskDefinition>;
  readonly #backoff: Backoff;
  readonly #queue: Queue<JobEnvelope> | undefined;
  readonly #draining: Draining<JobEnvelope> | undefined;
  /** Push side, ending in the send; `undefined` without a queue. */
  readonly #enqueue: Chain<JobEnvelope, JobContext> | undefined;
  readonly #hasPushMiddlewares: boolean;
  /** Worker side, ending in the task function. */
  readonly #execute: Chain<JobEnvelope, JobContext>;
  /** Under it, an envelope this runtime sends carries the job `push` returned. */
  readonly #carried = Symbol('sluice.job');
  /** Jobs not final yet: pushed here, or pushed elsewhere and executing here. */
  readonly #live = new LiveJobs();
  /**
   * The jobs pushed here, by id, when the queue may hand workers a copy of the envelope. Not kept
   * for a MemoryQueue, which hands out the very object sent: this index cost ~25% of the jobs
   * layer's time per job in bench/jobs.ts (hashing a fresh id string on set, get and delete).
   */
  readonly #byId: Map<string, Job<any>> | undefined;
  /** Task functions running now (a cancelled job's function may still run: it left `#live`). */
  #executing = 0;
  /** With `#byId`: jobs cancelled while on the queue, so the worker that takes a copy drops it. */
  readonly #tombstones = new Set<string>();
  /** Without a queue: delayed jobs and retries waiting to run. */
  readonly #timers = new Map<Job<any>, Timer>();
  /** With push middlewares: jobs that reached the queue (a middleware may not call `next`). */
  readonly #enqueued = new WeakSet<Job<any>>();
  /** Set while `stop` waits for the work to settle; called whenever a job settles. */
  #onSettled: (() => void) | undefined;
  /**
   * Set by `stop` (with a queue) once no job may start. A worker's dispatch waits on it instead of
   * running a message taken after that, or instead of settling a job the stop aborted: the workers,
   * stopped later, then release those messages to the queue (for the next start) rather than ack
   * them. Rejected once the workers stopped.
   */
  #givingBack: Promise<never> | undefined;

  constructor(config: RuntimeConfig) {
    this.#tasks = config.tasks;
    this.#backoff = config.backoff;
    this.#execute = compose(config.after, this.#call);
    const queueMiddleware = config.queueMiddleware;
    if (queueMiddleware === undefined) {
      this.#execute = compose(config.before, this.#execute);
      this.#hasPushMiddlewares = false;
    } else {
      this.#queue = queueMiddleware.queue;
      // Not for a subclass: it may override `send` and copy the envelope.
      if (Object.getPrototypeOf(this.#queue) !== MemoryQueue.prototype) this.#byId = new Map();
      this.#enqueue = compose(config.before, this.#send);
      this.#hasPushMiddlewares = config.before.length > 0;
      // An object dispatcher is called as is; a function one would get an extra async wrapper per job.
      this.#draining = queueMiddleware[startWorkers]({ dispatch: this.#work });
    }
  }

  push(task: TaskDefinition, args: unknown[], delay: number, id?: string, key?: string): Promise<Job<any>> {
    const problem = serializationProblem(args, 'args');
    if (problem !== undefined) {
      return Promise.reject(new SerializationError(`cannot push a job of task "${task.name}": ${problem}`));
    }
    const jobId = id ?? uniqueId();
    const job = new Job(this, jobId, task.name, delay > 0 ? 'scheduled' : 'pending');
    const envelope = this.#envelope(jobId, task.name, args, task.priority, 1, job);
    this.#live.add(job);
    this.#byId?.set(jobId, job);
    if (this.#enqueue === undefined) {
      if (delay > 0) this.#later(job, task, envelope, delay);
      else void this.#run(job, task, envelope, true);
      return Promise.resolve(job);
    }
    let sent: Promise<void>;
    try {
      sent =
        this.#hasPushMiddlewares || delay > 0 || key !== undefined
          ? this.#enqueue(envelope, new PushContext(job, envelope, delay, key))
          : this.#queue!.send(envelope, task.sendOptions); // the hot path: nothing between push and queue
    } catch (error) {
      sent = Promise.reject(error); // a queue's send that throws instead of rejecting
    }
    if (sent === RESOLVED) return Promise.resolve(job); // the queue had room: no extra tick
    return sent.then(
      () => this.#pushed(job),
      (error) => this.#pushFailed(job, error),
    );
  }

  /** A queued or waiting job never runs; a running one has its signal aborted. */
  cancel(job: Job<any>): void {
    if (!this.#finish(job, 'cancelled')) return;
    const running = job[execution];
    const timer = this.#timers.get(job);
    if (running !== undefined) {
      running.abort(new JobCancelledError(job.id, job.task, 'job.cancel() was called'));
    } else if (timer !== undefined) {
      timer.cancel();
      this.#timers.delete(job);
    } else if (this.#byId !== undefined) {
      this.#tombstones.add(job.id);
    }
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
    if (graceful) await this.#settled(() => this.#live.size === 0, timeout);
    let endHolding: (() => void) | undefined;
    if (this.#draining !== undefined) {
      const givingBack = new Promise<never>((_resolve, reject) => {
        endHolding = () => reject(new InvalidStateError('the jobs app stopped'));
      });
      givingBack.catch(() => {}); // rejected only once the workers released what waited on it
      this.#givingBack = givingBack;
    }
    for (const job of this.#live.toArray()) {
      job[execution]?.abort(new JobCancelledError(job.id, job.task, 'the jobs app stopped'));
    }
    for (const timer of this.#timers.values()) timer.cancel();
    this.#timers.clear();
    await this.#settled(() => this.#executing === 0, deadline - performance.now());
    let failure: { error: unknown } | undefined;
    try {
      await this.#draining?.stop(); // releases what the workers still hold
    } catch (error) {
      failure = { error }; // the queue failed the workers: reported once the app is stopped
    }
    endHolding?.();
    try {
      await this.#queue?.close();
    } catch (error) {
      failure ??= { error }; // reported too, but only once every handle has settled
    }
    for (const job of this.#live.toArray()) job[settle]('cancelled');
    this.#live.clear();
    this.#byId?.clear();
    this.#tombstones.clear();
    if (failure !== undefined) throw failure.error;
  }

  /** The end of the push-side chain: onto the queue, waiting there while it is full. */
  readonly #send = (message: JobEnvelope, context: JobContext): Promise<void> => {
    let envelope = message;
    if (this.#hasPushMiddlewares) {
      this.#enqueued.add(context.job);
      // A middleware passed its own envelope on: a copy carries the job (the original may be frozen).
      if (this.#jobOf(envelope) !== context.job) envelope = { ...envelope, [this.#carried]: context.job };
    }
    const { delay = 0, key } = context as Partial<PushContext>;
    const { priority } = envelope;
    if (delay > 0 || key !== undefined) return this.#queue!.send(envelope, { priority, delay, key });
    return this.#queue!.send(envelope, priority === 0 ? undefined : { priority });
  };

  /** A worker's dispatch: find the job (or drop a cancelled one), then execute it. */
  readonly #work = (envelope: JobEnvelope): Promise<void> => {
    let job = this.#jobOf(envelope) ?? this.#byId?.get(envelope.id);
    if (
      job !== undefined
        ? isFinal(job.status)
        : this.#tombstones.size > 0 && this.#tombstones.delete(envelope.id)
    ) {
      return RESOLVED; // cancelled while it waited on the queue
    }
    if (this.#givingBack !== undefined) return this.#givingBack; // taken while the app stops: not run
    const task = this.#tasks.get(envelope.task);
    if (task === undefined) return Promise.reject(new UnknownTaskError(envelope.task, envelope.id));
    if (job !== undefined) return this.#run(job, task, envelope, true);
    job = new Job(this, envelope.id, envelope.task, 'pending'); // pushed by another process
    this.#live.add(job);
    return this.#run(job, task, envelope, false);
  };

  /** The end of the worker-side chain: the task function, `this` bound to the execution. */
  readonly #call = (envelope: JobEnvelope, execution: JobContext): Promise<unknown> => {
    const task = this.#tasks.get(envelope.task);
    if (task === undefined) return Promise.reject(new UnknownTaskError(envelope.task, envelope.id));
    return task.fn.apply(execution, envelope.args as unknown[]) as Promise<unknown>;
  };

  /**
   * `local`: pushed by this process, whose handle this is; otherwise a handle made by the worker.
   * Chained with `then` rather than written `async`: one suspended frame fewer per job.
   */
  #run(job: Job<any>, task: TaskDefinition, envelope: JobEnvelope, local: boolean): Promise<void> {
    job[setStatus]('running');
    const context = new JobExecution(job, envelope);
    job[execution] = context;
    this.#executing++;
    let outcome: Promise<unknown>;
    try {
      outcome = Promise.resolve(this.#execute(envelope, context));
    } catch (error) {
      outcome = Promise.reject(error);
    }
    if (task.timeout !== undefined) outcome = limit(outcome, task.timeout, context);
    return outcome.then(
      (value) => {
        this.#ran(job);
        const problem = serializationProblem(value, 'result');
        if (problem === undefined) {
          this.#finish(job, 'success', value);
          return;
        }
        const error = new SerializationError(
          `job ${job.id} of task "${task.name}" returned a value that cannot travel over a queue: ${problem}`,
        );
        return this.#failed(job, task, envelope, context, local, error);
      },
      (error) => {
        this.#ran(job);
        return this.#failed(job, task, envelope, context, local, error);
      },
    );
  }

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
      if (this.#finish(job, 'cancelled') && this.#givingBack !== undefined) return this.#givingBack;
      return;
    }
    if (envelope.attempt <= task.retry) return this.#retry(job, task, envelope, local);
    const status = reason !== undefined && error === reason ? 'timeout' : 'failed';
    this.#finish(job, status, undefined, error);
  }

  async #retry(job: Job<any>, task: TaskDefinition, envelope: JobEnvelope, local: boolean): Promise<void> {
    job[setStatus]('scheduled');
    const { id, priority, attempt } = envelope;
    // A job pushed elsewhere is not followed here: its retry does not carry this handle.
    const next = this.#envelope(
      id,
      envelope.task,
      envelope.args,
      priority,
      attempt + 1,
      local ? job : undefined,
    );
    // Never 0: a delayed send does not wait for room in a full queue, so a worker never blocks on it.
    const delay = Math.max(1, backoffDelay(this.#backoff, attempt));
    if (this.#queue === undefined) return this.#later(job, task, next, delay);
    try {
      await this.#queue.send(next, { priority, delay });
    } catch (error) {
      this.#finish(job, 'failed', undefined, error);
      return;
    }
    // A worker in any process may take the retry: only the pushing process keeps following the job.
    // This worker's handle stops here, `cancelled` as in "not completed here", like a pushing
    // handle whose job another process ran: not `failed`, since a retry may still succeed.
    if (!local) this.#finish(job, 'cancelled');
  }

  /** `job`: the handle to carry, or `undefined` for a job this process does not follow. */
  #envelope(
    id: string,
    task: string,
    args: readonly unknown[],
    priority: number,
    attempt: number,
    job: Job<any> | undefined,
  ): JobEnvelope {
    return { id, task, args, priority, attempt, [this.#carried]: job };
  }

  #jobOf(envelope: JobEnvelope): Job<any> | undefined {
    return (envelope as JobEnvelope & Record<symbol, Job<any> | undefined>)[this.#carried];
  }

  #later(job: Job<any>, task: TaskDefinition, envelope: JobEnvelope, delay: number): void {
    const timer = new Timer(delay, () => {
      this.#timers.delete(job);
      void this.#run(job, task, envelope, true);
    });
    this.#timers.set(job, timer);
  }

  #pushed(job: Job<any>): Job<any> {
    if (this.#hasPushMiddlewares && !this.#enqueued.has(job)) this.#finish(job, 'cancelled');
    return job;
  }

  /**
   * The push is refused as a whole: a job a push middleware queued before failing is cancelled (its
   * worker drops it, or aborts it if it already started).
   */
  #pushFailed(job: Job<any>, error: unknown): never {
    if (this.#enqueued.has(job)) this.cancel(job);
    else this.#finish(job, 'cancelled');
    throw error;
  }

  #ran(job: Job<any>): void {
    job[execution] = undefined;
    this.#executing--;
    if (this.#onSettled !== undefined) this.#onSettled();
  }

  #finish(job: Job<any>, status: FinalStatus, value?: unknown, error?: unknown): boolean {
    if (!job[settle](status, value, error)) return false;
    this.#live.delete(job);
    this.#byId?.delete(job.id);
    if (this.#onSettled !== undefined) this.#onSettled();
    return true;
  }

  /** Resolves once `done()` holds (checked whenever a job settles) or after `ms`. */
  #settled(done: () => boolean, ms: number): Promise<void> {
    if (done() || !(ms > 0)) return RESOLVED;
    return new Promise((resolve) => {
      const finish = () => {
        timer.cancel();
        this.#onSettled = undefined;
        resolve();
      };
      const timer = new Timer(ms, finish);
      this.#onSettled = () => {
        if (done()) finish();
      };
    });
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
