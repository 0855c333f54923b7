import { quoteIdentifier } from './sql.js';

/**
 * The operator face's statements (PostgresOperator), built once per schema; the tables they read
 * are described in operator-migration.ts. Dead letters are read in the order the dead-letter queue
 * hands them out (the claim index: priority, then readiness time, which for a row nobody claimed on
 * the dead-letter queue is when it was dead-lettered), so every page is an index range. A dead
 * letter has no group (see flow-migration.ts): the dead-letter queue's rows are all in `messages_claim`.
 */
export interface OperatorStatements {
  /**
   * $1 queue, $2 dead-letter queue. `total` and `dead` are summed from `counts`; the rows not ready
   * (delayed, or leased) are counted from the claim index (see `queue_stats()`).
   */
  readonly stats: string;
  /** $1 dead-letter queue, $2 limit: the first page. */
  readonly deadLetters: string;
  /** $1 dead-letter queue, $2 limit, then the last row read: $3 priority, $4 run_at, $5 id. */
  readonly deadLettersAfter: string;
  /**
   * $1 dead-letter queue, $2 names, $3 the names as JSON strings: the rows that may bear those
   * names (an envelope's id, else the row's), in order; the caller checks each body.
   */
  readonly named: string;
  /** $1 queue, $2 dead-letter queue, $3 limit: moves the oldest dead letters back. Returns the count. */
  readonly redrive: string;
  /** $1 queue, $2 dead-letter queue, $3 row ids: moves those back. Returns the count. */
  readonly redriveRows: string;
  /** $1 dead-letter queue, $2 row ids. */
  readonly discard: string;
  /** $1 queue: deletes the rows not leased to a consumer. */
  readonly purge: string;
  /** $1 queue, $2 the pause channel. */
  readonly pause: string;
  /** $1 queue, $2 the pause channel, $3 the queues' channel (consumers in other languages wake). */
  readonly resume: string;
}

/** A dead letter's columns, with what its page's successor needs (`priority`, `run_at`). */
const LETTER = `id::text, body, reason, priority, run_at::text,
  coalesce(dead_attempt, 0) AS attempt,
  floor(extract(epoch FROM coalesce(dead_at, CASE WHEN attempt = 0 THEN run_at ELSE created_at END)) * 1000)::float8
    AS dead_at`;

export function operatorStatements(dbSchema: string): OperatorStatements {
  const s = quoteIdentifier(dbSchema);
  const table = `${s}.messages`;
  const order = 'ORDER BY priority DESC, run_at, id';
  // Inserted in the dead-letter order, so the queue hands them out oldest first; body and priority
  // kept, attempts start over, no key (a dead letter holds none).
  const moveBack = (chosen: string) => `WITH taken AS (
      DELETE FROM ${table} WHERE id IN (${chosen}) RETURNING id, body, priority, run_at
    ), added AS (
      INSERT INTO ${table} (queue, body, priority, grp)
      SELECT $1, body, priority, ${s}.envelope_group(body) FROM taken ORDER BY priority DESC, run_at, id
      RETURNING 1
    )
    SELECT count(*)::int AS moved FROM added`;
  return {
    stats: `SELECT total::float8, dead::float8, delayed::float8, in_flight::float8, paused
      FROM ${s}.queue_stats($1, $2)`,
    deadLetters: `SELECT ${LETTER} FROM ${table} WHERE queue = $1 AND grp IS NULL ${order} LIMIT $2`,
    deadLettersAfter: `SELECT * FROM (
        (SELECT ${LETTER}, id AS row_id FROM ${table}
         WHERE queue = $1 AND grp IS NULL AND priority = $3 AND (run_at, id) > ($4::timestamptz, $5::bigint)
         ORDER BY run_at, id LIMIT $2)
        UNION ALL
        (SELECT ${LETTER}, id AS row_id FROM ${table} WHERE queue = $1 AND grp IS NULL AND priority < $3
         ${order} LIMIT $2)
      ) AS page ORDER BY priority DESC, run_at::timestamptz, row_id LIMIT $2`,
    named: `SELECT id::text, body, priority, run_at::text FROM ${table}
      WHERE queue = $1 AND grp IS NULL AND (id::text = ANY($2::text[])
        OR EXISTS (SELECT FROM unnest($3::text[]) AS name WHERE strpos(body, name) > 0))
      ${order}`,
    redrive: moveBack(
      `SELECT id FROM ${table} WHERE queue = $2 AND grp IS NULL ${order} LIMIT $3 FOR UPDATE SKIP LOCKED`,
    ),
    redriveRows: moveBack(
      `SELECT id FROM ${table} WHERE queue = $2 AND id = ANY($3::bigint[]) FOR UPDATE SKIP LOCKED`,
    ),
    discard: `DELETE FROM ${table} WHERE queue = $1 AND id = ANY($2::bigint[])`,
    purge: `DELETE FROM ${table} AS m USING (
        SELECT id FROM ${table} WHERE queue = $1 AND grp IS NULL AND (locked_until IS NULL OR run_at <= now())
        UNION ALL
        SELECT id FROM ${table} WHERE queue = $1 AND grp IS NOT NULL AND (locked_until IS NULL OR run_at <= now())
      ) AS unheld WHERE m.id = unheld.id`,
    pause: `WITH added AS (INSERT INTO ${s}.paused (queue) VALUES ($1) ON CONFLICT DO NOTHING)
      SELECT pg_notify($2, $1)`,
    resume: `WITH removed AS (DELETE FROM ${s}.paused WHERE queue = $1)
      SELECT pg_notify($2, $1), pg_notify($3, $1)`,
  };
}
