import type Database from 'better-sqlite3';

/**
 * The on-disk layout: every queue of a file lives in one table, told apart by the `queue` column.
 *
 * - `ready = 1`: claimable once `run_at` (epoch ms) has passed. A claim only moves `run_at` to the
 *   end of its lease and counts the attempt, so a message whose consumer crashed is claimable
 *   again once the lease ends, and a claim rewrites no index entry (the hot path stays cheap).
 *   Every other way to become ready (send, retry, give back, promotion) sets `run_at = 0`, so a
 *   claimable row with `run_at > 0` is one whose lease ran out unsettled.
 * - `ready = 0`: delayed or backing off until `run_at`; the claim transaction first promotes the
 *   ones that are due. Only these rows are in the `due` index, which also gives the next wake-up.
 *
 * `attempt` counts claims; with `id` it fences a settlement: an ack or nack only touches the row as
 * it was when that delivery claimed it. `id` is AUTOINCREMENT so a deleted row's id is never reused
 * (a late ack cannot hit a newer message) and orders messages of equal priority by arrival.
 * A dead-letter copy records when it died (`dead_at`) and the attempt it had (`dead_attempt`).
 * `group_name` is the message's group (SPEC § 7), NULL for the default group; only a queue that serves
 * groups reads it (see flow-tables.ts), and a dead-letter copy keeps it for redrive.
 *
 * `sluice_queues` holds a row per queue: its counts by state, kept by every writer in the same
 * transaction as the change (one statement per queue per transaction, not a trigger per row: that
 * would cost the hot path), so `stats()` reads a row instead of counting; and whether it is paused,
 * which every claim checks. A file made before this table existed gets it filled by one count.
 * This layout is a protocol: programs in other languages send, claim and settle with the SQL in
 * docs/wire-protocol.md (SQLite), so a change here is a change of that document.
 */
export const TABLE = 'sluice_messages';
export const QUEUES = 'sluice_queues';
/** A queue with a row here serves groups (see flow-tables.ts): the plain claim leaves it alone. */
export const GROUP_TURNS = 'sluice_group_turns';

