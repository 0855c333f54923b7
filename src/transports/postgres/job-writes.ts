import { DatabaseError, type Pool } from 'pg';
import { InvalidStateError } from '../../errors.js';
import { retentionOf } from '../../jobs/retention.js';
import type { JobChange, JobEnd, JobRecord, NewJobRecord } from '../../jobs/store.js';
import { decodeJobRecord } from '../shared/job-record.js';
import type { ResolvedJobStoreOptions } from '../shared/job-store-options.js';
import { Batcher } from './batcher.js';
import { failure, isRowError } from './errors.js';
import { rounds } from './job-batches.js';
import { changeOf, type JobStatements, type Statement } from './job-sql.js';

/** Jobs written (or read) in one statement at most: a batch's arrays stay small, its locks few. */
const BATCH_SIZE = 500;

/** Statements of one kind under way at once; what is asked meanwhile waits and leaves as the next batch. */
const BATCHES_IN_FLIGHT = 4;

/** Times a statement PostgreSQL chose as a deadlock's victim is run again. */
const DEADLOCK_RETRIES = 3;

/** `create`'s answer for a job it wrote, and for one kept by a write that committed after the statement began. */
export const CREATED = Symbol('created');
export const UNSEEN = Symbol('unseen');

interface Creating {
  readonly id: string;
  readonly record: NewJobRecord;
  outcome?: JobRecord | typeof CREATED | typeof UNSEEN;
}

interface Reading {
  readonly id: string;
  record?: JobRecord;
}

interface Starting {
  readonly id: string;
  readonly fallback: NewJobRecord;
  readonly startedAt: number;
  change?: JobChange;
}

interface Finishing {
  readonly id: string;
  readonly end: JobEnd;
  readonly endedAt: number;
  ended?: boolean;
}

/** What JobWrites runs its statements with, as PostgresJobStore set it up. */
export interface JobWritesContext {
  readonly pool: Pool;
  readonly sql: JobStatements;
  readonly options: ResolvedJobStoreOptions;
  readonly channels: { readonly changes: string; readonly cancels: string };
  /** Resolves once the table exists; called until it has resolved once. */
  readonly migrate: () => Promise<void>;
}

/**
 * A PostgresJobStore's statements on its rows. Creates, reads, starts and ends asked at once go as
 * one statement each (a Batcher's): one commit and one round of notifications for them all. Each
 * answers for a single job what its statement did with it; a write that committed after the
 * statement began is invisible to it, and the store reads the job again.
 */
export class JobWrites {
  readonly #pool: Pool;
  readonly #sql: JobStatements;
  readonly #options: ResolvedJobStoreOptions;
  readonly #changes: string;
  readonly #cancels: string;
  readonly #migrate: () => Promise<void>;
  readonly #creates: Batcher<Creating>;
  readonly #reads: Batcher<Reading>;
  readonly #starts: Batcher<Starting>;
  readonly #finishes: Batcher<Finishing>;
  #migrated = false;

  constructor({ pool, sql, options, channels, migrate }: JobWritesContext) {
    this.#pool = pool;
    this.#sql = sql;
    this.#options = options;
    this.#changes = channels.changes;
    this.#cancels = channels.cancels;
    this.#migrate = migrate;
    const batcher = <I>(write: (items: I[]) => Promise<void>) =>
      new Batcher(write, BATCH_SIZE, BATCHES_IN_FLIGHT, isRowError);
    this.#creates = batcher((items) => this.#create(items));
    this.#reads = batcher((items) => this.#read(items));
    this.#starts = batcher((items) => this.#start(items));
    this.#finishes = batcher((items) => this.#finish(items));
  }

  /** CREATED, or the record the job keeps, or UNSEEN when the write that keeps it could not be read. */
  async create(record: NewJobRecord): Promise<JobRecord | typeof CREATED | typeof UNSEEN> {
    const creating: Creating = { id: record.id, record };
    await this.#creates.add(creating);
    return creating.outcome!;
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const reading: Reading = { id };
    await this.#reads.add(reading);
    return reading.record;
  }

  /** The change the start made, or undefined when a write it could not read ended the job. */
  async start(id: string, fallback: NewJobRecord): Promise<JobChange | undefined> {
    const starting: Starting = { id, fallback, startedAt: Date.now() };
    await this.#starts.add(starting);
    return starting.change;
  }

