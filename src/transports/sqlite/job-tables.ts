import type Database from 'better-sqlite3';
import { SerializationError } from '../../errors.js';
import type { JobStatus } from '../../jobs/status.js';
import type { JobChange, JobError, JobRecord } from '../../jobs/store.js';

/**
 * The job store's layout, in the same file as the queues' table: one row per job, keyed by the
 * store's name and the job's id; JSON values (args, metadata, progress, result, error) as JSON text,
 * SQL NULL for a value the record does not have.
 *
 * `version` is the store's change sequence at the row's last write. Every write takes the next
 * number of its store (`sluice_job_versions`, advanced in the write's own IMMEDIATE transaction, so
 * numbers follow commit order): it is the record's version, and "what changed since N" is one
 * indexed range read, which is how other processes hear of changes (SQLite cannot notify).
 *
 * `expires_at` is set when a job ends: from then the row is invisible to reads, a new record may
 * take its id, and a sweep deletes it. Rows of jobs that have not ended never expire.
 */
/** The statuses `recentFailures` lists; only their rows are in its index. */
const FAILED = `status IN ('failed', 'timeout', 'cancelled')`;

export const JOB_SCHEMA = `
CREATE TABLE IF NOT EXISTS sluice_jobs (
  store TEXT NOT NULL,
  id TEXT NOT NULL,
  task TEXT NOT NULL,
  args TEXT NOT NULL,
  metadata TEXT,
  status TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  progress TEXT,
  result TEXT,
  error TEXT,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  ended_at INTEGER,
  expires_at INTEGER,
  version INTEGER NOT NULL,
  PRIMARY KEY (store, id)
);
CREATE INDEX IF NOT EXISTS sluice_jobs_version ON sluice_jobs (store, version);
CREATE INDEX IF NOT EXISTS sluice_jobs_cancelled ON sluice_jobs (store, version) WHERE status = 'cancelled';
CREATE INDEX IF NOT EXISTS sluice_jobs_expiry ON sluice_jobs (store, expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS sluice_jobs_failures ON sluice_jobs (store, ended_at, version) WHERE ${FAILED};
CREATE TABLE IF NOT EXISTS sluice_job_versions (
  store TEXT PRIMARY KEY,
  version INTEGER NOT NULL
) WITHOUT ROWID;
`;

/** Every write is conditional on this: an ended job's row only changes by expiring. */
const NOT_ENDED = `status IN ('pending', 'scheduled', 'running')`;

/**
 * What a write returns of its row: enough to announce the change. The changing columns are read
 * only for a job watched in this process (copying every column out costs a write a third of its time).
 */
const CHANGE = 'RETURNING id, status, version';

