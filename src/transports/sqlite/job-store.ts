import { InvalidOptionError, InvalidStateError } from '../../errors.js';
import { JobWatchers } from '../../jobs/job-watchers.js';
import { type ResolvedRetention, retentionOf } from '../../jobs/retention.js';
import type {
  JobEnd,
  JobListener,
  JobRecord,
  JobStore,
  NewJobRecord,
  Unsubscribe,
} from '../../jobs/store.js';
import { type BrokerJobStoreOptions, resolveJobStoreOptions } from '../shared/job-store-options.js';
import { JobConnection, type WriteStep } from './job-connection.js';
import type { FeedListener, JobFeed } from './job-feed.js';
import { type ChangeRow, type JobRow, recordOf, toColumn } from './job-tables.js';

/** The options of {@link SqliteJobStore}: the file, the store's name and its retention. */
export interface SqliteJobStoreOptions extends BrokerJobStoreOptions {
  /** Database file, created if missing: the file of the app's SqliteQueue suits. */
  path: string;
  /**
   * Milliseconds between reads of what other processes changed, while a job is watched or a cancel
   * listener exists here (SQLite cannot notify). Where the file system reports writes to the
   * database's log (`fs.watch` on a local disk), a change of another process usually arrives
   * within a few milliseconds; where it does not, within this interval (half of it on average).
   * Changes made in this process arrive at once.
   * @defaultValue `25`
   */
  pollInterval?: number;
}

/** A store name is a column value: any length is stored; this bounds what an app may pass. */
const MAX_NAME_LENGTH = 255;
/** recentFailures' page: what an operator looks at first, and at most. */
const DEFAULT_FAILURES = 20;
const MAX_FAILURES = 1_000;
/** Rows one sweep statement deletes at most; a full sweep goes on at once with the next ones. */
const SWEEP_LIMIT = 1_000;

/*
 * How it works: a table of records (job-tables.ts), one conditional statement per write
 * (job-connection.ts batches them), and a feed per store name that reads what other processes
 * changed while something here listens (job-feed.ts).
 */

/**
 * Jobs' records in an SQLite file, shared by the processes of one machine. SQLite cannot notify:
 * while a job is watched here, what other processes change is read every `pollInterval` (sooner
 * where the file system reports writes). Records of ended jobs are hidden once they expire and
 * deleted by a periodic sweep. docs/job-store.md gives the guarantees.
 *
 * @example
 * ```ts
 * import { Jobs } from 'sluice';
 * import { SqliteJobStore } from 'sluice/sqlite';
 *
 * const jobs = new Jobs({ store: new SqliteJobStore({ path: 'jobs.db' }) });
 * ```
 */
export class SqliteJobStore implements JobStore {
  /** The store name: stores of one name share their jobs. */
  readonly name: string;
  readonly #retention: ResolvedRetention;
  readonly #connection: JobConnection;
  readonly #feed: JobFeed;
  readonly #listener: FeedListener;
  readonly #watchers = new JobWatchers();
  readonly #sweep: NodeJS.Timeout;
  #closed = false;

  /**
   * Checks the options and opens the file, creating the table if missing.
   * @throws {@link sluice!InvalidOptionError | InvalidOptionError} when an option cannot work
   * @throws {@link sluice!BrokerUnavailableError | BrokerUnavailableError} when the file cannot be opened
   */
  constructor(options: SqliteJobStoreOptions) {
    const { name, retention } = resolveJobStoreOptions(options, MAX_NAME_LENGTH);
    const { path, pollInterval = 25 } = options;
    if (typeof path !== 'string' || path.length === 0) {
      throw new InvalidOptionError('path', path, 'the path of a database file');
    }
    if (typeof pollInterval !== 'number' || !Number.isFinite(pollInterval) || pollInterval < 1) {
      throw new InvalidOptionError('pollInterval', pollInterval, 'a finite number of milliseconds ≥ 1');
    }
    this.name = name;
    this.#retention = retention;
    this.#connection = JobConnection.acquire(path);
    this.#feed = this.#connection.feed(name);
    this.#listener = { watchers: this.#watchers, pollInterval };
    // Expired rows are already invisible: the sweep only reclaims their space, within a minute or
    // one retention period, whichever is shorter (and no more often than every second).
    const every = Math.min(60_000, Math.max(1_000, Math.min(retention.success, retention.failure)));
    this.#sweep = setInterval(this.#sweepExpired, every);
    this.#sweep.unref();
  }

