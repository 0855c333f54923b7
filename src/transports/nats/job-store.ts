import { InvalidStateError, SerializationError, SluiceError } from '../../errors.js';
import { JobWatchers } from '../../jobs/job-watchers.js';
import { isFinal } from '../../jobs/status.js';
import type {
  JobEnd,
  JobListener,
  JobRecord,
  JobStore,
  NewJobRecord,
  Unsubscribe,
} from '../../jobs/store.js';
import { UnderWay } from '../shared/under-way.js';
import { failure } from './errors.js';
import { JobCancels } from './job-cancels.js';
import { failuresLimit, recentFailures } from './job-failures.js';
import { JobFeed } from './job-feed.js';
import { type NatsJobStoreOptions, resolveNatsJobStoreOptions } from './job-options.js';
import { JobRecords } from './job-records.js';
import { type JobSession, type LazyJobSession, openJobSession, reconnection } from './job-session.js';
import { LazySession } from './session.js';

/** How long an operation waits for a lost connection to come back before it fails. */
const OUTAGE_WAIT_MS = 5_000;

/*
 * How it works (job-buckets.ts names the buckets): a job's record is one value, the JSON of
 * `encodeJobRecord`, under its id, in the live bucket while the job has not
 * ended, then in the bucket of its outcome, whose max_age is the retention of that outcome (the
 * server removes it; NATS 2.9 has no per-message TTL, so each retention needs its own bucket).
 *
 * - Every write is a compare-and-set on the record's revision in the live bucket (re-read and
 *   retried when another write came first), conditional on the job not having ended there.
 * - A job ends in the live bucket (one compare-and-set decides which end wins), then its record
 *   moves to its outcome's bucket: copied first, then purged from the live one by its revision. A
 *   read tries the live bucket, then the others, so a record never vanishes between the two. A
 *   mover that died in between leaves an ended record in the live bucket, where it does not
 *   expire: whoever meets it there while writing moves it (a worker does when the job's message
 *   comes back, which it does: a worker acks a job's message only once its end has moved).
 * - `create` stores the record in the live bucket if its id is absent there, then looks in the
 *   outcome buckets: an id whose ended record is retained is taken, and the record just stored is
 *   purged again by its revision.
 * - Records: JobRecords makes the writes and moves above.
 * - Notifications: see JobFeed (records, while something is watched) and JobCancels (cancels).
 *
 * A write costs one compare-and-set when this handle wrote or read the record last (see
 * HeldRecords), else a read first; an end adds the copy and the purge; a create, the two reads of
 * the outcome buckets (at once). While the connection is down, an operation waits for it up to
 * OUTAGE_WAIT_MS, then fails with BrokerUnavailableError.
 */

/**
 * Jobs' records in NATS JetStream key-value buckets, seen by every process using the same NATS
 * and store name. A job's record moves, once the job ends, to a bucket that the server expires after
 * that outcome's retention. A handle waited on follows the job by a key-value watch, not by polling.
 * While the connection is down, an operation waits for it a few seconds, then fails with
 * {@link sluice!BrokerUnavailableError | BrokerUnavailableError}. docs/job-store.md gives the guarantees.
 *
 * @example
 * ```ts
 * import { Jobs } from 'sluice';
 * import { NatsJobStore } from 'sluice/nats';
 *
 * const jobs = new Jobs({ store: new NatsJobStore({ url: 'nats://127.0.0.1:4222' }) });
 * ```
 */
export class NatsJobStore implements JobStore {
  /** The store name: stores of one name share their jobs. */
  readonly name: string;
  readonly #session: LazyJobSession;
  readonly #watchers = new JobWatchers();
  readonly #feed: JobFeed;
  readonly #cancels: JobCancels;
  readonly #records = new JobRecords();
  /** Operations under way: close lets them end before closing the connection. */
  readonly #busy = new UnderWay();
  #closing: Promise<void> | undefined;

