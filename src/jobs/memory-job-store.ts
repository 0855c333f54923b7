import { InvalidOptionError, InvalidStateError } from '../errors.js';
import { Fifo } from '../queuing/memory/buffers.js';
import { RESOLVED } from '../queuing/settled.js';
import { Timer } from '../timer.js';
import { now } from './clock.js';
import { indexed, Job, setProgress, setStatus, settle, snapshot } from './job.js';
import { revivedError } from './job-error.js';
import { JobWatchers } from './job-watchers.js';
import { Entry, type Kept } from './memory-entry.js';
import { type ResolvedRetention, resolveRetention, retentionOf } from './retention.js';
import { type FinalStatus, isFinal } from './status.js';
import type {
  JobChange,
  JobEnd,
  JobListener,
  JobRecord,
  JobStore,
  NewJobRecord,
  Retention,
  Unsubscribe,
} from './store.js';

/** Options of a {@link MemoryJobStore}. */
export interface MemoryJobStoreOptions {
  /** How long records of ended jobs are kept. @defaultValue `{ success: 24 h, failure: 7 days }` */
  retain?: Retention;
  /**
   * Records of ended jobs kept at most, the oldest forgotten first: memory stays bounded.
   * @defaultValue `1_000`
   */
  maxEnded?: number;
}

interface Expiry {
  readonly kept: Kept;
  readonly id: string;
  /** Whether `#kept` holds it (an ended handle that is not is found by a scan of the lines). */
  readonly indexed: boolean;
  readonly endedAt: number;
  readonly at: number;
}

/**
 * What a Jobs app of this process calls on its MemoryJobStore instead of the JobStore methods
 * (package-internal; the symbols are not exported): the app's job handle IS the record, so a job
 * costs the store an index entry and nothing else until it ends.
 */
export const adopt: unique symbol = Symbol('sluice.memoryJobStore.adopt');
export const handleOf: unique symbol = Symbol('sluice.memoryJobStore.handleOf');
export const touched: unique symbol = Symbol('sluice.memoryJobStore.touched');
export const ended: unique symbol = Symbol('sluice.memoryJobStore.ended');

/** recentFailures' page: what an operator looks at first, and at most. */
const DEFAULT_FAILURES = 20;
const MAX_FAILURES = 1_000;

const UNDEFINED: Promise<undefined> = Promise.resolve(undefined);
const TRUE: Promise<boolean> = Promise.resolve(true);
const FALSE: Promise<boolean> = Promise.resolve(false);

/**
 * The default job store: records in this process's memory, seen by the handles of this process
 * only. It answers at once, so an app using it waits for no round trip.
 */
export class MemoryJobStore implements JobStore {
  readonly #kept = new Map<string, Kept>();
  readonly #retention: ResolvedRetention;
  readonly #maxEnded: number;
  /** Ended records in expiry order, one line per retention (so each line is in expiry order). */
  readonly #succeeded = new Fifo<Expiry>();
  readonly #failed = new Fifo<Expiry>();
  readonly #watchers = new JobWatchers();
  #sweep: Timer | undefined;
  #sweepAt = Number.POSITIVE_INFINITY;
  #version = 0;
  #closed = false;

  /** @throws {@link InvalidOptionError} naming the first option that cannot work */
  constructor(options: MemoryJobStoreOptions = {}) {
    if (options === null || typeof options !== 'object') {
      throw new InvalidOptionError('MemoryJobStore options', options, 'an object');
    }
    const { retain, maxEnded = 1_000 } = options;
    this.#retention = resolveRetention(retain);
    if (!Number.isInteger(maxEnded) || maxEnded < 0) {
      throw new InvalidOptionError('maxEnded', maxEnded, 'an integer ≥ 0');
    }
    this.#maxEnded = maxEnded;
  }

