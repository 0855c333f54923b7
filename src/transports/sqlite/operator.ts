import type { DeadLetter, DeadLettersOptions, QueueStats, RedriveOptions } from '../../queuing/operations.js';
import {
  assertIds,
  resolveDeadLettersOptions,
  resolveRedriveOptions,
} from '../../queuing/operations-options.js';
import { decodeEnvelope } from '../shared/envelope.js';
import type { Connection } from './connection.js';
import { type LetterRow, type OperatorStatements, prepareOperator, type StatsRow } from './operator-sql.js';
import type { ResolvedOptions } from './options.js';
import type { Transaction } from './writes.js';

/**
 * Rows one transaction moves or deletes at most: each batch commits on its own (a crash keeps what
 * moved), and other processes' writes wait for one batch, not for the whole redrive or purge.
 */
const BATCH = 1_000;

/** A removed row's state, as `remove` returns it. */
interface RemovedRow {
  readonly ready: number;
  readonly run_at: number;
}

/**
 * A SqliteQueue's operator face (see OperableQueue) on its rows and its row of `sluice_queues`
 * (counts and pause, see tables.ts). Writes go through the connection's batches, after the writes
 * queued before them; reads wait for those too.
 */
export class SqliteOperator<T> {
  #statements: OperatorStatements | undefined;
  /** The names and row ids of the last page read: the next page's `after` is found without a scan. */
  #lastPage = new Map<string, number>();

  constructor(
    private readonly queue: string,
    private readonly connection: Connection,
    private readonly options: ResolvedOptions<T>,
  ) {}

  /** `ready` counts rows that are due, `inFlight` claimed ones not settled (a lease that ran out too). */
  async stats(): Promise<QueueStats> {
    const { queue } = this;
    const dead = this.options.deadLetter;
    const row = await this.#read((s) => s.stats.get({ queue, dead, now: Date.now() }) as StatsRow);
    const due = row.due;
    return {
      ready: (row.waiting ?? 0) + due,
      delayed: Math.max((row.delayed ?? 0) - due, 0),
      inFlight: row.leased ?? 0,
      dead: row.dead ?? 0,
      paused: row.paused === 1,
    };
  }

