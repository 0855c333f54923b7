import type { DeadLetter, DeadLettersOptions, QueueStats, RedriveOptions } from '../../queuing/operations.js';
import {
  assertIds,
  resolveDeadLettersOptions,
  resolveRedriveOptions,
} from '../../queuing/operations-options.js';
import { decodeEnvelope } from '../shared/envelope.js';
import type { Connection } from './connection.js';
import { failure } from './errors.js';
import { type OperatorStatements, operatorStatements } from './operator-sql.js';
import type { ResolvedOptions } from './options.js';

/** Dead letters moved by one statement: each batch commits on its own, so a crash keeps what moved. */
const REDRIVE_BATCH = 1_000;

interface LetterRow {
  readonly id: string;
  readonly body: string;
  readonly reason: string | null;
  readonly priority: number;
  readonly run_at: string;
  readonly attempt: number;
  readonly dead_at: number;
}

interface NamedRow {
  readonly id: string;
  readonly body: string;
  readonly priority: number;
  readonly run_at: string;
}

/** A queue's operator face (see OperableQueue) on its rows, the `counts` and the `paused` tables. */
export class PostgresOperator<T> {
  readonly #options: ResolvedOptions<T>;
  readonly #connection: Connection;
  readonly #sql: OperatorStatements;

  constructor(options: ResolvedOptions<T>, connection: Connection) {
    this.#options = options;
    this.#connection = connection;
    this.#sql = operatorStatements(options.dbSchema);
  }

  async stats(): Promise<QueueStats> {
    const [row] = await this.#query<{
      total: number;
      dead: number;
      delayed: number;
      in_flight: number;
      paused: boolean;
    }>('stats', this.#sql.stats, [this.#options.name, this.#options.deadLetter]);
    const { total, dead, delayed, in_flight: inFlight, paused } = row!;
    return { ready: Math.max(total - delayed - inFlight, 0), delayed, inFlight, dead, paused };
  }

  async deadLetters(options?: DeadLettersOptions): Promise<DeadLetter<T>[]> {
    const { limit, after } = resolveDeadLettersOptions(options);
    const dead = this.#options.deadLetter;
    if (after === undefined) {
      const rows = await this.#query<LetterRow>('read dead letters', this.#sql.deadLetters, [dead, limit]);
      return rows.map(letterOf<T>);
    }
    const [last] = await this.#named([after]);
    if (last === undefined) return [];
    const rows = await this.#query<LetterRow>('read dead letters', this.#sql.deadLettersAfter, [
      dead,
      limit,
      last.priority,
      last.run_at,
      last.id,
    ]);
    return rows.map(letterOf<T>);
  }

  async redrive(options?: RedriveOptions): Promise<number> {
    const { limit, ids } = resolveRedriveOptions(options);
    const { name, deadLetter } = this.#options;
    if (ids !== undefined) {
      const rows = (await this.#named(ids)).slice(0, limit === Number.POSITIVE_INFINITY ? undefined : limit);
      let moved = 0;
      for (let start = 0; start < rows.length; start += REDRIVE_BATCH) {
        const batch = rows.slice(start, start + REDRIVE_BATCH).map((row) => row.id);
        moved += await this.#move(this.#sql.redriveRows, [name, deadLetter, batch]);
      }
      return moved;
    }
    let moved = 0;
    while (moved < limit) {
      const batch = Math.min(limit - moved, REDRIVE_BATCH);
      const count = await this.#move(this.#sql.redrive, [name, deadLetter, batch]);
      moved += count;
      if (count < batch) break;
    }
    return moved;
  }

  async discardDeadLetters(ids: readonly string[]): Promise<number> {
    assertIds(ids);
    if (ids.length === 0) return 0;
    const rows = await this.#named(ids);
    if (rows.length === 0) return 0;
    const { rowCount } = await this.#run('discard dead letters', this.#sql.discard, [
      this.#options.deadLetter,
      rows.map((row) => row.id),
    ]);
    return rowCount ?? 0;
  }

  async purge(): Promise<number> {
    const { rowCount } = await this.#run('purge', this.#sql.purge, [this.#options.name]);
    return rowCount ?? 0;
  }

  async pause(): Promise<void> {
    await this.#run('pause', this.#sql.pause, [this.#options.name, this.#connection.sql.pauseChannel]);
  }

  async resume(): Promise<void> {
    const { pauseChannel, channel } = this.#connection.sql;
    await this.#run('resume', this.#sql.resume, [this.#options.name, pauseChannel, channel]);
  }

  /**
   * The dead letters named by `names`, in order. Candidates are the rows whose body holds a name as
   * a JSON string (or whose row id is one); each body is then read to compare its envelope's id.
   */
  async #named(names: readonly string[]): Promise<NamedRow[]> {
    const candidates = await this.#query<NamedRow>('find dead letters', this.#sql.named, [
      this.#options.deadLetter,
      names,
      names.map((name) => JSON.stringify(name)),
    ]);
    const wanted = new Set(names);
    return candidates.filter((row) => wanted.has(nameOf(row.body, row.id)));
  }

  async #move(text: string, values: unknown[]): Promise<number> {
    const [row] = await this.#query<{ moved: number }>('redrive', text, values);
    return row?.moved ?? 0;
  }

  async #query<R>(operation: string, text: string, values: unknown[]): Promise<R[]> {
    return (await this.#run(operation, text, values)).rows as R[];
  }

  async #run(operation: string, text: string, values: unknown[]) {
    const connection = this.#connection;
    await connection.ready();
    try {
      return await connection.pool.query(text, values);
    } catch (error) {
      throw failure(`${operation} on queue ${this.#options.name}`, error);
    }
  }
}

function letterOf<T>(row: LetterRow): DeadLetter<T> {
  const reason = row.reason ?? '';
  let message: T;
  let id = row.id;
  try {
    const envelope = decodeEnvelope(row.body);
    message = envelope.payload as T;
    id = envelope.id ?? row.id;
  } catch {
    message = row.body as T; // a foreign body that is no envelope: shown as the text it is
  }
  return { id, message, reason, attempt: row.attempt || attemptOf(reason), deadAt: row.dead_at };
}

/** A message's name: its envelope's id, else its row's (see docs/wire-protocol.md, PostgreSQL). */
function nameOf(body: string, rowId: string): string {
  try {
    return decodeEnvelope(body).id ?? rowId;
  } catch {
    return rowId;
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