export const JOB_SQL = {
  /** Stores a record unless an unexpired one holds its id (then returns nothing); replaces an expired one. */
  put: `INSERT INTO sluice_jobs (store, id, task, args, metadata, status, attempt, created_at, started_at, version)
    VALUES (@store, @id, @task, @args, @metadata, @status, @attempt, @createdAt, @startedAt, @version)
    ON CONFLICT (store, id) DO UPDATE SET task = excluded.task, args = excluded.args,
      metadata = excluded.metadata, status = excluded.status, attempt = excluded.attempt, progress = NULL,
      result = NULL, error = NULL, created_at = excluded.created_at, started_at = excluded.started_at,
      ended_at = NULL, expires_at = NULL, version = excluded.version
    WHERE sluice_jobs.expires_at <= @now
    ${CHANGE}`,
  /** Returns the whole row: a worker runs the job as the store has it. */
  start: `UPDATE sluice_jobs SET status = 'running', attempt = attempt + 1, started_at = ?, version = ?
    WHERE store = ? AND id = ? AND ${NOT_ENDED} RETURNING *`,
  retrying: `UPDATE sluice_jobs SET status = 'scheduled', version = ?
    WHERE store = ? AND id = ? AND ${NOT_ENDED} ${CHANGE}`,
  progress: `UPDATE sluice_jobs SET progress = ?, version = ? WHERE store = ? AND id = ? AND ${NOT_ENDED} ${CHANGE}`,
  finish: `UPDATE sluice_jobs SET status = ?, result = ?, error = ?, ended_at = ?, expires_at = ?, version = ?
    WHERE store = ? AND id = ? AND ${NOT_ENDED} ${CHANGE}`,
  remove: 'DELETE FROM sluice_jobs WHERE store = ? AND id = ?',
  get: 'SELECT * FROM sluice_jobs WHERE store = ? AND id = ? AND (expires_at IS NULL OR expires_at > ?)',
  /** What a watcher is told of a job: its changing columns, as they are now (expired or not). */
  state: `SELECT id, status, attempt, progress, result, error, started_at, ended_at, version
    FROM sluice_jobs WHERE store = ? AND id = ?`,
  /** Deletes at most `limit` expired rows: a sweep after a burst does not hold the write lock for long. */
  sweep: `DELETE FROM sluice_jobs WHERE rowid IN
    (SELECT rowid FROM sluice_jobs WHERE store = ? AND expires_at <= ? LIMIT ?)`,
  /** The store's newest version (0 for a store never written). */
  version: 'SELECT coalesce((SELECT version FROM sluice_job_versions WHERE store = ?), 0)',
  setVersion: `INSERT INTO sluice_job_versions (store, version) VALUES (?, ?)
    ON CONFLICT (store) DO UPDATE SET version = excluded.version`,
  /** The kept records of failed jobs, most recently ended first (the expiry index would sort them all). */
  failures: `SELECT * FROM sluice_jobs INDEXED BY sluice_jobs_failures WHERE store = ? AND ${FAILED} AND expires_at > ?
    ORDER BY ended_at DESC, version DESC LIMIT ?`,
  /** Rows written after version `from`, up to `to`, oldest first. */
  changes: `SELECT id, status, version FROM sluice_jobs WHERE store = ? AND version > ? AND version <= ?
    ORDER BY version`,
  /** The same, of cancelled jobs only: all a process with cancel listeners and no watched job reads. */
  cancels: `SELECT id, status, version FROM sluice_jobs WHERE store = ? AND status = 'cancelled'
    AND version > ? AND version <= ? ORDER BY version`,
} as const;

/** What `state` reads: the columns that change as a job runs. */
export interface StateRow {
  readonly id: string;
  readonly status: JobStatus;
  readonly attempt: number;
  readonly progress: string | null;
  readonly result: string | null;
  readonly error: string | null;
  readonly started_at: number | null;
  readonly ended_at: number | null;
  readonly version: number;
}

export interface JobRow extends StateRow {
  readonly store: string;
  readonly task: string;
  readonly args: string;
  readonly metadata: string | null;
  readonly created_at: number;
  readonly expires_at: number | null;
}

/** What a write returns of its row, and what `changes` and `cancels` read. */
export interface ChangeRow {
  readonly id: string;
  readonly status: JobStatus;
  readonly version: number;
}

/** A value as its column keeps it (`undefined` is NULL); SerializationError for what JSON cannot encode. */
export function toColumn(value: unknown, what: string): string | null {
  try {
    return JSON.stringify(value) ?? null;
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new SerializationError(`cannot store the ${what} of a job: ${why}`, { cause });
  }
}

/** The change a row's state is; throws (a SyntaxError) on a column that is not JSON. */
export function changeOf(row: StateRow): JobChange {
  const change: { -readonly [K in keyof JobChange]: JobChange[K] } = {
    id: row.id,
    status: row.status,
    attempt: row.attempt,
    version: row.version,
  };
  if (row.progress !== null) change.progress = JSON.parse(row.progress);
  if (row.result !== null) change.result = JSON.parse(row.result);
  if (row.error !== null) change.error = JSON.parse(row.error) as JobError;
  if (row.started_at !== null) change.startedAt = row.started_at;
  if (row.ended_at !== null) change.endedAt = row.ended_at;
  return change;
}

/** The record a row holds; throws (a SyntaxError) on a column that is not JSON. */
export function recordOf(row: JobRow): JobRecord {
  const record: { -readonly [K in keyof JobRecord]: JobRecord[K] } = {
    ...changeOf(row),
    task: row.task,
    args: JSON.parse(row.args) as unknown[],
    createdAt: row.created_at,
  };
  if (row.metadata !== null) record.metadata = JSON.parse(row.metadata) as Record<string, unknown>;
  return record;
}

/** The prepared statements of JOB_SQL, by name. */
export type JobStatements = { [K in keyof typeof JOB_SQL]: Database.Statement };
