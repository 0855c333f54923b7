import type Database from 'better-sqlite3';
import type { Connection } from './connection.js';
import { GROUP_TURNS, QUEUES, TABLE } from './tables.js';

/**
 * The operator's statements (see operator.ts), prepared on first use: a queue that is never
 * inspected prepares none. Dead letters are the rows of the dead-letter queue, oldest (lowest id)
 * first: the ids of one queue are read from the `ready` index and sorted, which touches no message.
 */
export const OPERATOR_SQL = {
  /** The queue's counts, its due rows (delayed until now, not yet promoted by a claim), and its dead ones. */
  stats: `SELECT q.waiting, q.leased, q.delayed, q.paused,
      (SELECT count(*) FROM ${TABLE} WHERE queue = @queue AND ready = 0 AND run_at <= @now) AS due,
      (SELECT d.waiting + d.leased + d.delayed FROM ${QUEUES} AS d WHERE d.queue = @dead) AS dead
    FROM (SELECT 1) LEFT JOIN ${QUEUES} AS q ON q.queue = @queue`,
  /** The ids of the oldest rows of a queue after row id `after`. */
  oldest: `SELECT id FROM ${TABLE} INDEXED BY ${TABLE}_ready WHERE queue = ? AND id > ? ORDER BY id LIMIT ?`,
  letters: `SELECT id, body, reason, dead_at, dead_attempt FROM ${TABLE}
    WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id`,
  /**
   * Rows of a queue that may be named by one of `names` (a JSON array): their envelope's id is one,
   * or their row id is (a body without a usable id). The caller checks each body.
   */
  named: `SELECT id, body FROM ${TABLE} WHERE queue = @queue AND (
      CASE WHEN json_valid(body) THEN body ->> '$.id' END IN (SELECT value FROM json_each(@names))
      OR id IN (SELECT CAST(value AS INTEGER) FROM json_each(@names) WHERE value GLOB '[1-9]*' AND value NOT GLOB '*[^0-9]*'))
    ORDER BY id`,
  /**
   * A dead letter back in `queue` as a new message (attempt 1, no key) of its group, if still in the
   * dead-letter queue; returns its group.
   */
  requeue: `INSERT INTO ${TABLE} (queue, body, priority, group_name)
    SELECT ?, body, priority, group_name FROM ${TABLE} WHERE id = ? AND queue = ? RETURNING group_name`,
  /** A queue that gets a message with a group serves groups (see flow-tables.ts). */
  serveGroups: `INSERT INTO ${GROUP_TURNS} (queue) VALUES (?) ON CONFLICT (queue) DO NOTHING`,
  /** Deletes a row of a queue; returns its state, for the counts. */
  remove: `DELETE FROM ${TABLE} WHERE id = ? AND queue = ? RETURNING ready, run_at`,
  purgeWaiting: `DELETE FROM ${TABLE} WHERE id IN
    (SELECT id FROM ${TABLE} WHERE queue = ? AND ready = 1 AND run_at = 0 LIMIT ?)`,
  purgeDelayed: `DELETE FROM ${TABLE} WHERE id IN (SELECT id FROM ${TABLE} WHERE queue = ? AND ready = 0 LIMIT ?)`,
  declare: `INSERT INTO ${QUEUES} (queue) VALUES (?) ON CONFLICT (queue) DO NOTHING`,
  pause: `INSERT INTO ${QUEUES} (queue, paused) VALUES (?, 1) ON CONFLICT (queue) DO UPDATE SET paused = 1`,
  resume: `UPDATE ${QUEUES} SET paused = 0 WHERE queue = ?`,
} as const;

export type OperatorStatements = { [K in keyof typeof OPERATOR_SQL]: Database.Statement };

/** What `stats` reads; NULLs for a queue that has no row yet. */
export interface StatsRow {
  readonly waiting: number | null;
  readonly leased: number | null;
  readonly delayed: number | null;
  readonly paused: number | null;
  readonly due: number;
  readonly dead: number | null;
}

export interface LetterRow {
  readonly id: number;
  readonly body: string;
  readonly reason: string | null;
  readonly dead_at: number | null;
  readonly dead_attempt: number | null;
}

export function prepareOperator(connection: Connection): OperatorStatements {
  const statements = Object.fromEntries(
    Object.entries(OPERATOR_SQL).map(([name, sql]) => [name, connection.prepare(sql)]),
  ) as OperatorStatements;
  statements.oldest.pluck();
  return statements;
}