  /**
   * Checks the options and makes the store; it connects on first use.
   * @throws {@link sluice!InvalidOptionError | InvalidOptionError} when an option cannot work (a
   * name whose bucket names would be too long, a malformed `url` or `connection`...)
   */
  constructor(options: NatsJobStoreOptions = {}) {
    const resolved = resolveNatsJobStoreOptions(options);
    this.name = resolved.name;
    this.#session = new LazySession(
      () => openJobSession(resolved),
      (session) => this.#opened(session),
    );
    this.#feed = new JobFeed(this.#session, this.#watchers, (id) => this.get(id));
    this.#cancels = new JobCancels(this.#session, resolved.buckets.cancels, this.#watchers);
  }

  create(record: NewJobRecord): Promise<JobRecord | undefined> {
    return this.#operate('create', `job ${record.id}`, (session) =>
      this.#records.add(session, { ...record, attempt: 0, version: 1 }),
    );
  }

  get(id: string): Promise<JobRecord | undefined> {
    return this.#operate('read', `job ${id}`, (session) => this.#records.get(session, id));
  }

  start(id: string, fallback: NewJobRecord): Promise<JobRecord> {
    return this.#operate('start', `job ${id}`, (session) => this.#start(session, id, fallback));
  }

  retrying(id: string): Promise<void> {
    return this.#operate('update', `job ${id}`, async (session) => {
      await this.#records.change(session, id, (record) => ({
        ...record,
        status: 'scheduled',
        version: record.version + 1,
      }));
    });
  }

  progress(id: string, value: unknown): Promise<void> {
    return this.#operate('update', `job ${id}`, async (session) => {
      await this.#records.change(session, id, (record) => ({
        ...record,
        progress: value,
        version: record.version + 1,
      }));
    });
  }

  finish(id: string, end: JobEnd): Promise<boolean> {
    return this.#operate('finish', `job ${id}`, (session) => this.#finish(session, id, end));
  }

  remove(id: string): Promise<void> {
    return this.#operate('remove', `job ${id}`, (session) => this.#records.remove(session, id));
  }

  /**
   * The kept records of jobs that ended `failed`, `timeout` or `cancelled`, most recently ended
   * first, at most `limit` (default 20, at most 1,000). Read from the failure bucket: one request
   * per `limit` records kept.
   */
  recentFailures(options?: { limit?: number }): Promise<JobRecord[]> {
    let limit: number;
    try {
      limit = failuresLimit(options);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#operate('read', 'the failed jobs', (session) => recentFailures(session, limit));
  }

  watch(id: string, listener: JobListener): Promise<Unsubscribe> {
    if (this.#closing !== undefined) return Promise.reject(this.#closed('watch', `job ${id}`));
    return this.#feed.watch(id, listener).catch((error: unknown) => {
      throw classified(`watch job ${id} in job store ${this.name}`, error);
    });
  }

  onCancel(listener: (id: string) => void): Promise<Unsubscribe> {
    if (this.#closing !== undefined) {
      return Promise.reject(
        new InvalidStateError(`cannot listen for cancels: job store ${this.name} is closed`),
      );
    }
    return this.#cancels.onCancel(listener).catch((error: unknown) => {
      throw classified(`listen for the cancels of job store ${this.name}`, error);
    });
  }

  /** Lets the operations under way end, stops the notifications, then closes the connection if it opened it. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#busy.ended();
      this.#cancels.close();
      await this.#feed.close();
      this.#watchers.clear();
      await this.#session.close();
    })();
    return this.#closing;
  }

  /**
   * Runs `body` on the open session, its failures told apart as SluiceErrors. While disconnected it
   * first waits up to OUTAGE_WAIT_MS for the connection to come back (the client drops what is sent
   * meanwhile): a server restart does not fail a worker's write, which would cost the job an
   * attempt of its queue message for every delivery meanwhile.
   */
  #operate<R>(verb: string, what: string, body: (session: JobSession) => Promise<R>): Promise<R> {
    if (this.#closing !== undefined) return Promise.reject(this.#closed(verb, what));
    return this.#busy.add(
      (async () => {
        try {
          const session = this.#session.ready ?? (await this.#session.get());
          if (!session.connection.up) await reconnection(session.connection, OUTAGE_WAIT_MS);
          return await body(session);
        } catch (error) {
          throw classified(`${verb} ${what} in job store ${this.name}`, error);
        }
      })(),
    );
  }

  #closed(verb: string, what: string): InvalidStateError {
    return new InvalidStateError(`cannot ${verb} ${what}: job store ${this.name} is closed`);
  }

  /**
   * Notifications follow a session's connection: new consumers once it comes back (the server may
   * have lost the old ones), new subscriptions on the next connection if the client gives it up.
   */
  #opened(session: JobSession): void {
    session.connection.onReconnect(() => this.#feed.resume());
    session.connection.onLost(() => {
      this.#feed.resume();
      this.#cancels.resume();
    });
  }

  async #start(session: JobSession, id: string, fallback: NewJobRecord): Promise<JobRecord> {
    const startedAt = Date.now();
    const started = (record: JobRecord): JobRecord => ({
      ...record,
      status: 'running',
      attempt: record.attempt + 1,
      startedAt,
      version: record.version + 1,
    });
    for (;;) {
      const changed = await this.#records.change(session, id, started);
      if (changed !== undefined) return changed.held.record;
      const record = started({ ...fallback, attempt: 0, version: 0 });
      const kept = await this.#records.add(session, record);
      if (kept === undefined) return record;
      if (isFinal(kept.status)) return kept;
      // Another process stored the job meanwhile: start that record.
    }
  }

  async #finish(session: JobSession, id: string, end: JobEnd): Promise<boolean> {
    const endedAt = Date.now();
    const changed = await this.#records.change(session, id, (record) => ({
      ...record,
      status: end.status,
      result: end.result,
      error: end.error,
      endedAt,
      version: record.version + 1,
    }));
    if (!changed?.written) return false;
    if (end.status === 'cancelled') this.#cancels.announce(session, id);
    await this.#records.retire(session, id, changed.held);
    return true;
  }
}

/** The error of a failed operation: a SluiceError as it is, else what the NATS client's error means. */
function classified(operation: string, error: unknown): SluiceError {
  if (error instanceof SluiceError) return error;
  // The client refuses, before sending, a message over the server's max_payload.
  if ((error as Error)?.name === 'InvalidArgumentError' && /max_payload/.test((error as Error).message)) {
    const problem = "the record is larger than the NATS server's max_payload";
    return new SerializationError(`cannot ${operation}: ${problem}`, { cause: error });
  }
  return failure(operation, error);
}
