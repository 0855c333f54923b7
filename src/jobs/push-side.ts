import { SerializationError } from '../errors.js';
import { compose } from '../middleware/compose.js';
import type { Chain } from '../middleware/types.js';
import { serializationProblem } from '../queuing/json.js';
import { RESOLVED } from '../queuing/settled.js';
import type { Queue } from '../queuing/types.js';
import { uniqueId } from '../queuing/unique-id.js';
import { PushContext } from './context.js';
import { Job, type JobOwner } from './job.js';
import type { TaskDefinition } from './task.js';
import type { TrackedJobs } from './tracked-jobs.js';
import type { JobContext, JobEnvelope, JobMiddleware } from './types.js';
import type { WorkerSide } from './worker-side.js';

/**
 * The push side of a started app's runtime: checks the arguments, makes the job's handle and its
 * envelope, then runs the push-side middlewares and sends the envelope to the queue (waiting there
 * while it is full); without a queue, hands the job to the worker side at once.
 */
export class PushSide {
  readonly #owner: JobOwner;
  readonly #jobs: TrackedJobs;
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
    worker: WorkerSide,
    queue: Queue<JobEnvelope> | undefined,
    middlewares: readonly JobMiddleware[],
  ) {
    this.#owner = owner;
    this.#jobs = jobs;
    this.#worker = worker;
    this.#queue = queue;
    this.#enqueue = queue === undefined ? undefined : compose(middlewares, this.#send);
    this.#hasPushMiddlewares = middlewares.length > 0;
  }

  push(task: TaskDefinition, args: unknown[], delay: number, id?: string, key?: string): Promise<Job<any>> {
    const problem = serializationProblem(args, 'args');
    if (problem !== undefined) {
      return Promise.reject(new SerializationError(`cannot push a job of task "${task.name}": ${problem}`));
    }
    const jobId = id ?? uniqueId();
    const job = new Job(this.#owner, jobId, task.name, delay > 0 ? 'scheduled' : 'pending');
    const envelope = this.#jobs.envelope(jobId, task.name, args, task.priority, 1, job);
    this.#jobs.add(job);
    if (this.#enqueue === undefined) {
      if (delay > 0) this.#worker.later(job, task, envelope, delay);
      else void this.#worker.run(job, task, envelope, true);
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

  /** The end of the push-side chain: onto the queue, waiting there while it is full. */
  readonly #send = (message: JobEnvelope, context: JobContext): Promise<void> => {
    let envelope = message;
    if (this.#hasPushMiddlewares) {
      this.#enqueued.add(context.job);
      // A middleware passed its own envelope on: a copy carries the job.
      envelope = this.#jobs.carrying(envelope, context.job);
    }
    const { delay = 0, key } = context as Partial<PushContext>;
    const { priority } = envelope;
    if (delay > 0 || key !== undefined) return this.#queue!.send(envelope, { priority, delay, key });
    return this.#queue!.send(envelope, priority === 0 ? undefined : { priority });
  };

  #pushed(job: Job<any>): Job<any> {
    if (this.#hasPushMiddlewares && !this.#enqueued.has(job)) this.#jobs.finish(job, 'cancelled');
    return job;
  }

  /**
   * The push is refused as a whole: a job a push middleware queued before failing is cancelled (its
   * worker drops it, or aborts it if it already started).
   */
  #pushFailed(job: Job<any>, error: unknown): never {
    if (this.#enqueued.has(job)) this.#owner.cancel(job);
    else this.#jobs.finish(job, 'cancelled');
    throw error;
  }
}
