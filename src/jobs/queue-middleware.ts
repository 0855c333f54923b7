import { InvalidOptionError, InvalidStateError } from '../errors.js';
import type { DispatcherObject } from '../middleware/types.js';
import { assertGroupConcurrency, assertRateLimit } from '../queuing/flow-options.js';
import { MemoryQueue } from '../queuing/memory/memory-queue.js';
import type { Draining } from '../queuing/pump/draining.js';
import { Pump } from '../queuing/pump/pump.js';
import type { Queue, RateLimit } from '../queuing/types.js';
import type { JobEnvelope } from './types.js';

/** Options of a {@link QueueMiddleware}. */
export interface QueueMiddlewareOptions<Q extends Queue<any>> {
  /**
   * Where pushed jobs wait for a worker: any Queue of job envelopes (typed loosely so that
   * `new MemoryQueue({ ... })` can be written inline).
   *
   * @defaultValue `new MemoryQueue({ order: 'priority', maxsize: 1024 })`
   */
  queue?: Q;
  /**
   * Jobs executing at once: an integer of at least 0. Settable while running. 0: no worker runs in
   * this process (a producer pushing to the workers of other processes).
   *
   * @defaultValue `10`
   */
  workers?: number;
  /**
   * At most `limit` job executions start in any window of `interval` milliseconds, across every
   * process whose workers share the queue (on a broker queue). Settable while running. Unset: no
   * limit.
   */
  rateLimit?: RateLimit | undefined;
  /**
   * At most this many jobs of one group (`task.with({ group })`) run at once, across every process
   * whose workers share the queue. Settable while running. Unset: no cap.
   */
  groupConcurrency?: number | undefined;
}

/** @internal Internal hooks the Jobs app uses to start and stop the workers; not exported from the package entry. */
export const startWorkers: unique symbol = Symbol('sluice.queueMiddleware.startWorkers');
export const stopWorkers: unique symbol = Symbol('sluice.queueMiddleware.stopWorkers');

/**
 * Execution control under load. Placed in `jobs.use(...)`, it splits the middlewares: those before
 * it run in `push`, which then puts the job on `queue` (waiting there while the queue is full:
 * backpressure); those after it run in a worker around the execution. `workers` caps executions.
 *
 * The workers are a Pump draining the queue with `concurrency = workers`, so re-tuning `workers`
 * starts loops at once and retires surplus ones: idle ones at once (on a MemoryQueue), busy ones
 * after their current job.
 *
 * @example
 * ```ts
 * import { Jobs, QueueMiddleware } from 'sluice';
 *
 * const workers = new QueueMiddleware({ workers: 4 });
 * const jobs = new Jobs().use(workers);
 * const resize = jobs.task('resize', async (url: string) => `resized ${url}`);
 * await jobs.start();
 * const job = await resize.push('https://example.com/a.png');
 * await job.wait();
 * workers.workers = 8; // re-tuned while running
 * await jobs.stop();
 * ```
 */
export class QueueMiddleware<Q extends Queue<any> = MemoryQueue<JobEnvelope>> {
  /** The queue pushed jobs wait in for a worker. */
  readonly queue: Q;
  #workers: number;
  #rateLimit: RateLimit | undefined;
  #groupConcurrency: number | undefined;
  #worker: DispatcherObject<JobEnvelope> | undefined;
  #draining: Draining<JobEnvelope> | undefined;

  /** @throws {@link InvalidOptionError} naming the first option that cannot work */
  constructor(options: QueueMiddlewareOptions<Q> = {}) {
    const { queue = new MemoryQueue<JobEnvelope>({ order: 'priority', maxsize: 1024 }), workers = 10 } =
      options;
    if (typeof queue?.send !== 'function' || typeof queue[Symbol.asyncIterator] !== 'function') {
      throw new InvalidOptionError('queue', queue, 'a Queue (send and async iteration)');
    }
    assertWorkers(workers);
    assertRateLimit(options.rateLimit);
    assertGroupConcurrency(options.groupConcurrency);
    this.queue = queue as Q;
    this.#workers = workers;
    this.#rateLimit = options.rateLimit;
    this.#groupConcurrency = options.groupConcurrency;
  }

  /** At most `limit` job executions start in any window of `interval` milliseconds; `undefined`: none. */
  get rateLimit(): RateLimit | undefined {
    return this.#rateLimit;
  }

  /**
   * Applies to job executions started from now on, in this process's workers; `undefined` lifts it.
   *
   * @throws {@link InvalidOptionError} when the limit cannot work
   */
  set rateLimit(value: RateLimit | undefined) {
    assertRateLimit(value);
    if (this.#draining !== undefined) this.#draining.rateLimit = value;
    this.#rateLimit = value;
  }

  /** At most this many jobs of one group run at once; `undefined`: no cap. */
  get groupConcurrency(): number | undefined {
    return this.#groupConcurrency;
  }

  /**
   * Lowering it takes nothing back from the jobs running; `undefined` lifts it.
   *
   * @throws {@link InvalidOptionError} when the value cannot work
   */
  set groupConcurrency(value: number | undefined) {
    assertGroupConcurrency(value);
    if (this.#draining !== undefined) this.#draining.groupConcurrency = value;
    this.#groupConcurrency = value;
  }

  /** Jobs executing at once in this process. */
  get workers(): number {
    return this.#workers;
  }

  /**
   * More workers start now; surplus workers retire when idle, or once their current job is
   * finished. Once workers ran, at least one keeps running.
   *
   * @throws {@link InvalidOptionError} when `value` is not an integer ≥ 0, or is 0 once workers run
   */
  set workers(value: number) {
    assertWorkers(value);
    if (value === 0 && this.#draining !== undefined) {
      throw new InvalidOptionError('workers', value, 'an integer ≥ 1 once workers run');
    }
    this.#workers = value;
    if (this.#draining !== undefined) this.#draining.concurrency = value;
    else if (this.#worker !== undefined && value > 0) this.#drain(this.#worker);
  }

  /** @internal Starts the workers (none while `workers` is 0). */
  [startWorkers](worker: DispatcherObject<JobEnvelope>): void {
    if (this.#worker !== undefined) {
      throw new InvalidStateError('this QueueMiddleware already runs the workers of another Jobs app');
    }
    this.#worker = worker;
    if (this.#workers > 0) this.#drain(worker);
  }

  /** @internal Stops the workers: what they still hold goes back to the queue. */
  [stopWorkers](): Promise<void> {
    return this.#draining?.stop() ?? Promise.resolve();
  }

  /**
   * The pump's shutdown grace is 0 because the Jobs app waits for its jobs itself (up to the `stop`
   * timeout) before stopping the pump; what is still running then is released.
   */
  #drain(worker: DispatcherObject<JobEnvelope>): void {
    const pump = new Pump<JobEnvelope>(this.queue as Queue<JobEnvelope>, worker, { failSilently: true });
    this.#draining = pump.draining({
      concurrency: this.#workers,
      shutdownTimeout: 0,
      rateLimit: this.#rateLimit,
      groupConcurrency: this.#groupConcurrency,
    });
  }
}

function assertWorkers(workers: unknown): asserts workers is number {
  if (!Number.isInteger(workers) || (workers as number) < 0) {
    throw new InvalidOptionError('workers', workers, 'an integer ≥ 0');
  }
}
