import type { JobStatus } from './status.js';

/** A job's error as stored: enough to tell what went wrong in another process. */
export interface JobError {
  /** The error's `name` (for example `TypeError`). */
  readonly name: string;
  /** The error's `message`. */
  readonly message: string;
  /** The error's `code`, when it had a string one (every SluiceError has). */
  readonly code?: string;
}

/** What a job store keeps of one job. Times are milliseconds since the epoch. */
export interface JobRecord {
  /** The job's id: the one given at push time, or a generated one. */
  readonly id: string;
  /** The name of the job's task. */
  readonly task: string;
  /** The arguments the job was pushed with, as JSON carried them. */
  readonly args: readonly unknown[];
  /** Where the job is in its life. */
  readonly status: JobStatus;
  /** Executions started so far: 0 while the job waits for its first, 2 once a redelivery or retry began. */
  readonly attempt: number;
  /** The task's last progress report, if it made one. */
  readonly progress?: unknown;
  /** What the task returned, once the job ended `success`. */
  readonly result?: unknown;
  /** Why the job failed, timed out or was cancelled, once it did. */
  readonly error?: JobError;
  /** The metadata the job was pushed with. */
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** When the job was pushed. */
  readonly createdAt: number;
  /** When its latest execution started. */
  readonly startedAt?: number;
  /** When it reached a final status. */
  readonly endedAt?: number;
  /** Grows with every write of the record: tells a late read from a newer notification. */
  readonly version: number;
}

/** How a job ends, as `finish` writes it. */
export interface JobEnd {
  /** The final status. */
  readonly status: 'success' | 'failed' | 'timeout' | 'cancelled';
  /** What the task returned, for `success`. */
  readonly result?: unknown;
  /** Why it ended, for the other statuses. */
  readonly error?: JobError;
}

/** A record as `create` is given it: nothing has happened to the job yet. */
export type NewJobRecord = Pick<JobRecord, 'id' | 'task' | 'args' | 'createdAt' | 'metadata'> & {
  /** `scheduled` when the job was pushed with a delay, else `pending`. */
  readonly status: 'pending' | 'scheduled';
};

/**
 * What a change notification must carry: a record's fields that change as the job runs (a whole
 * record will do). A store may announce only these, which keeps announcements small whatever the
 * job's arguments.
 */
export type JobChange = Pick<
  JobRecord,
  'id' | 'status' | 'attempt' | 'progress' | 'result' | 'error' | 'startedAt' | 'endedAt' | 'version'
>;

/** Called after each change of a watched job; the store calls it from its notification feed. */
export type JobListener = (change: JobChange) => void;

/** Stops a subscription. */
export type Unsubscribe = () => void;

/** How long the records of ended jobs are kept, in milliseconds. */
export interface Retention {
  /**
   * Records of jobs that ended `success`.
   *
   * @defaultValue `86_400_000` (24 hours)
   */
  success?: number;
  /**
   * Records of jobs that ended `failed`, `timeout` or `cancelled`.
   *
   * @defaultValue `604_800_000` (7 days)
   */
  failure?: number;
}

/**
 * Where a job's state lives so that every process sharing the store sees it: its status, attempts,
 * progress, and result or error. A `Jobs` app writes it as jobs are pushed, started and ended, and
 * handles read it and follow its notifications. Every write is conditional on the job not having
 * ended: an ended job's record only changes by expiring.
 *
 * Implementations: MemoryJobStore (one process), RedisJobStore, PostgresJobStore, SqliteJobStore,
 * NatsJobStore. Each passes `test/conformance/job-store.ts`.
 */
export interface JobStore {
  /**
   * Stores `record` unless a record with its id is kept: resolves `undefined` when it stored it,
   * else the kept record (and stores nothing: the push is idempotent).
   */
  create(record: NewJobRecord): Promise<JobRecord | undefined>;
  /** The kept record of job `id`, or `undefined` when there is none (never pushed, or expired). */
  get(id: string): Promise<JobRecord | undefined>;
  /**
   * An execution begins: unless the job has ended, its status becomes `running`, its attempt grows
   * by one and `startedAt` is now. Resolves the job's changing fields as they are afterwards (a
   * whole record will do): a worker runs the job only when its status is `running`. A job the store
   * does not know (pushed without this store, or expired) is stored from `fallback` and started.
   */
  start(id: string, fallback: NewJobRecord): Promise<JobChange>;
  /** The job waits for a retry: status `scheduled`, unless it has ended. */
  retrying(id: string): Promise<void>;
  /** Records a task's progress report, unless the job has ended. */
  progress(id: string, value: unknown): Promise<void>;
  /**
   * Ends the job unless it has ended already (resolves `false` then); from now on its record
   * expires after the retention of its outcome. Ending it `cancelled` is also announced to every
   * `onCancel` listener, wherever it is.
   */
  finish(id: string, end: JobEnd): Promise<boolean>;
  /** Forgets a record: a push whose job the queue refused. */
  remove(id: string): Promise<void>;
  /**
   * The kept records of jobs that ended `failed`, `timeout` or `cancelled`, most recently ended
   * first, at most `limit` (default 20, at most 1,000): what an operator looks at first.
   */
  recentFailures(options?: { limit?: number }): Promise<JobRecord[]>;
  /**
   * Calls `listener` with the job's changing fields after each change of job `id`, from the moment the returned
   * promise resolves until the unsubscribe it resolves with is called. A store that can notify
   * (Redis, PostgreSQL, NATS) does; one that cannot polls while something is watched.
   */
  watch(id: string, listener: JobListener): Promise<Unsubscribe>;
  /** Calls `listener` with the id of every job cancelled from now on, by any process. */
  onCancel(listener: (id: string) => void): Promise<Unsubscribe>;
  /**
   * Releases what the store holds open (connections, timers, subscriptions). A `Jobs` app closes its
   * store when it stops.
   */
  close(): Promise<void>;
}