/** Whether `queue` is paused: a claim hands out nothing then. */
const PAUSED = `EXISTS (SELECT 1 FROM ${QUEUES} WHERE queue = ? AND paused = 1)`;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS ${TABLE} (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL,
  body TEXT NOT NULL,
  priority REAL NOT NULL DEFAULT 0,
  ready INTEGER NOT NULL DEFAULT 1,
  run_at INTEGER NOT NULL DEFAULT 0,
  attempt INTEGER NOT NULL DEFAULT 0,
  dedup_key TEXT,
  reason TEXT,
  dead_at INTEGER,
  dead_attempt INTEGER
);
CREATE INDEX IF NOT EXISTS ${TABLE}_ready ON ${TABLE} (queue, ready, priority DESC, id);
CREATE INDEX IF NOT EXISTS ${TABLE}_due ON ${TABLE} (queue, run_at) WHERE ready = 0;
CREATE UNIQUE INDEX IF NOT EXISTS ${TABLE}_key ON ${TABLE} (queue, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS ${QUEUES} (
  queue TEXT PRIMARY KEY,
  waiting INTEGER NOT NULL DEFAULT 0,
  leased INTEGER NOT NULL DEFAULT 0,
  delayed INTEGER NOT NULL DEFAULT 0,
  paused INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO ${QUEUES} (queue, waiting, leased, delayed)
  SELECT queue, sum(ready = 1 AND run_at = 0), sum(ready = 1 AND run_at > 0), sum(ready = 0) FROM ${TABLE}
  WHERE NOT EXISTS (SELECT 1 FROM ${QUEUES}) GROUP BY queue;
`;

/**
 * Adds what a table made by an older version lacks (SCHEMA adds the rest): the columns recording a
 * dead letter's death (its dead letters keep NULL there: read as dead when the file was upgraded,
 * at the attempt their reason names), and the group column (flow-tables.ts then adds its indexes).
 */
export function upgrade(db: Database.Database): void {
  const columns = db.prepare(`SELECT name FROM pragma_table_info('${TABLE}')`).pluck().all();
  if (!columns.includes('dead_at')) {
    db.exec(
      `ALTER TABLE ${TABLE} ADD COLUMN dead_at INTEGER; ALTER TABLE ${TABLE} ADD COLUMN dead_attempt INTEGER;`,
    );
    db.prepare(`UPDATE ${TABLE} SET dead_at = ? WHERE reason IS NOT NULL`).run(Date.now());
  }
  if (!columns.includes('group_name')) db.exec(`ALTER TABLE ${TABLE} ADD COLUMN group_name TEXT`);
}

export const SQL = {
  insert: `INSERT INTO ${TABLE} (queue, body, priority, ready, run_at, dedup_key) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (queue, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING`,
  /** A send with a group: only these write the group's indexes, the plain `insert` stays as it was. */
  insertGrouped: `INSERT INTO ${TABLE} (queue, body, priority, ready, run_at, dedup_key, group_name)
    VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (queue, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING`,
  ack: `DELETE FROM ${TABLE} WHERE id = ? AND attempt = ?`,
  retry: `UPDATE ${TABLE} SET ready = ?, run_at = ? WHERE id = ? AND attempt = ?`,
  /** Gives back a claimed message that was never handed out: that claim does not count as an attempt. */
  release: `UPDATE ${TABLE} SET run_at = 0, attempt = attempt - 1 WHERE id = ? AND attempt = ?`,
  /**
   * Dead-letters into a new row so the dead-letter queue is ordered by when messages died. A body
   * whose envelope has no id was named by its row id (see the consumer); the copy is given that id
   * so the message keeps its name on the dead-letter queue.
   */
  deadLetter: `INSERT INTO ${TABLE} (queue, body, priority, reason, dead_at, dead_attempt, group_name)
    SELECT ?, coalesce(?, CASE WHEN json_type(body, '$.id') = 'text' AND json_extract(body, '$.id') <> ''
      THEN body ELSE json_set(body, '$.id', CAST(id AS TEXT)) END), priority, ?, ?, attempt, group_name
    FROM ${TABLE} WHERE id = ? AND attempt = ?`,
  promote: `UPDATE ${TABLE} SET ready = 1, run_at = 0 WHERE queue = ? AND ready = 0 AND run_at <= ?`,
  /**
   * The next ready rows in delivery order, none while paused or when the queue serves groups (it
   * takes none then: its claims go round its groups); each is then leased with `lease`.
   */
  claim: `SELECT id, body, attempt, priority, reason, run_at > 0 AS lease_expired FROM ${TABLE}
    WHERE queue = ? AND ready = 1 AND run_at <= ? AND NOT ${PAUSED}
      AND NOT EXISTS (SELECT 1 FROM ${GROUP_TURNS} WHERE queue = ?) ORDER BY priority DESC, id LIMIT ?`,
  lease: `UPDATE ${TABLE} SET run_at = ?, attempt = attempt + 1 WHERE id = ?`,
  claimable: `SELECT NOT ${PAUSED.replace('?', '@queue')}
    AND (EXISTS (SELECT 1 FROM ${TABLE} WHERE queue = @queue AND ready = 1 AND run_at <= @now)
    OR EXISTS (SELECT 1 FROM ${TABLE} WHERE queue = @queue AND ready = 0 AND run_at <= @now))`,
  /** None while paused: a paused consumer polls at its interval, not at each due row. */
  nextDue: `SELECT min(run_at) FROM ${TABLE} WHERE queue = ? AND ready = 0 AND NOT ${PAUSED}`,
  /** Adds a transaction's changes to a queue's counts. */
  count: `INSERT INTO ${QUEUES} (queue, waiting, leased, delayed) VALUES (?, ?, ?, ?)
    ON CONFLICT (queue) DO UPDATE SET waiting = waiting + excluded.waiting,
      leased = leased + excluded.leased, delayed = delayed + excluded.delayed`,
} as const;

/** A claimed row. `attempt` counts this claim. */
export interface ClaimedRow {
  readonly id: number;
  readonly body: string;
  attempt: number;
  readonly priority: number;
  /** Why the message was dead-lettered, on rows of a dead-letter queue. */
  readonly reason: string | null;
  /** 1 when its previous lease ran out unsettled: the consumer that held it died or stalled. */
  readonly lease_expired: 0 | 1;
}
