import type { JobWatchers } from '../../jobs/job-watchers.js';
import type { JobChange } from '../../jobs/store.js';
import { type ChangeRow, changeOf, type JobStatements, type StateRow } from './job-tables.js';
import { watchCommits } from './job-wal-watch.js';

/** Ticks a burst of commits brings come at most this often: each still reads all changes since the last. */
const NUDGE_SPACING_MS = 2;

/** A store handle of this process, as its feed sees it. */
export interface FeedListener {
  readonly watchers: JobWatchers;
  readonly pollInterval: number;
}

/** What a feed reads through: its file's connection (JobConnection). */
export interface FeedSource {
  readonly path: string;
  read<R>(read: (statements: JobStatements) => R): R;
}

/**
 * The changes of one store (a store name in one file) as this process hears of them, handed to the
 * watchers of every store handle listening here: the writes of this process at once, those of other
 * processes by reading what changed, since SQLite cannot notify across processes.
 *
 * It reads only while a handle listens (watches a job or has a cancel listener), on a tick: every
 * `pollInterval`, and soon after the file system says the database's log was written (any process's
 * commit; see job-wal-watch.ts), which brings another process's change here within a few
 * milliseconds where the file system tells. A tick reads the store's newest version (one
 * primary-key read, all a tick costs when nothing of this store changed) and, if it moved, the rows
 * written since (one indexed range read), only the cancelled ones while no job is watched here.
 * While it listens, it keeps the process alive, as a broker's subscription would: a worker whose
 * only running job waits for its cancel has nothing else to wake it.
 */
export class JobFeed {
  readonly #connection: FeedSource;
  readonly #store: string;
  readonly #listeners = new Set<FeedListener>();
  /** The version up to which changes were handed out. */
  #seen = 0;
  /** Versions this process wrote after `#seen`: handed out already when they were written. */
  readonly #own = new Set<number>();
  #timer: NodeJS.Timeout | undefined;
  /** Whether the pending tick is one a commit brought forward. */
  #nudged = false;
  #lastTick = 0;
  #unwatch: (() => void) | undefined;

  constructor(connection: FeedSource, store: string) {
    this.#connection = connection;
    this.#store = store;
  }

  /**
   * `listener`'s subscriptions changed: it listens while it has any. The first listener makes the
   * feed start from the store's current version; throws BrokerUnavailableError if it cannot be read.
   */
  update(listener: FeedListener): void {
    const { watched, cancelListeners } = listener.watchers;
    if (watched + cancelListeners === 0) this.#listeners.delete(listener);
    else if (!this.#listeners.has(listener)) {
      if (this.#listeners.size === 0) {
        this.#seen = this.#connection.read((s) => s.version.get(this.#store) as number);
        this.#unwatch = watchCommits(this.#connection.path, this.#nudge);
      }
      this.#listeners.add(listener);
    }
    if (this.#listeners.size === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#unwatch?.();
      this.#unwatch = undefined;
      this.#own.clear();
      return;
    }
    this.#timer ??= setTimeout(this.#tick, this.#interval());
  }

  /** Whether a handle here watches job `id`. */
  wants(id: string): boolean {
    for (const listener of this.#listeners) if (listener.watchers.wants(id)) return true;
    return false;
  }

  /**
   * This process wrote a change (`state`: the job's, if it is watched here): its listeners hear of
   * it now, and no tick repeats it.
   */
  wrote(change: ChangeRow, state: StateRow | undefined): void {
    if (this.#listeners.size === 0) return;
    this.#own.add(change.version);
    this.#handOut(change.id, change.status, state);
  }

  /** Something was committed to the file: the next tick comes now, or as soon as the spacing allows. */
  readonly #nudge = (): void => {
    if (this.#nudged || this.#timer === undefined) return;
    this.#nudged = true;
    clearTimeout(this.#timer);
    const wait = Math.max(0, this.#lastTick + NUDGE_SPACING_MS - performance.now());
    this.#timer = setTimeout(this.#tick, wait);
  };

  readonly #tick = (): void => {
    this.#nudged = false;
    this.#lastTick = performance.now();
    this.#timer = setTimeout(this.#tick, this.#interval());
    let from = this.#seen;
    let newest: number;
    let changes: { change: ChangeRow; state: StateRow | undefined }[];
    try {
      newest = this.#connection.read((s) => s.version.get(this.#store) as number);
      if (newest === from) return;
      if (newest < from) {
        // The store was emptied and its sequence began again: all of the new one is news, and
        // versions this process wrote before may now name another process's writes.
        from = 0;
        this.#own.clear();
      }
      changes = this.#read(from, newest);
    } catch {
      return; // the next tick reads the same changes again
    }
    this.#seen = newest;
    for (const version of this.#own) if (version <= newest) this.#own.delete(version);
    for (const { change, state } of changes) this.#handOut(change.id, change.status, state);
  };

  /** The changes after `from` up to `to` that this process did not write, with the states of watched jobs. */
  #read(from: number, to: number): { change: ChangeRow; state: StateRow | undefined }[] {
    const store = this.#store;
    const query = this.#watching() ? 'changes' : 'cancels';
    const changes = this.#connection.read((s) => s[query].all(store, from, to) as ChangeRow[]);
    const read: { change: ChangeRow; state: StateRow | undefined }[] = [];
    for (const change of changes) {
      if (this.#own.has(change.version)) continue;
      const state = this.wants(change.id)
        ? this.#connection.read((s) => s.state.get(store, change.id) as StateRow | undefined)
        : undefined;
      read.push({ change, state });
    }
    return read;
  }

  /**
   * A cancel is announced before the record: an app running the job aborts it, which it would not
   * do for a handle the record had already ended.
   */
  #handOut(id: string, status: string, state: StateRow | undefined): void {
    if (status === 'cancelled') for (const listener of this.#listeners) listener.watchers.cancelled(id);
    if (state === undefined) return;
    let change: JobChange | undefined;
    for (const listener of this.#listeners) {
      if (!listener.watchers.wants(id)) continue;
      change ??= decoded(state);
      if (change === undefined) return;
      listener.watchers.changed(change);
    }
  }

  #watching(): boolean {
    for (const listener of this.#listeners) if (listener.watchers.watched > 0) return true;
    return false;
  }

  #interval(): number {
    let interval = Number.POSITIVE_INFINITY;
    for (const listener of this.#listeners) interval = Math.min(interval, listener.pollInterval);
    return interval;
  }
}

/** The change, or `undefined` for a state holding what is not JSON (a foreign writer's): a feed skips it. */
function decoded(state: StateRow): JobChange | undefined {
  try {
    return changeOf(state);
  } catch {
    return undefined;
  }
}
