import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import { InvalidOptionError, InvalidStateError } from '../../errors.js';
import type {
  JobChange,
  JobEnd,
  JobListener,
  JobRecord,
  JobStore,
  NewJobRecord,
  Unsubscribe,
} from '../../jobs/store.js';
import { Timer } from '../../timer.js';
import { atMost } from '../shared/at-most.js';
import {
  type BrokerJobStoreOptions,
  type ResolvedJobStoreOptions,
  resolveJobStoreOptions,
} from '../shared/job-store-options.js';
import { Connection } from './connection.js';
import { JobFeed } from './job-feed.js';
import { type JobStatements, jobStatements } from './job-sql.js';
import { CREATED, JobWrites, json, UNSEEN } from './job-writes.js';
import { ensureMigrated, JOB_TABLES } from './migrate.js';
import { assertSchemaName } from './options.js';

/** The options of {@link PostgresJobStore}: `url` or `pool`, the schema, the store's name and retention. */
export interface PostgresJobStoreOptions extends BrokerJobStoreOptions {
  /** Connection string; the store opens its own pool and closes it on `close()`. Needed unless `pool` is given. */
  url?: string;
  /**
   * An existing pool (not closed by the store), of at least 2 connections: while a job is watched
   * or a cancel listener exists (a started Jobs app has one), the store holds one for LISTEN.
   */
  pool?: Pool;
  /**
   * PostgreSQL schema holding the `jobs` table, created on first use: the rules of
   * {@link PostgresQueueOptions.dbSchema}, so that a store and the queues can share one.
   * @defaultValue `'sluice'`
   */
  dbSchema?: string;
}

/**
 * The longest store name: the primary key (store, id), of up to 2 × 255 characters of at most 4
 * UTF-8 bytes, fits a B-tree entry (at most 2,704 bytes).
 */
const MAX_NAME_LENGTH = 255;

/** recentFailures' page: what an operator looks at first, and at most. */
const DEFAULT_FAILURES = 20;
const MAX_FAILURES = 1_000;

/** Expired rows are deleted in batches of this many, so that a sweep never holds many locks at once. */
const SWEEP_BATCH = 1_000;

/** How long `close()` lets the writes under way finish before dropping the store's own pool. */
const CLOSE_TIMEOUT = 5_000;

/*
 * How it works. One row per job in `<dbSchema>.jobs`, keyed by (store name, id). Every write is a
 * conditional statement (see job-sql.ts) that also announces the job's change with NOTIFY in the
 * same transaction, on the store's changes channel (and a cancel on its cancels channel), so a
 * handle waited on follows the job without polling; a process listens only while it watches a job
 * or listens for cancels (see JobFeed). Creates, reads, starts and ends asked at once go as one
 * statement each (see JobWrites): one commit and one round of notifications for them all. An ended
 * job's row expires after its retention: invisible at once, and deleted by a sweep that every
 * store handle runs now and then.
 */

/**
 * Jobs' records in a PostgreSQL table, `<dbSchema>.jobs`, seen by every process using the same
 * database, schema and store name. Each change is announced with NOTIFY in the transaction that
 * makes it, so a handle waited on follows the job without polling. An ended job's record expires
 * after its retention. docs/job-store.md gives the guarantees.
 *
 * @example
 * ```ts
 * import { Jobs } from 'sluice';
 * import { PostgresJobStore } from 'sluice/postgres';
 *
 * const url = 'postgres://postgres@127.0.0.1:5432/test';
 * const jobs = new Jobs({ store: new PostgresJobStore({ url }) });
 * ```
 */
