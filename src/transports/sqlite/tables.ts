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
 * This layout is a protocol: programs in other languages send, claim and settle with the SQL in
 * docs/wire-protocol.md (SQLite), so a change here is a change of that document.
 */
export const TABLE = 'sluice_messages';

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
  reason TEXT
);
CREATE INDEX IF NOT EXISTS ${TABLE}_ready ON ${TABLE} (queue, ready, priority DESC, id);
CREATE INDEX IF NOT EXISTS ${TABLE}_due ON ${TABLE} (queue, run_at) WHERE ready = 0;
CREATE UNIQUE INDEX IF NOT EXISTS ${TABLE}_key ON ${TABLE} (queue, dedup_key) WHERE dedup_key IS NOT NULL;
`;

export const SQL = {
  insert: `INSERT INTO ${TABLE} (queue, body, priority, ready, run_at, dedup_key) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (queue, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING`,
  ack: `DELETE FROM ${TABLE} WHERE id = ? AND attempt = ?`,
  retry: `UPDATE ${TABLE} SET ready = ?, run_at = ? WHERE id = ? AND attempt = ?`,
  /** Gives back a claimed message that was never handed out: that claim does not count as an attempt. */
  release: `UPDATE ${TABLE} SET run_at = 0, attempt = attempt - 1 WHERE id = ? AND attempt = ?`,
  /**
   * Dead-letters into a new row so the dead-letter queue is ordered by when messages died. A body
   * whose envelope has no id was named by its row id (see the consumer); the copy is given that id
   * so the message keeps its name on the dead-letter queue.
   */
  deadLetter: `INSERT INTO ${TABLE} (queue, body, priority, reason)
    SELECT ?, coalesce(?, CASE WHEN json_type(body, '$.id') = 'text' AND json_extract(body, '$.id') <> ''
      THEN body ELSE json_set(body, '$.id', CAST(id AS TEXT)) END), priority, ?
    FROM ${TABLE} WHERE id = ? AND attempt = ?`,
  promote: `UPDATE ${TABLE} SET ready = 1, run_at = 0 WHERE queue = ? AND ready = 0 AND run_at <= ?`,
  /** The next ready rows in delivery order; each is then leased with `lease`. */
  claim: `SELECT id, body, attempt, priority, reason, run_at > 0 AS lease_expired FROM ${TABLE}
    WHERE queue = ? AND ready = 1 AND run_at <= ? ORDER BY priority DESC, id LIMIT ?`,
  lease: `UPDATE ${TABLE} SET run_at = ?, attempt = attempt + 1 WHERE id = ?`,
  claimable: `SELECT EXISTS (SELECT 1 FROM ${TABLE} WHERE queue = @queue AND ready = 1 AND run_at <= @now)
    OR EXISTS (SELECT 1 FROM ${TABLE} WHERE queue = @queue AND ready = 0 AND run_at <= @now)`,
  nextDue: `SELECT min(run_at) FROM ${TABLE} WHERE queue = ? AND ready = 0`,
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
