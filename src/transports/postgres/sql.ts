import { createHash } from 'node:crypto';

/**
 * Every statement the adapter runs, built once per PostgreSQL schema (`dbSchema`).
 *
 * One table holds every queue's messages (`queue` column). A row is ready when `run_at <= now()`.
 * Claiming a row moves its `run_at` to the end of its lease (`locked_until`), so the claim index
 * walks past in-flight rows without touching them and a crashed consumer's message becomes ready
 * again by itself when the lease ends. `attempt` counts claims; a claim is identified by
 * (id, attempt), so a consumer whose lease expired and was re-claimed cannot settle the new claim.
 */
export interface Statements {
  /** The LISTEN/NOTIFY channel: the schema's name, so separate schemas never wake each other. */
  readonly channel: string;
  /** sluice's own channel for pause() and resume(): the payload is the queue's name. */
  readonly pauseChannel: string;
  /** LISTENs on both channels. */
  readonly listen: string;
  /** $1 queue, then one array per column: $2 bodies, $3 priorities, $4 delays (ms), $5 keys. */
  readonly insertMany: string;
  /** As `insertMany`, for a batch with a grouped message: $6 groups (NULL: the default group). */
  readonly insertManyGrouped: string;
  /** $1 queue, $2 body, $3 priority, $4 delay ms, $5 key, $6 group or NULL. */
  readonly insertOne: string;
  /** $1 queue, $2 limit, $3 lease ms. Returns ClaimedRow in claim order (see migrations.ts). */
  readonly claim: string;
  /**
   * $1 queue, $2 limit, $3 lease ms, $4 rate limit, $5 its interval ms, $6 group cap (NULLs: none).
   * Returns ClaimedRow in claim order, then maybe a row with no id and `wait_ms` (see flow-claim.ts).
   */
  readonly claimFlow: string;
  /**
   * $1 queue. Returns `wait`, the milliseconds until the earliest row (delayed or leased) becomes
   * ready, and `paused`.
   */
  readonly nextReady: string;
  /**
   * $1 queue. As `nextReady`, counting only the rows not ready yet: a consumer whose groups are all
   * at their cap waits for a lease to end or a delayed row, not for the rows it may not take.
   */
  readonly nextDue: string;
  /** $1 queue. Returns `paused`: whether its row is in the `paused` table. */
  readonly paused: string;
  /** $1 ids, $2 attempts (array literals). */
  readonly ack: string;
  /** As `ack`, notifying the queue's channel (see Settler.ack). */
  readonly ackNotifying: string;
  /** $1 id, $2 attempt, $3 delay ms: back in the queue, attempts kept. */
  readonly retry: string;
  /** $1 ids, $2 attempts, $3 ready_at values: prefetched rows never handed out, as they were. */
  readonly release: string;
  /** $1 id, $2 attempt, $3 dead-letter queue, $4 reason, $5 replacement body or null. */
  readonly deadLetter: string;
  /** $1 queue, $2 body: a row as a foreign producer inserts it. */
  readonly insertRaw: string;
  /** $1 queue names. */
  readonly purge: string;
}

