import { type Job, liveNext, livePrevious } from './job.js';

/**
 * The jobs of a runtime that are not final yet, in the order they were added. An intrusive
 * doubly-linked list (the links are fields of the Job): adding and removing a job are a few field
 * writes. A Set did the same job but hashed every job on add and delete, and rehashed its table as
 * ~1,000 jobs churned through it: ~15% of the jobs layer's time per job in bench/jobs.ts.
 */
export class LiveJobs {
  #first: Job<any> | undefined = undefined;
  #last: Job<any> | undefined = undefined;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  has(job: Job<any>): boolean {
    return job[livePrevious] !== undefined || this.#first === job;
  }

  add(job: Job<any>): void {
    job[livePrevious] = this.#last;
    job[liveNext] = undefined;
    if (this.#last === undefined) this.#first = job;
    else this.#last[liveNext] = job;
    this.#last = job;
    this.#size++;
  }

  /** Removes `job`; does nothing when it is not in the list (it was removed already). */
  delete(job: Job<any>): void {
    const previous = job[livePrevious];
    const next = job[liveNext];
    if (previous === undefined && this.#first !== job) return;
    if (previous === undefined) this.#first = next;
    else previous[liveNext] = next;
    if (next === undefined) this.#last = previous;
    else next[livePrevious] = previous;
    job[livePrevious] = undefined;
    job[liveNext] = undefined;
    this.#size--;
  }

  /** The job with this id (a scan: for rare lookups of jobs no index holds). */
  find(id: string): Job<any> | undefined {
    for (let job = this.#first; job !== undefined; job = job[liveNext]) if (job.id === id) return job;
    return undefined;
  }

  /** A copy: what the caller does with each job may remove jobs from the list. */
  toArray(): Job<any>[] {
    const jobs: Job<any>[] = [];
    for (let job = this.#first; job !== undefined; job = job[liveNext]) jobs.push(job);
    return jobs;
  }

  clear(): void {
    for (const job of this.toArray()) this.delete(job);
  }
}
