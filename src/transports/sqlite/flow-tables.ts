import { GROUP_TURNS, QUEUES, TABLE } from './tables.js';

/**
 * The layout flow control adds to a file (SPEC § 7), kept apart from the plain claim's so that a
 * queue with no group and no limits pays nothing for it.
 *
 * - A queue serves groups once it has a row in `sluice_group_turns`: made by its first send with a
 *   group, or by a claim with `groupConcurrency`. Its claims then take messages round-robin across
 *   its groups, from `last_group` (the group served last, by any process) on. Messages of the default
 *   group are stored with `group_name` NULL (a send does not know whether its queue serves groups):
 *   such a queue's claims first give the rows added since `grouped_to` (a row id) the group `''`,
 *   which real groups never are, so that every row of the queue is in the two group indexes.
 * - The group indexes hold only rows with a group that are ready (claimable or leased): `group`
 *   gives each group's head in delivery order, `group_lease` each group's unexpired leases (its
 *   deliveries out, across every process). Rows without a group are in neither.
 * - `sluice_rate_log` is the sliding window of a rate limit: how many messages claims handed out at
 *   each millisecond, kept until they leave the window.
 */
export const RATE_LOG = 'sluice_rate_log';

export const FLOW_SCHEMA = `
CREATE INDEX IF NOT EXISTS ${TABLE}_group ON ${TABLE} (queue, group_name, priority DESC, id)
  WHERE group_name IS NOT NULL AND ready = 1;
CREATE INDEX IF NOT EXISTS ${TABLE}_group_lease ON ${TABLE} (queue, group_name, run_at)
  WHERE group_name IS NOT NULL AND ready = 1;
CREATE TABLE IF NOT EXISTS ${GROUP_TURNS} (
  queue TEXT PRIMARY KEY,
  last_group TEXT,
  grouped_to INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ${RATE_LOG} (
  queue TEXT NOT NULL,
  at INTEGER NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (queue, at)
) WITHOUT ROWID;
`;

/** The head of the next group, in group order, that has a claimable row (CONDITION: where to start). */
const HEAD = `SELECT id, body, attempt, priority, reason, run_at > 0 AS lease_expired, group_name
  FROM ${TABLE} INDEXED BY ${TABLE}_group WHERE queue = ? AND group_name CONDITION AND ready = 1 AND run_at <= ?
  ORDER BY group_name, priority DESC, id LIMIT 1`;

export const FLOW_SQL = {
  turns: `SELECT last_group, grouped_to FROM ${GROUP_TURNS} WHERE queue = ?`,
  startTurns: `INSERT INTO ${GROUP_TURNS} (queue) VALUES (?) ON CONFLICT (queue) DO NOTHING`,
  saveTurns: `UPDATE ${GROUP_TURNS} SET last_group = ?, grouped_to = ? WHERE queue = ?`,
  /** The highest row id yet: every row added later has a higher one (AUTOINCREMENT). */
  lastId: `SELECT max(id) FROM ${TABLE}`,
  /** Puts the rows of the default group added since a row id in the group `''` (by row id, no index). */
  joinDefault: `UPDATE ${TABLE} NOT INDEXED SET group_name = '' WHERE id > ? AND queue = ? AND group_name IS NULL`,
  headAfter: HEAD.replace('CONDITION', '> ?'),
  headFirst: HEAD.replace('CONDITION', 'IS NOT NULL'),
  /** A group's deliveries out (unexpired leases), counted up to the cap. */
  inFlight: `SELECT count(*) FROM (SELECT 1 FROM ${TABLE} INDEXED BY ${TABLE}_group_lease
    WHERE queue = ? AND group_name = ? AND ready = 1 AND run_at > ? LIMIT ?)`,
  paused: `SELECT paused FROM ${QUEUES} WHERE queue = ?`,
  forget: `DELETE FROM ${RATE_LOG} WHERE queue = ? AND at <= ?`,
  window: `SELECT coalesce(sum(count), 0) AS used, min(at) AS oldest FROM ${RATE_LOG} WHERE queue = ?`,
  record: `INSERT INTO ${RATE_LOG} (queue, at, count) VALUES (?, ?, ?)
    ON CONFLICT (queue, at) DO UPDATE SET count = count + excluded.count`,
} as const;

/** A queue's row of `sluice_group_turns`. */
export interface Turns {
  readonly last_group: string | null;
  readonly grouped_to: number;
}

/** The hand-outs in a queue's rate window. */
export interface RateWindow {
  readonly used: number;
  readonly oldest: number | null;
}