  /** Whether this call ended the job (false: it had ended already). */
  async finish(id: string, end: JobEnd): Promise<boolean> {
    const finishing: Finishing = { id, end, endedAt: Date.now() };
    await this.#finishes.add(finishing);
    return finishing.ended === true;
  }

  /** Resolves once every batch asked so far is written. */
  async idle(): Promise<void> {
    await Promise.all([this.#creates, this.#reads, this.#starts, this.#finishes].map((b) => b.idle()));
  }

  /** Runs a statement once the table exists; an error is a SluiceError (see `failure`). */
  async query<R>(operation: string, { name, text }: Statement, values: unknown[]): Promise<R[]> {
    if (!this.#migrated) {
      await this.#migrate();
      this.#migrated = true;
    }
    for (let retries = 0; ; retries++) {
      try {
        return (await this.#pool.query({ name, text, values })).rows as R[];
      } catch (error) {
        // Chosen as a deadlock's victim (its locks undone): running it again takes them in turn.
        const deadlock = error instanceof DatabaseError && error.code === '40P01';
        if (!deadlock || retries === DEADLOCK_RETRIES) {
          throw failure(`${operation} in job store ${this.#options.name}`, error);
        }
      }
    }
  }

  decode(text: string): JobRecord {
    const record = decodeJobRecord(text);
    if (record === undefined) {
      throw new InvalidStateError(
        `job store ${this.#options.name} keeps a row that is not a job record: ${text}`,
      );
    }
    return record;
  }

  async #create(items: Creating[]): Promise<void> {
    for (const round of rounds(items)) {
      const rows = await this.query<{ id: string; created: boolean; kept: string | null }>(
        'create jobs',
        this.#sql.create,
        [
          this.#options.name,
          round.map(({ id }) => id),
          round.map(({ record }) => record.task),
          round.map(({ record }) => JSON.stringify(record.args)),
          round.map(({ record }) => json(record.metadata)),
          round.map(({ record }) => record.status),
          round.map(({ record }) => record.createdAt),
        ],
      );
      const byId = new Map(rows.map((row) => [row.id, row]));
      for (const creating of round) {
        const row = byId.get(creating.id)!;
        creating.outcome = row.created ? CREATED : row.kept === null ? UNSEEN : this.decode(row.kept);
      }
    }
  }

  async #read(items: Reading[]): Promise<void> {
    const ids = [...new Set(items.map(({ id }) => id))];
    const rows = await this.query<{ id: string; record: string }>('read jobs', this.#sql.get, [
      this.#options.name,
      ids,
    ]);
    const byId = new Map(rows.map((row) => [row.id, row.record]));
    for (const reading of items) {
      const record = byId.get(reading.id);
      if (record !== undefined) reading.record = this.decode(record);
    }
  }

  async #start(items: Starting[]): Promise<void> {
    for (const round of rounds(items)) {
      const rows = await this.query<{ id: string; change: string }>('start jobs', this.#sql.start, [
        this.#options.name,
        round.map(({ id }) => id),
        round.map(({ fallback }) => fallback.task),
        round.map(({ fallback }) => JSON.stringify(fallback.args)),
        round.map(({ fallback }) => json(fallback.metadata)),
        round.map(({ fallback }) => fallback.createdAt),
        round.map(({ startedAt }) => startedAt),
        this.#changes,
      ]);
      const byId = new Map(rows.map((row) => [row.id, row.change]));
      for (const starting of round) {
        const change = byId.get(starting.id);
        if (change !== undefined) starting.change = changeOf(starting.id, change);
      }
    }
  }

  async #finish(items: Finishing[]): Promise<void> {
    const { name, retention } = this.#options;
    for (const round of rounds(items)) {
      const rows = await this.query<{ id: string }>('end jobs', this.#sql.finish, [
        name,
        round.map(({ id }) => id),
        round.map(({ end }) => end.status),
        round.map(({ end }) => json(end.result)),
        round.map(({ end }) => json(end.error)),
        round.map(({ endedAt }) => endedAt),
        round.map(({ end }) => retentionOf(retention, end.status)),
        this.#changes,
        this.#cancels,
      ]);
      const ended = new Set(rows.map((row) => row.id));
      for (const finishing of round) finishing.ended = ended.has(finishing.id);
    }
  }
}

/** A JSON column's text; SQL NULL for a field the record leaves out. */
export function json(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}