  async deadLetters(options?: DeadLettersOptions): Promise<DeadLetter<T>[]> {
    const { limit, after } = resolveDeadLettersOptions(options);
    const dead = this.options.deadLetter;
    return this.#read((s) => {
      let from = 0;
      if (after !== undefined) {
        const last = this.#lastPage.get(after) ?? this.#named(s, [after]).at(-1);
        if (last === undefined) return [];
        from = last;
      }
      const ids = s.oldest.all(dead, from, limit) as number[];
      const rows = ids.length === 0 ? [] : (s.letters.all(JSON.stringify(ids)) as LetterRow[]);
      const letters = rows.map(letterOf<T>);
      this.#lastPage = new Map(letters.map((letter, i) => [letter.id, rows[i]!.id]));
      return letters;
    });
  }

  async redrive(options?: RedriveOptions): Promise<number> {
    const { limit, ids } = resolveRedriveOptions(options);
    const dead = this.options.deadLetter;
    const named =
      ids === undefined ? undefined : (await this.#read((s) => this.#named(s, ids))).slice(0, limit);
    let moved = 0;
    for (let offset = 0; offset < limit; offset += BATCH) {
      const batch = Math.min(limit - offset, BATCH);
      const [taken, count] = await this.#write((s, transaction) => {
        const rows = named?.slice(offset, offset + batch) ?? (s.oldest.all(dead, 0, batch) as number[]);
        return [rows.length, this.#requeue(s, transaction, rows)];
      });
      moved += count;
      if (taken < batch) break;
    }
    return moved;
  }

  async discardDeadLetters(ids: readonly string[]): Promise<number> {
    assertIds(ids);
    if (ids.length === 0) return 0;
    const dead = this.options.deadLetter;
    const rows = await this.#read((s) => this.#named(s, ids));
    return this.#write((s, transaction) => {
      let count = 0;
      for (const id of rows) {
        const removed = s.remove.get(id, dead) as RemovedRow | undefined;
        if (removed === undefined) continue; // redriven or discarded meanwhile
        uncount(transaction, dead, removed);
        count++;
      }
      return count;
    });
  }

  /** Deletes waiting and delayed rows batch by batch; rows claimed are left to their consumers. */
  async purge(): Promise<number> {
    const { queue } = this;
    let purged = 0;
    for (;;) {
      const [waiting, delayed] = await this.#write((s, transaction) => {
        const waiting = s.purgeWaiting.run(queue, BATCH).changes;
        const delayed = s.purgeDelayed.run(queue, BATCH).changes;
        transaction.counts.add(queue, -waiting, 0, -delayed);
        return [waiting, delayed];
      });
      purged += waiting + delayed;
      if (waiting < BATCH && delayed < BATCH) return purged;
    }
  }

  async pause(): Promise<void> {
    await this.#write((s) => s.pause.run(this.queue));
  }

  /** Consumers of this process claim at once; those of others within their poll interval. */
  async resume(): Promise<void> {
    await this.#write((s, transaction) => {
      s.resume.run(this.queue);
      transaction.touch(this.queue);
    });
  }

  /** Gives the queue its row of `sluice_queues`, so that it is listed before anything was sent. */
  async declare(): Promise<void> {
    await this.#write((s) => s.declare.run(this.queue));
  }

  /** Moves dead letters back to the queue within the caller's transaction; returns how many moved. */
  #requeue(s: OperatorStatements, transaction: Transaction, rows: readonly number[]): number {
    const { queue: name, options } = this;
    const { deadLetter } = options;
    let count = 0;
    for (const id of rows) {
      const copy = s.requeue.get(name, id, deadLetter) as { group_name: string | null } | undefined;
      if (copy === undefined) continue; // redriven or discarded meanwhile
      if (copy.group_name !== null && copy.group_name !== '') s.serveGroups.run(name);
      uncount(transaction, deadLetter, s.remove.get(id, deadLetter) as RemovedRow);
      count++;
    }
    transaction.counts.add(name, count, 0, 0);
    if (count > 0) transaction.touch(name);
    return count;
  }

  /** The row ids of the dead letters named `names`, oldest first. */
  #named(s: OperatorStatements, names: readonly string[]): number[] {
    const queue = this.options.deadLetter;
    const candidates = s.named.all({ queue, names: JSON.stringify(names) }) as LetterRow[];
    const wanted = new Set(names);
    return candidates.filter((row) => wanted.has(nameOf(row.body, row.id))).map((row) => row.id);
  }

  #read<R>(read: (statements: OperatorStatements) => R): Promise<R> {
    return this.connection.read(() => read(this.#prepared()));
  }

  #write<R>(step: (statements: OperatorStatements, transaction: Transaction) => R): Promise<R> {
    return this.connection.operate((transaction) => step(this.#prepared(), transaction));
  }

  #prepared(): OperatorStatements {
    this.#statements ??= prepareOperator(this.connection);
    return this.#statements;
  }
}

/** Takes a removed row of `queue` out of its counts. */
function uncount(transaction: Transaction, queue: string, { ready, run_at }: RemovedRow): void {
  if (ready === 0) transaction.counts.add(queue, 0, 0, -1);
  else if (run_at > 0) transaction.counts.add(queue, 0, -1, 0);
  else transaction.counts.add(queue, -1, 0, 0);
}

function letterOf<T>(row: LetterRow): DeadLetter<T> {
  const reason = row.reason ?? '';
  let message: T;
  let id = String(row.id);
  try {
    const envelope = decodeEnvelope(row.body);
    message = envelope.payload as T;
    id = envelope.id ?? id;
  } catch {
    message = row.body as T; // a foreign body that is no envelope: shown as the text it is
  }
  const attempt = row.dead_attempt ?? attemptOf(reason);
  return { id, message, reason, attempt, deadAt: row.dead_at ?? 0 };
}

/** A message's name: its envelope's id, else its row id (see docs/wire-protocol.md, SQLite). */
function nameOf(body: string, rowId: number): string {
  try {
    return decodeEnvelope(body).id ?? String(rowId);
  } catch {
    return String(rowId);
  }
}

/**
 * For a row dead-lettered before `dead_attempt` was recorded: the attempt its reason names, else 1
 * (`rejected` and the reasons given at admission end a first attempt, as far as one can tell).
 */
function attemptOf(reason: string): number {
  const named = /^failed (\d+) of|^backoff failed on attempt (\d+)/.exec(reason);
  return Number(named?.[1] ?? named?.[2] ?? 1);
}