  create(record: NewJobRecord): Promise<JobRecord | undefined> {
    this.#assertOpen('create');
    const kept = this.#kept.get(record.id);
    if (kept !== undefined) return Promise.resolve(this.#record(kept));
    const entry = new Entry(record);
    this.#kept.set(record.id, entry);
    this.#changed(entry, record.id);
    return UNDEFINED;
  }

  get(id: string): Promise<JobRecord | undefined> {
    const kept = this.#kept.get(id) ?? this.#endedUnindexed(id);
    return Promise.resolve(kept === undefined ? undefined : this.#record(kept));
  }

  start(id: string, fallback: NewJobRecord): Promise<JobChange> {
    this.#assertOpen('start');
    let kept = this.#kept.get(id);
    if (kept === undefined) {
      kept = new Entry(fallback);
      this.#kept.set(id, kept);
    }
    if (!isFinal(kept.status)) {
      if (kept instanceof Job) kept[setStatus]('running', kept.attempt + 1);
      else {
        kept.status = 'running';
        kept.attempt++;
        kept.startedAt = Date.now();
      }
      this.#changed(kept, id);
    }
    return Promise.resolve(this.#record(kept));
  }

  retrying(id: string): Promise<void> {
    const kept = this.#open(id);
    if (kept instanceof Job) kept[setStatus]('scheduled');
    else if (kept !== undefined) kept.status = 'scheduled';
    if (kept !== undefined) this.#changed(kept, id);
    return RESOLVED;
  }

  progress(id: string, value: unknown): Promise<void> {
    const kept = this.#open(id);
    if (kept instanceof Job) kept[setProgress](value);
    else if (kept !== undefined) kept.progress = value;
    if (kept !== undefined) this.#changed(kept, id);
    return RESOLVED;
  }

  /** A cancel is announced first: the app running the job aborts it and ends its handle itself. */
  finish(id: string, end: JobEnd): Promise<boolean> {
    const kept = this.#open(id);
    if (kept === undefined) return FALSE;
    if (end.status === 'cancelled') this.#watchers.cancelled(id);
    if (isFinal(kept.status)) return TRUE; // a listener ended it
    if (kept instanceof Job) {
      kept[settle](end.status, end.result, end.error === undefined ? undefined : revivedError(end.error));
    } else {
      kept.status = end.status;
      kept.result = end.result;
      kept.error = end.error;
      kept.endedAt = Date.now();
    }
    this.#ended(kept, id);
    return TRUE;
  }

  remove(id: string): Promise<void> {
    this.#kept.delete(id);
    return RESOLVED;
  }

  /** The failures line holds the kept records of ended failures in the order they ended. */
  recentFailures(options: { limit?: number } = {}): Promise<JobRecord[]> {
    const limit = options?.limit ?? DEFAULT_FAILURES;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_FAILURES) {
      return Promise.reject(new InvalidOptionError('limit', limit, `an integer from 1 to ${MAX_FAILURES}`));
    }
    const at = now();
    const kept = (expiry: Expiry) =>
      expiry.at > at && (!expiry.indexed || this.#kept.get(expiry.id) === expiry.kept);
    const failures = this.#failed.toArray().filter(kept).reverse().slice(0, limit);
    return Promise.resolve(failures.map((expiry) => this.#record(expiry.kept)));
  }

  watch(id: string, listener: JobListener): Promise<Unsubscribe> {
    return Promise.resolve(this.#watchers.watch(id, listener));
  }

  onCancel(listener: (id: string) => void): Promise<Unsubscribe> {
    return Promise.resolve(this.#watchers.onCancel(listener));
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#sweep?.cancel();
    this.#watchers.clear();
    return RESOLVED;
  }

  /**
   * @internal Keeps `job` as its record, indexed by id; with its id taken, returns the kept record and keeps
   * nothing. An app indexes only the jobs it must find by id at once (a caller-chosen id, a queue
   * that hands workers copies): the others cost no hashing, and `get` finds them once they ended by
   * a scan of the ended records (at most `maxEnded`), and its app finds them in its live list.
   */
  [adopt](job: Job<any>): JobRecord | undefined {
    this.#assertOpen('create');
    const kept = this.#kept.get(job.id);
    if (kept === job) return undefined;
    if (kept !== undefined) return this.#record(kept);
    this.#kept.set(job.id, job);
    job[indexed] = true;
    this.#changed(job, job.id);
    return undefined;
  }

  /** @internal */ [handleOf](id: string): Job<any> | undefined {
    const kept = this.#kept.get(id);
    return kept instanceof Job ? kept : undefined;
  }

  /** @internal `job` changed: its watchers hear of it. */
  [touched](job: Job<any>): void {
    this.#changed(job, job.id);
  }

  /** @internal `job` ended: its record expires after the retention of its outcome. */
  [ended](job: Job<any>): void {
    this.#ended(job, job.id);
  }

  #record(kept: Kept): JobRecord {
    return kept instanceof Job ? kept[snapshot](this.#version) : kept.record(this.#version);
  }

  /** What a job that has not ended keeps; `undefined` when there is none. */
  #open(id: string): Kept | undefined {
    this.#assertOpen('update');
    const kept = this.#kept.get(id);
    return kept === undefined || isFinal(kept.status) ? undefined : kept;
  }

  #changed(kept: Kept, id: string): void {
    this.#version++;
    if (this.#watchers.wants(id)) this.#watchers.changed(this.#record(kept));
  }

  #ended(kept: Kept, id: string): void {
    this.#changed(kept, id);
    const at = now();
    const status = kept.status as FinalStatus;
    const inIndex = !(kept instanceof Job) || kept[indexed];
    const expiry = {
      kept,
      id,
      indexed: inIndex,
      endedAt: at,
      at: at + retentionOf(this.#retention, status),
    };
    (status === 'success' ? this.#succeeded : this.#failed).push(expiry);
    this.#forgetExpired(at);
  }

  /** Forgets expired records and, over `maxEnded`, the oldest; then waits for the next expiry. */
  #forgetExpired(now: number): void {
    this.#forgetUntil(this.#succeeded, now);
    this.#forgetUntil(this.#failed, now);
    while (this.#succeeded.size + this.#failed.size > this.#maxEnded) {
      const succeeded = this.#succeeded.peek()?.endedAt ?? Number.POSITIVE_INFINITY;
      const failed = this.#failed.peek()?.endedAt ?? Number.POSITIVE_INFINITY;
      this.#forget((succeeded <= failed ? this.#succeeded : this.#failed).shift()!);
    }
    // Heads only ever move later: a timer set for an earlier head fires early and sets the next.
    const next = Math.min(
      this.#succeeded.peek()?.at ?? Number.POSITIVE_INFINITY,
      this.#failed.peek()?.at ?? Number.POSITIVE_INFINITY,
    );
    if (next >= this.#sweepAt || next === Number.POSITIVE_INFINITY) return;
    this.#sweep?.cancel();
    this.#sweepAt = next;
    this.#sweep = new Timer(Math.max(0, next - now), () => {
      this.#sweepAt = Number.POSITIVE_INFINITY;
      this.#forgetExpired(Date.now());
    });
    this.#sweep.hold(false); // an expiry never keeps the process alive
  }

  #forgetUntil(line: Fifo<Expiry>, now: number): void {
    for (let head = line.peek(); head !== undefined && head.at <= now; head = line.peek()) {
      this.#forget(line.shift()!);
    }
  }

  #forget(expiry: Expiry): void {
    if (expiry.indexed && this.#kept.get(expiry.id) === expiry.kept) this.#kept.delete(expiry.id);
  }

  #endedUnindexed(id: string): Kept | undefined {
    const match = (expiry: Expiry) => !expiry.indexed && expiry.id === id;
    return (this.#succeeded.find(match) ?? this.#failed.find(match))?.kept;
  }

  #assertOpen(operation: string): void {
    if (this.#closed) throw new InvalidStateError(`cannot ${operation} a job: the MemoryJobStore is closed`);
  }
}