  create(record: NewJobRecord): Promise<JobRecord | undefined> {
    return rejecting(() => {
      const { id, status, createdAt } = record;
      const name = this.name;
      const columns = this.#columns(id, record);
      return this.#write<JobRow | undefined>('create', (s, version, now) => {
        const created = s.put.get({
          ...columns,
          status,
          attempt: 0,
          createdAt,
          startedAt: null,
          version,
          now,
        });
        if (created !== undefined) return { result: undefined, changed: created as ChangeRow };
        return { result: s.get.get(name, id, now) as JobRow };
      }).then((kept) => (kept === undefined ? undefined : recordOf(kept)));
    });
  }

  get(id: string): Promise<JobRecord | undefined> {
    if (this.#closed) return this.#refuse('read');
    return rejecting(() => {
      const row = this.#connection.read((s) => s.get.get(this.name, id, Date.now()) as JobRow | undefined);
      return Promise.resolve(row === undefined ? undefined : recordOf(row));
    });
  }

  start(id: string, fallback: NewJobRecord): Promise<JobRecord> {
    return rejecting(() => {
      const name = this.name;
      const { createdAt } = fallback;
      const columns = this.#columns(id, fallback);
      return this.#write<JobRow>('start', (s, version, now) => {
        const started = s.start.get(now, version, name, id) as JobRow | undefined;
        if (started !== undefined) return { result: started, changed: started };
        // Unknown here (pushed without this store, or expired): stored from the fallback, started.
        const running = { status: 'running', attempt: 1, createdAt, startedAt: now, version, now };
        const stored = s.put.get({ ...columns, ...running }) as ChangeRow | undefined;
        if (stored !== undefined) return { result: s.get.get(name, id, now) as JobRow, changed: stored };
        return { result: s.get.get(name, id, now) as JobRow }; // it has ended: as it is
      }).then(recordOf);
    });
  }

  retrying(id: string): Promise<void> {
    const name = this.name;
    return this.#write('retry', (s, version) => ({
      result: undefined,
      changed: s.retrying.get(version, name, id) as ChangeRow | undefined,
    }));
  }

  progress(id: string, value: unknown): Promise<void> {
    return rejecting(() => {
      const name = this.name;
      const progress = toColumn(value, 'progress');
      return this.#write('report progress of', (s, version) => ({
        result: undefined,
        changed: s.progress.get(progress, version, name, id) as ChangeRow | undefined,
      }));
    });
  }

  finish(id: string, end: JobEnd): Promise<boolean> {
    return rejecting(() => {
      const name = this.name;
      const { status } = end;
      const result = toColumn(end.result, 'result');
      const error = toColumn(end.error, 'error');
      const kept = retentionOf(this.#retention, status);
      return this.#write('finish', (s, version, now) => {
        const ended = s.finish.get(status, result, error, now, now + kept, version, name, id);
        return { result: ended !== undefined, changed: ended as ChangeRow | undefined };
      });
    });
  }

  remove(id: string): Promise<void> {
    const name = this.name;
    return this.#write('remove', (s) => {
      s.remove.run(name, id);
      return { result: undefined };
    });
  }

  /**
   * The kept records of jobs that ended `failed`, `timeout` or `cancelled`, most recently ended
   * first, at most `limit` (default 20, at most 1,000). Read from an index of the failed jobs' rows
   * alone: a page reads about `limit` rows.
   */
  recentFailures(options: { limit?: number } = {}): Promise<JobRecord[]> {
    if (this.#closed) return this.#refuse('read');
    const limit = options?.limit ?? DEFAULT_FAILURES;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_FAILURES) {
      return Promise.reject(new InvalidOptionError('limit', limit, `an integer from 1 to ${MAX_FAILURES}`));
    }
    return rejecting(() => {
      const rows = this.#connection.read((s) => s.failures.all(this.name, Date.now(), limit) as JobRow[]);
      return Promise.resolve(rows.map(recordOf));
    });
  }

  watch(id: string, listener: JobListener): Promise<Unsubscribe> {
    if (this.#closed) return this.#refuse('watch');
    return this.#subscribe(this.#watchers.watch(id, listener));
  }

  onCancel(listener: (id: string) => void): Promise<Unsubscribe> {
    if (this.#closed) return this.#refuse('hear of cancels of');
    return this.#subscribe(this.#watchers.onCancel(listener));
  }

  /** Stops following changes; writes still pending are committed before the file is released. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    clearInterval(this.#sweep);
    this.#watchers.clear();
    this.#feed.update(this.#listener);
    this.#connection.release();
    return Promise.resolve();
  }

  /** A subscription just added to the watchers: the feed now hears for it, from now on. */
  #subscribe(unsubscribe: Unsubscribe): Promise<Unsubscribe> {
    try {
      this.#feed.update(this.#listener);
    } catch (error) {
      unsubscribe();
      return Promise.reject(error);
    }
    return Promise.resolve(() => {
      unsubscribe();
      if (!this.#closed) this.#feed.update(this.#listener);
    });
  }

  /** The columns of a new record that do not change until it expires. */
  #columns(id: string, record: NewJobRecord) {
    const { task, args, metadata } = record;
    return {
      store: this.name,
      id,
      task,
      args: toColumn(args, 'args'),
      metadata: toColumn(metadata, 'metadata'),
    };
  }

  #write<R>(operation: string, step: WriteStep<R>): Promise<R> {
    if (this.#closed) return this.#refuse(operation);
    return this.#connection.write(this.name, step);
  }

  readonly #sweepExpired = (): void => {
    const name = this.name;
    this.#write('sweep', (s, _version, now) => ({ result: s.sweep.run(name, now, SWEEP_LIMIT).changes }))
      .then((deleted) => {
        if (deleted === SWEEP_LIMIT) this.#sweepExpired();
      })
      .catch(() => {}); // the next sweep deletes them
  };

  #refuse(operation: string): Promise<never> {
    return Promise.reject(
      new InvalidStateError(`cannot ${operation} a job: the SqliteJobStore "${this.name}" is closed`),
    );
  }
}

/** `write()`, or a rejection for what it throws before anything is queued (a value JSON cannot encode). */
function rejecting<R>(write: () => Promise<R>): Promise<R> {
  try {
    return write();
  } catch (error) {
    return Promise.reject(error);
  }
}
