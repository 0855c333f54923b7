import { SerializationError } from '../errors.js';
import { compose } from '../middleware/compose.js';
import type { Chain } from '../middleware/types.js';
import { serializationProblem } from '../queuing/json.js';
import { RESOLVED } from '../queuing/settled.js';
import type { Queue } from '../queuing/types.js';
import { uniqueId } from '../queuing/unique-id.js';
import { now } from './clock.js';
import { PushContext } from './context.js';
import { Job, type JobOwner } from './job.js';
import type { JobLedger } from './job-ledger.js';
import type { PushRequest } from './job-options.js';
import type { TaskDefinition } from './task.js';
import type { TrackedJobs } from './tracked-jobs.js';
import type { JobContext, JobEnvelope, JobMiddleware } from './types.js';
import type { WorkerSide } from './worker-side.js';

/**
 * The push side of a started app's runtime: checks the arguments, stores the job's record (or finds
 * the kept job with the same id), makes its handle and envelope, then runs the push-side
 * middlewares and sends the envelope to the queue (waiting there while it is full); without a
 * queue, hands the job to the worker side at once.
 */
export class PushSide {
  readonly #owner: JobOwner;
  readonly #jobs: TrackedJobs;
  readonly #ledger: JobLedger;
  readonly #worker: WorkerSide;
  readonly #queue: Queue<JobEnvelope> | undefined;
  /** The push-side middlewares, ending in the send; `undefined` without a queue. */
  readonly #enqueue: Chain<JobEnvelope, JobContext> | undefined;
  readonly #hasPushMiddlewares: boolean;
  /** With push middlewares: jobs that reached the queue (a middleware may not call `next`). */
  readonly #enqueued = new WeakSet<Job<any>>();

  /** Without a queue, the push-side middlewares run in the worker side: `middlewares` is empty. */
  constructor(
    owner: JobOwner,
    jobs: TrackedJobs,
    ledger: JobLedger,
    worker: WorkerSide,
    queue: Queue<JobEnvelope> | undefined,
    middlewares: readonly JobMiddleware[],
  ) {
    this.#owner = owner;
    this.#jobs = jobs;
    this.#ledger = ledger;
    this.#worker = worker;
    this.#queue = queue;
    this.#enqueue = queue === undefined ? undefined : compose(middlewares, this.#send);
    this.#hasPushMiddlewares = middlewares.length > 0;
  }

  push(task: TaskDefinition, args: unknown[], request: PushRequest): Promise<Job<any>> {
    const problem = serializationProblem(args, 'args');
    if (problem !== undefined) {
      return Promise.reject(new SerializationError(`cannot push a job of task "${task.name}": ${problem}`));
    }
    const id = request.id ?? uniqueId();
    const status = request.delay > 0 ? 'scheduled' : 'pending';
    const createdAt = now();
    const job = new Job(this.#owner, id, task.name, status, args, request.metadata, createdAt);
    const admitted = this.#ledger.admit(job, createdAt, request.id !== undefined);
    if (admitted === undefined) return this.#enqueueJob(job, task, request);
    return admitted.then((kept) =>
      kept === undefined ? this.#enqueueJob(job, task, request) : this.#ledger.handle(kept),
    );
  }

  #enqueueJob(job: Job<any>, task: TaskDefinition, request: PushRequest): Promise<Job<any>> {
    const { delay, key, group } = request;
    const priority = request.priority ?? task.priority;
    const envelope = this.#jobs.envelope(job.id, task.name, job.args, priority, 1, job, group);
    // On a shared store the handle is not kept: nobody may wait on it, and it follows the store when waited on.
    if (!this.#ledger.shared) this.#jobs.add(job);
    if (this.#enqueue === undefined) {
      if (delay > 0) this.#worker.later(job, envelope, delay);
      else this.#worker.runNow(job, envelope);
      return Promise.resolve(job);
    }
    let sent: Promise<void>;
    try {
      sent =
        this.#hasPushMiddlewares ||
        delay > 0 ||
        key !== undefined ||
        group !== undefined ||
        priority !== task.priority
          ? this.#enqueue(envelope, new PushContext(job, envelope, delay, key))
          : this.#queue!.send(envelope, task.sendOptions); // the hot path: nothing between push and queue
    } catch (error) {
      sent = Promise.reject(error); // a queue's send that throws instead of rejecting
    }
    if (sent === RESOLVED && !this.#hasPushMiddlewares) return Promise.resolve(job); // no extra tick
    return sent.then(
      () => this.#pushed(job),
      (error) => this.#pushFailed(job, error),
    );
  }

  /** The end of the push-side chain: onto the queue, waiting there while it is full. */
  readonly #send = (message: JobEnvelope, context: JobContext): Promise<void> => {
    let envelope = message;
    if (this.#hasPushMiddlewares) {
      this.#enqueued.add(context.job);
      // A middleware passed its own envelope on: a copy carries the job.
      envelope = this.#jobs.carrying(envelope, context.job);
    }
    const { delay = 0, key } = context as Partial<PushContext>;
    const { priority, group } = envelope;
    if (delay > 0 || key !== undefined || group !== undefined) {
      return this.#queue!.send(envelope, { priority, delay, key, group });
    }
    return this.#queue!.send(envelope, priority === 0 ? undefined : { priority });
  };

  /** A push middleware that did not call `next` dropped the job: it ends `cancelled`. */
  #pushed(job: Job<any>): Job<any> | Promise<Job<any>> {
    if (!this.#hasPushMiddlewares || this.#enqueued.has(job)) return job;
    if (!this.#ledger.shared) {
      this.#jobs.finish(job, 'cancelled');
      return job;
    }
    return this.#ledger.finish(job.id, { status: 'cancelled' }).then(() => {
      this.#jobs.finish(job, 'cancelled');
      return job;
    });
  }

  /**
   * The push is refused as a whole: a job a push middleware queued before failing is cancelled (its
   * worker drops it, or aborts it if it already started); a job never queued leaves no record.
   */
  async #pushFailed(job: Job<any>, error: unknown): Promise<never> {
    if (this.#enqueued.has(job)) await this.#owner.cancel(job).catch(() => {});
    else {
      this.#jobs.finish(job, 'cancelled');
      await this.#ledger.forget(job.id);
    }
    throw error;
  }
}