export function statements(dbSchema: string): Statements {
  const s = quoteIdentifier(dbSchema);
  const table = `${s}.messages`;
  // A channel is an identifier of at most 63 bytes: a digest stands for the schema.
  const pauseChannel = `sluice_pause_${createHash('sha256').update(dbSchema).digest('hex').slice(0, 32)}`;
  const notifyChanged = (update: string) =>
    `WITH changed AS (${update} RETURNING queue)
     SELECT pg_notify(${quoteLiteral(dbSchema)}, queue) FROM (SELECT DISTINCT queue FROM changed) AS q`;
  return {
    channel: dbSchema,
    pauseChannel,
    listen: `LISTEN ${s}; LISTEN ${pauseChannel}`,
    insertMany: `INSERT INTO ${table} (queue, body, priority, run_at, key)
      SELECT $1, r.b, r.p, now() + r.d * interval '1 millisecond', r.k
      FROM unnest($2::text[], $3::float8[], $4::float8[], $5::text[]) AS r(b, p, d, k)
      ON CONFLICT (queue, key) WHERE key IS NOT NULL DO NOTHING`,
    insertManyGrouped: `INSERT INTO ${table} (queue, body, priority, run_at, key, grp)
      SELECT $1, r.b, r.p, now() + r.d * interval '1 millisecond', r.k, r.g
      FROM unnest($2::text[], $3::float8[], $4::float8[], $5::text[], $6::text[]) AS r(b, p, d, k, g)
      ON CONFLICT (queue, key) WHERE key IS NOT NULL DO NOTHING`,
    insertOne: `INSERT INTO ${table} (queue, body, priority, run_at, key, grp)
      VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond', $5, $6)
      ON CONFLICT (queue, key) WHERE key IS NOT NULL DO NOTHING`,
    claim: `SELECT id, attempt, body, ready_at, reason, lease_expired FROM ${s}.claim($1, $2, $3)`,
    claimFlow: `SELECT id, attempt, body, ready_at, reason, lease_expired, wait_ms
      FROM ${s}.claim_flow($1, $2, $3, $4, $5, $6)`,
    nextReady: earliest(table, s, ''),
    nextDue: earliest(table, s, 'AND run_at > now()'),
    paused: `SELECT EXISTS (SELECT FROM ${s}.paused WHERE queue = $1) AS paused`,
    ack: `DELETE FROM ${table} AS m
      USING (SELECT unnest($1::bigint[]) AS id, unnest($2::int[]) AS attempt) AS a
      WHERE m.id = a.id AND m.attempt = a.attempt`,
    ackNotifying: notifyChanged(
      `DELETE FROM ${table} AS m
       USING (SELECT unnest($1::bigint[]) AS id, unnest($2::int[]) AS attempt) AS a
       WHERE m.id = a.id AND m.attempt = a.attempt`,
    ),
    retry: notifyChanged(
      `UPDATE ${table} SET locked_until = NULL, run_at = now() + $3 * interval '1 millisecond'
       WHERE id = $1 AND attempt = $2`,
    ),
    release: notifyChanged(
      `UPDATE ${table} AS m SET attempt = m.attempt - 1, locked_until = NULL, run_at = r.ready_at
       FROM (SELECT unnest($1::bigint[]) AS id, unnest($2::int[]) AS attempt,
                    unnest($3::timestamptz[]) AS ready_at) AS r
       WHERE m.id = r.id AND m.attempt = r.attempt`,
    ),
    deadLetter: notifyChanged(
      `UPDATE ${table}
       SET queue = $3, reason = $4, body = coalesce($5, body), attempt = 0, locked_until = NULL,
           run_at = now(), key = NULL
       WHERE id = $1 AND attempt = $2`,
    ),
    insertRaw: `INSERT INTO ${table} (queue, body) VALUES ($1, $2)`,
    purge: `DELETE FROM ${table} WHERE queue = ANY($1::text[])`,
  };
}

/**
 * The earliest `run_at` of the queue's rows (those `after` admits), read from the claim indexes alone:
 * for the default group, the first row of each priority, jumping from one priority to the next (a
 * loose index scan), so a queue full of delayed rows costs one index probe per distinct priority, not
 * a scan; for the grouped rows, the first of `messages_group_due`.
 */
function earliest(table: string, s: string, after: string): string {
  return `WITH RECURSIVE priorities AS (
      (SELECT priority FROM ${table} WHERE queue = $1 AND grp IS NULL ORDER BY priority DESC LIMIT 1)
      UNION ALL
      SELECT (SELECT priority FROM ${table} WHERE queue = $1 AND grp IS NULL AND priority < p.priority
              ORDER BY priority DESC LIMIT 1)
      FROM priorities AS p WHERE p.priority IS NOT NULL
    ), firsts AS (
      SELECT (SELECT run_at FROM ${table} WHERE queue = $1 AND grp IS NULL AND priority = p.priority ${after}
              ORDER BY run_at LIMIT 1) AS run_at
      FROM priorities AS p WHERE p.priority IS NOT NULL
      UNION ALL
      (SELECT run_at FROM ${table} WHERE queue = $1 AND grp IS NOT NULL ${after} ORDER BY run_at LIMIT 1)
    )
    SELECT (extract(epoch FROM min(run_at) - clock_timestamp()) * 1000)::float8 AS wait,
      EXISTS (SELECT FROM ${s}.paused WHERE queue = $1) AS paused
    FROM firsts`;
}

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
