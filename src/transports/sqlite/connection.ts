import { resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { BrokerUnavailableError } from '../../errors.js';
import type { Claimer, Statements } from './claimer.js';
import { type Claim, Claims } from './claims.js';
import { Counts } from './counts.js';
import { openDatabase } from './database.js';
import { FlowClaims } from './flow-claims.js';
import { FLOW_SCHEMA } from './flow-tables.js';
import { type ClaimedRow, SCHEMA, SQL, upgrade } from './tables.js';
import type { Transaction, Write } from './writes.js';

const NOTHING: readonly ClaimedRow[] = [];

/** Whether a write failed only because another connection held the file's lock past the busy timeout. */
export function isBusy(error: unknown): boolean {
  const code = (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code);
}

interface Batch {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * One connection per database file per process, shared by every SqliteQueue on that file, so that
 * in-process consumers hear about sends directly and all writes of one tick share one transaction.
 *
 * Writes (sends, acks, nacks) and claims are queued and applied together on `setImmediate`: one
 * IMMEDIATE transaction per tick at most. A write's promise resolves after that transaction
 * committed, so "send/ack resolved" always means "on disk" (WAL, synchronous=NORMAL: survives a
 * process crash; see the README for power loss).
 */
export class Connection {
  static readonly #open = new Map<string, Connection>();

  readonly path: string;
  readonly #db: Database.Database;
  readonly #statements: Statements;
  readonly #transaction: Database.Transaction<
    (writes: readonly Write[], claimers: readonly Claimer[], now: number) => void
  >;
  readonly #listeners = new Map<string, Set<Claimer>>();
  #refs = 0;
  #writes: Write[] = [];
  #claimers = new Set<Claimer>();
  #results = new Map<Claimer, Claim>();
  #touched = new Set<string>();
  readonly #counts: Counts;
  readonly #claims: Claims;
  #batch: Batch | undefined;
  #flushing: NodeJS.Immediate | undefined;

  /** The connection to `path`, opening the file (and creating the table) on first use. */
  static acquire(path: string): Connection {
    const key = path === ':memory:' ? path : resolve(path);
    let connection = Connection.#open.get(key);
    if (connection === undefined) {
      connection = new Connection(key);
      Connection.#open.set(key, connection);
    }
    connection.#refs++;
    return connection;
  }

  private constructor(path: string) {
    this.path = path;
    const db = openDatabase(path, SCHEMA, (db) => {
      upgrade(db);
      db.exec(FLOW_SCHEMA);
    });
    this.#db = db;
    this.#statements = Object.fromEntries(
      Object.entries(SQL).map(([name, sql]) => [name, db.prepare(sql)]),
    ) as Statements;
    this.#statements.nextDue.pluck();
    this.#statements.claimable.pluck();
    this.#counts = new Counts(this.#statements.count);
    this.#claims = new Claims(this.#statements, this.#counts, new FlowClaims((sql) => db.prepare(sql)));
    this.#transaction = db.transaction((writes, claimers, now) => this.#apply(writes, claimers, now));
  }

  /** Resolves once the write is committed; rejects `BrokerUnavailableError` if the transaction failed. */
  write(write: Write): Promise<void> {
    this.#writes.push(write);
    this.#schedule();
    this.#batch ??= deferred();
    return this.#batch.promise;
  }

  /** Claims for `claimer` in the next transaction; answers through `claimed` or `claimFailed`. */
  requestClaim(claimer: Claimer): void {
    this.#claimers.add(claimer);
    this.#schedule();
  }

  cancelClaim(claimer: Claimer): void {
    this.#claimers.delete(claimer);
  }

  subscribe(claimer: Claimer): void {
    const set = this.#listeners.get(claimer.queue);
    if (set === undefined) this.#listeners.set(claimer.queue, new Set([claimer]));
    else set.add(claimer);
  }

  unsubscribe(claimer: Claimer): void {
    this.#listeners.get(claimer.queue)?.delete(claimer);
  }

  /** Epoch ms at which the next delayed or backing-off row of `queue` is due (leases are polled for). */
  nextDue(queue: string): number | undefined {
    try {
      return (this.#statements.nextDue.get(queue, queue) as number | null) ?? undefined;
    } catch {
      return undefined; // a failed read only means the next poll comes at the regular interval
    }
  }

  /**
   * Runs `step` in the next write transaction, after the writes queued before it; resolves with
   * its result once committed. The step reports its changes to the counts (see tables.ts).
   */
  async operate<R>(step: (transaction: Transaction) => R): Promise<R> {
    let result!: R;
    await this.write({ kind: 'operate', step: (transaction) => (result = step(transaction)) });
    return result;
  }

  /** Runs `read` once the writes queued before it are committed; a failure is BrokerUnavailableError. */
  async read<R>(read: () => R): Promise<R> {
    await this.#batch?.promise.catch(() => {}); // the writes' callers hear of their failure
    try {
      return read();
    } catch (cause) {
      throw new BrokerUnavailableError('SQLite', `reading ${this.path}`, { cause });
    }
  }

  /** A statement on this connection, for the operator's rarely used ones (prepared on first use). */
  prepare(sql: string): Database.Statement {
    return this.#db.prepare(sql);
  }

  /** Drops one reference; the last one commits what is pending and closes the file. */
  release(): void {
    if (--this.#refs > 0) return;
    Connection.#open.delete(this.path);
    if (this.#flushing !== undefined) {
      clearImmediate(this.#flushing);
      this.#flush();
    }
    this.#db.close();
  }

  #schedule(): void {
    this.#flushing ??= setImmediate(this.#flush);
  }

  readonly #flush = (): void => {
    this.#flushing = undefined;
    const writes = this.#writes;
    const batch = this.#batch;
    const claimers = [...this.#claimers];
    this.#writes = [];
    this.#batch = undefined;
    this.#claimers.clear();
    const now = Date.now();
    try {
      // An idle poll only reads: the write lock is taken only when there is something to do.
      const wanted = writes.length > 0 ? claimers : claimers.filter((c) => this.#claimable(c.queue, now));
      // IMMEDIATE takes the write lock up front: two processes never deadlock upgrading a read lock.
      if (writes.length > 0 || wanted.length > 0) this.#transaction.immediate(writes, wanted, now);
    } catch (cause) {
      this.#results.clear();
      this.#touched.clear();
      this.#counts.clear();
      batch?.reject(new BrokerUnavailableError('SQLite', `writing to ${this.path}`, { cause }));
      for (const claimer of claimers) claimer.claimFailed(cause);
      return;
    }
    batch?.resolve();
    for (const claimer of claimers) {
      const claim = this.#results.get(claimer);
      claimer.claimed(claim?.rows ?? NOTHING, claim?.limitedUntil);
    }
    this.#results.clear();
    for (const queue of this.#touched) {
      const listeners = this.#listeners.get(queue);
      if (listeners !== undefined) for (const listener of listeners) listener.wake();
    }
    this.#touched.clear();
  };

  #claimable(queue: string, now: number): boolean {
    return this.#statements.claimable.get({ queue, now }) === 1;
  }

  /**
   * Applies a batch and counts what each statement changed: a settlement matches its claim's row,
   * which is leased until then (a lease that ran out still counts as leased until claimed again).
   */
  #apply(writes: readonly Write[], claimers: readonly Claimer[], now: number): void {
    const s = this.#statements;
    const counts = this.#counts;
    for (const w of writes) {
      switch (w.kind) {
        case 'insert': {
          const delayed = w.runAt > now;
          const runAt = delayed ? w.runAt : 0;
          const { queue, body, priority, key, group } = w;
          const { changes } =
            group === null
              ? s.insert.run(queue, body, priority, delayed ? 0 : 1, runAt, key)
              : s.insertGrouped.run(queue, body, priority, delayed ? 0 : 1, runAt, key, group);
          if (changes > 0) counts.added(queue, delayed);
          if (group !== null) this.#claims.serveGroups(queue);
          this.#touched.add(w.queue);
          break;
        }
        case 'ack':
          if (s.ack.run(w.id, w.attempt).changes > 0) counts.add(w.queue, 0, -1, 0);
          break;
        case 'retry': {
          const delayed = w.runAt > now;
          if (s.retry.run(delayed ? 0 : 1, delayed ? w.runAt : 0, w.id, w.attempt).changes > 0) {
            counts.add(w.queue, delayed ? 0 : 1, -1, delayed ? 1 : 0);
          }
          this.#touched.add(w.queue);
          break;
        }
        case 'release':
          if (s.release.run(w.id, w.attempt).changes > 0) counts.add(w.queue, 1, -1, 0);
          this.#touched.add(w.queue);
          break;
        case 'deadLetter': {
          const { deadLetterQueue, replacement, reason, id, attempt } = w;
          if (s.deadLetter.run(deadLetterQueue, replacement, reason, now, id, attempt).changes > 0) {
            s.ack.run(id, attempt);
            counts.add(w.queue, 0, -1, 0);
            counts.added(deadLetterQueue, false);
            this.#touched.add(deadLetterQueue);
          }
          break;
        }
        case 'operate':
          w.step({ now, counts, touch: (queue) => this.#touched.add(queue) });
          break;
      }
    }
    for (const claimer of claimers) {
      const claim = this.#claims.claim(claimer, now);
      if (claim !== undefined) this.#results.set(claimer, claim);
    }
    counts.write();
  }
}

function deferred(): Batch {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // each write's caller gets the rejection; never unhandled here
  return { promise, resolve, reject };
}