export class PostgresJobStore implements JobStore {
  readonly #options: ResolvedJobStoreOptions;
  readonly #dbSchema: string;
  readonly #connection: Connection;
  readonly #sql: JobStatements;
  readonly #changes: string;
  readonly #cancels: string;
  readonly #writes: JobWrites;
  readonly #feed: JobFeed;
  /**
   * Expired rows are invisible already: sweeping only bounds the table, so once a minute will do,
   * or as often as the shortest retention (a second at least).
   */
  readonly #sweepEvery: number;
  #sweep: Timer | undefined;
  #migrating: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  /**
   * Checks the options and makes the store; it connects, and creates its table, on first use.
   * @throws {@link sluice!InvalidOptionError | InvalidOptionError} when an option cannot work, or
   * when neither `url` nor `pool` is given
   */
  constructor(options: PostgresJobStoreOptions = {}) {
    this.#options = resolveJobStoreOptions(options, MAX_NAME_LENGTH);
    // PostgresQueue's default and rules for dbSchema: one schema serves both.
    const { dbSchema = 'sluice' } = options;
    assertSchemaName(dbSchema);
    this.#connection = new Connection(options.url, options.pool, dbSchema);
    this.#dbSchema = dbSchema;
    this.#sql = jobStatements(dbSchema);
    const { name, retention } = this.#options;
    // A channel is an identifier of at most 63 bytes: a digest stands for the schema and the name.
    const digest = createHash('sha256').update(`${dbSchema}\n${name}`).digest('hex').slice(0, 32);
    this.#changes = `sluice_job_changes_${digest}`;
    this.#cancels = `sluice_job_cancels_${digest}`;
    this.#sweepEvery = Math.min(Math.max(Math.min(retention.success, retention.failure), 1_000), 60_000);
    const channels = { changes: this.#changes, cancels: this.#cancels };
    this.#writes = new JobWrites({
      pool: this.#connection.pool,
      sql: this.#sql,
      options: this.#options,
      channels,
      migrate: () => this.#migrate(),
    });
    this.#feed = new JobFeed(this.#connection.pool, name, channels, {
      changes: async (ids) => {
        const rows = await this.#writes.query<{ record: string }>('read watched jobs', this.#sql.get, [
          name,
          ids,
        ]);
        return rows.map((row) => this.#writes.decode(row.record));
      },
      cancelledSince: async (endedAt) => {
        const rows = await this.#writes.query<{ id: string }>('read cancels', this.#sql.cancelledSince, [
          name,
          endedAt,
        ]);
        return rows.map((row) => row.id);
      },
    });
  }

  async create(record: NewJobRecord): Promise<JobRecord | undefined> {
    this.#assertOpen('create a job');
    for (;;) {
      const outcome = await this.#writes.create(record);
      if (outcome === CREATED) return undefined;
      if (outcome !== UNSEEN) return outcome;
      // Kept by a write that committed after the statement began, which it could not read: read it now.
      const kept = await this.get(record.id);
      if (kept !== undefined) return kept;
    }
  }

  async get(id: string): Promise<JobRecord | undefined> {
    this.#assertOpen('read a job');
    return this.#writes.get(id);
  }

  async start(id: string, fallback: NewJobRecord): Promise<JobChange> {
    this.#assertOpen('start a job');
    for (;;) {
      const change = await this.#writes.start(id, fallback);
      if (change !== undefined) return change;
      // Ended by a write that committed after the statement began, which it could not read.
      const ended = await this.get(id);
      if (ended !== undefined) return ended;
    }
  }

  async retrying(id: string): Promise<void> {
    this.#assertOpen('mark a job for retry');
    await this.#writes.query('mark a job for retry', this.#sql.retrying, [
      this.#options.name,
      id,
      this.#changes,
    ]);
  }

  async progress(id: string, value: unknown): Promise<void> {
    this.#assertOpen("record a job's progress");
    const values = [this.#options.name, id, json(value), this.#changes];
    await this.#writes.query("record a job's progress", this.#sql.progress, values);
  }

  async finish(id: string, end: JobEnd): Promise<boolean> {
    this.#assertOpen('end a job');
    return this.#writes.finish(id, end);
  }

  async remove(id: string): Promise<void> {
    this.#assertOpen('remove a job');
    await this.#writes.query('remove a job', this.#sql.remove, [this.#options.name, id]);
  }

  async recentFailures(options: { limit?: number } = {}): Promise<JobRecord[]> {
    this.#assertOpen('read failed jobs');
    const limit = options?.limit ?? DEFAULT_FAILURES;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_FAILURES) {
      throw new InvalidOptionError('limit', limit, `an integer from 1 to ${MAX_FAILURES}`);
    }
    const rows = await this.#writes.query<{ record: string }>('read failed jobs', this.#sql.recentFailures, [
      this.#options.name,
      limit,
    ]);
    return rows.map((row) => this.#writes.decode(row.record));
  }

  async watch(id: string, listener: JobListener): Promise<Unsubscribe> {
    this.#assertOpen('watch a job');
    return this.#feed.watch(id, listener);
  }

  async onCancel(listener: (id: string) => void): Promise<Unsubscribe> {
    this.#assertOpen('listen for cancels');
    return this.#feed.onCancel(listener);
  }

  /**
   * Stops the sweep and the feed, lets the writes asked before finish (a server that stopped
   * answering is given up after a while), then closes the store's own pool (a pool it was given
   * stays open).
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#sweep?.cancel();
    await Promise.all([this.#feed.close(), atMost(this.#writes.idle(), CLOSE_TIMEOUT)]);
    await this.#connection.end(CLOSE_TIMEOUT);
  }

  /** The table exists (created or upgraded on first use); then the sweep starts. */
  #migrate(): Promise<void> {
    this.#migrating ??= ensureMigrated(this.#connection.pool, this.#dbSchema, JOB_TABLES).then(
      () => this.#sweepLater(),
      (error: unknown) => {
        this.#migrating = undefined;
        throw error;
      },
    );
    return this.#migrating;
  }

  #sweepLater(): void {
    if (this.#closing !== undefined) return;
    this.#sweep = new Timer(this.#sweepEvery, () => {
      void this.#sweepNow().then(() => this.#sweepLater());
    });
    this.#sweep.hold(false); // a sweep never keeps the process alive
  }

  /** Deletes the schema's expired rows, a batch at a time; a failure waits for the next round. */
  async #sweepNow(): Promise<void> {
    const { pool } = this.#connection;
    try {
      let deleted = SWEEP_BATCH;
      while (deleted === SWEEP_BATCH && this.#closing === undefined) {
        deleted = (await pool.query({ ...this.#sql.sweep, values: [SWEEP_BATCH] })).rowCount ?? 0;
      }
    } catch {
      // The server is away: the rows stay invisible until the next sweep deletes them.
    }
  }

  #assertOpen(operation: string): void {
    if (this.#closing !== undefined) {
      throw new InvalidStateError(`cannot ${operation}: job store ${this.#options.name} is closed`);
    }
  }
}
