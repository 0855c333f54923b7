import { resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { BrokerUnavailableError } from '../../errors.js';
import { openDatabase } from './database.js';
import { JobFeed } from './job-feed.js';
import { type ChangeRow, JOB_SCHEMA, JOB_SQL, type JobStatements, type StateRow } from './job-tables.js';

/**
 * What one write does inside its batch's transaction. `version` is the next number of its store's
 * sequence: a step that writes a row gives it that version and returns what it wrote as `changed`
 * (the sequence then advances); one that writes nothing leaves the sequence alone.
 */
export type WriteStep<R> = (
  statements: JobStatements,
  version: number,
  now: number,
) => { readonly result: R; readonly changed?: ChangeRow };

interface Write {
  readonly store: string;
  readonly step: WriteStep<unknown>;
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: unknown) => void;
  result?: unknown;
  changed?: ChangeRow;
  /** The job's state as written, read for a job watched in this process. */
  state?: StateRow;
}

/**
 * One connection per database file per process for its job stores (the queues keep their own), so
 * that the store handles of a process share one feed per store name and hear of each other's writes
 * at once.
 *
 * Writes are queued and applied together on `setImmediate`: one IMMEDIATE transaction per tick, in
 * which each write is one conditional statement and each store's version sequence is read once and
 * written once. A write's promise resolves after that transaction committed; a transaction that
 * fails (the file locked by another process past the busy timeout, say) rejects every write of it
 * with BrokerUnavailableError. Reads are synchronous, outside the batch.
 */
export class JobConnection {
  static readonly #open = new Map<string, JobConnection>();

  readonly path: string;
  readonly #db: Database.Database;
  readonly #statements: JobStatements;
  readonly #transaction: Database.Transaction<(writes: readonly Write[], now: number) => void>;
  readonly #feeds = new Map<string, JobFeed>();
  #refs = 0;
  #writes: Write[] = [];
  #flushing: NodeJS.Immediate | undefined;

  /** The connection to `path`, opening the file (and creating the tables) on first use. */
  static acquire(path: string): JobConnection {
    const key = path === ':memory:' ? path : resolve(path);
    let connection = JobConnection.#open.get(key);
    if (connection === undefined) {
      connection = new JobConnection(key);
      JobConnection.#open.set(key, connection);
    }
    connection.#refs++;
    return connection;
  }

  private constructor(path: string) {
    this.path = path;
    const db = openDatabase(path, JOB_SCHEMA);
    this.#db = db;
    this.#statements = Object.fromEntries(
      Object.entries(JOB_SQL).map(([name, sql]) => [name, db.prepare(sql)]),
    ) as JobStatements;
    this.#statements.version.pluck();
    this.#transaction = db.transaction((writes, now) => this.#apply(writes, now));
  }

  /** Runs `step` in the next batch; resolves its result once committed. */
  write<R>(store: string, step: WriteStep<R>): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#writes.push({ store, step, resolve: resolve as (result: unknown) => void, reject });
      this.#flushing ??= setImmediate(this.#flush);
    });
  }

  /** A synchronous read; a failure is BrokerUnavailableError. */
  read<R>(read: (statements: JobStatements) => R): R {
    try {
      return read(this.#statements);
    } catch (cause) {
      throw new BrokerUnavailableError('SQLite', `reading job records from ${this.path}`, { cause });
    }
  }

  /** The feed of store `store` in this process. */
  feed(store: string): JobFeed {
    let feed = this.#feeds.get(store);
    if (feed === undefined) {
      feed = new JobFeed(this, store);
      this.#feeds.set(store, feed);
    }
    return feed;
  }

  /** Drops one reference; the last one commits what is pending and closes the file. */
  release(): void {
    if (--this.#refs > 0) return;
    JobConnection.#open.delete(this.path);
    if (this.#flushing !== undefined) {
      clearImmediate(this.#flushing);
      this.#flush();
    }
    this.#db.close();
  }

  readonly #flush = (): void => {
    this.#flushing = undefined;
    const writes = this.#writes;
    this.#writes = [];
    try {
      // IMMEDIATE takes the write lock up front: two processes never deadlock upgrading a read lock.
      this.#transaction.immediate(writes, Date.now());
    } catch (cause) {
      const error = new BrokerUnavailableError('SQLite', `writing job records to ${this.path}`, { cause });
      for (const write of writes) write.reject(error);
      return;
    }
    for (const write of writes) write.resolve(write.result);
    // The callers' continuations run after this: a watcher here hears of a write before its writer goes on.
    for (const write of writes) {
      if (write.changed !== undefined) this.#feeds.get(write.store)?.wrote(write.changed, write.state);
    }
  };

  #apply(writes: readonly Write[], now: number): void {
    const s = this.#statements;
    const versions = new Map<string, { read: number; last: number }>();
    for (const write of writes) {
      let version = versions.get(write.store);
      if (version === undefined) {
        const read = s.version.get(write.store) as number;
        version = { read, last: read };
        versions.set(write.store, version);
      }
      const { result, changed } = write.step(s, version.last + 1, now);
      write.result = result;
      if (changed === undefined) continue;
      version.last++;
      write.changed = changed;
      if (this.#feeds.get(write.store)?.wants(changed.id)) {
        write.state = s.state.get(write.store, changed.id) as StateRow;
      }
    }
    for (const [store, { read, last }] of versions) if (last !== read) s.setVersion.run(store, last);
  }
}
