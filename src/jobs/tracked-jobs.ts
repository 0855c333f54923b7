import { RESOLVED } from '../queuing/settled.js';
import { Timer } from '../timer.js';
import type { JobExecution } from './context.js';
import type { HandleIndex } from './handle-index.js';
import { execution, type FinalStatus, type Job, settle } from './job.js';
import { LiveJobs } from './live-jobs.js';
import type { JobEnvelope } from './types.js';

/**
 * What a started app's runtime knows of its jobs, shared by its push side, its worker side and its
 * stop: the jobs it follows until they are final, the executions running, and a wait for both.
 *
 * The local worker updates the very handle `push` returned: the handle rides on its envelope under
 * a symbol of this runtime (JSON ignores symbol keys, so a broker never sees it; another app sharing
 * the queue does not know the symbol). A queue that hands workers a copy (a broker) loses it, and a
 * cancel may arrive by id from the job store, so jobs are also indexed by id.
 */
export class TrackedJobs {
  /** Jobs not final yet: pushed here, or executing here. */
  readonly live = new LiveJobs();
  /** Under it, an envelope this runtime sends carries the job `push` returned. */
  readonly #carried = Symbol('sluice.job');
  /** The live jobs by id. */
  readonly #byId: HandleIndex;
  /** Task functions running now (a cancelled job's function may still run: it left `live`). */
  #executing = 0;
  /** Set while the stop waits for the work to settle; called whenever a job settles. */
  #onSettled: (() => void) | undefined;

  constructor(byId: HandleIndex) {
    this.#byId = byId;
  }

  get executing(): number {
    return this.#executing;
  }

  /** Follows `job` until it is final (again: a no-op). */
  add(job: Job<any>): void {
    if (this.live.has(job)) return;
    this.live.add(job);
    this.#byId.set(job);
  }

  /** The live job with this id, if any. */
  byId(id: string): Job<any> | undefined {
    return this.#byId.get(id);
  }

  /** Stops following `job` without settling it: its outcome is up to another process now. */
  release(job: Job<any>): void {
    this.live.delete(job);
    this.#byId.release(job);
  }
  /** `job`: the handle to carry, or `undefined` for a job this process does not follow. */
  envelope(
    id: string,
    task: string,
    args: readonly unknown[],
    priority: number,
    attempt: number,
    job: Job<any> | undefined,
    group?: string,
  ): JobEnvelope {
    if (group !== undefined) return { id, task, args, priority, attempt, group, [this.#carried]: job };
    return { id, task, args, priority, attempt, [this.#carried]: job };
  }

  /** `envelope` if it carries `job`, else a copy that does (the original may be frozen). */
  carrying(envelope: JobEnvelope, job: Job<any>): JobEnvelope {
    return this.#jobOf(envelope) === job ? envelope : { ...envelope, [this.#carried]: job };
  }

  /** The handle of the job a worker took, if this runtime pushed it. */
  find(envelope: JobEnvelope): Job<any> | undefined {
    return this.#jobOf(envelope) ?? this.#byId.get(envelope.id);
  }

  started(job: Job<any>, context: JobExecution): void {
    job[execution] = context;
    this.#executing++;
  }

  ran(job: Job<any>): void {
    job[execution] = undefined;
    this.#executing--;
    if (this.#onSettled !== undefined) this.#onSettled();
  }

  /** Gives the job its final status; `false` if it had one already. */
  finish(job: Job<any>, status: FinalStatus, value?: unknown, error?: unknown): boolean {
    const settled = job[settle](status, value, error);
    if (settled) {
      this.live.delete(job);
      this.#byId.ended(job);
    } else if (this.live.has(job)) {
      // A shared store's notification settled the handle before the write that ended the job
      // returned here: it needs following no more.
      this.release(job);
    } else {
      return false;
    }
    if (this.#onSettled !== undefined) this.#onSettled();
    return settled;
  }

  /** Resolves once `done()` holds (checked whenever a job settles) or after `ms`. */
  settled(done: () => boolean, ms: number): Promise<void> {
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

  /**
   * The app stopped. `settle`: every job not final yet ends `cancelled` ("not completed here"),
   * which is true only when no other process can complete it (its store is this process's).
   */
  clear(cancel: boolean): void {
    for (const job of this.live.toArray()) {
      if (cancel) this.finish(job, 'cancelled');
      else this.release(job);
    }
  }

  #jobOf(envelope: JobEnvelope): Job<any> | undefined {
    return (envelope as JobEnvelope & Record<symbol, Job<any> | undefined>)[this.#carried];
  }
}
