import { createHash } from 'node:crypto';
import type { JobChange } from '../../jobs/store.js';
import { quoteIdentifier } from './sql.js';

/**
 * A statement prepared once per connection under its name (the digest of its text, so that two
 * schemas' statements never share one): PostgreSQL parses it once and soon keeps one plan, where
 * planning it on every call would cost more than running it does.
 */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

/**
 * The statements of PostgresJobStore, built once per PostgreSQL schema (`dbSchema`); the table is
 * described in migrations.ts (`jobMigrations`). Every statement but the sweep takes the store's name
 * as $1. The hot ones (create, get, start, finish) take a batch of jobs, one array per column
 * ($2 their ids, no id twice): what a store handle's callers ask at once is one statement, one
 * round trip and one commit, however many jobs it holds.
 *
 * Each write is conditional on the job not having ended (`status NOT IN final`), grows `version`
 * itself, and announces each job's changing fields (a JobChange) with `pg_notify` in the same
 * transaction, so a listener hears of exactly the committed writes, as
 * `<id as JSON>\n<the fields as a JSON object>`. A change too large for a notification (8,000
 * bytes: a large progress or result) is announced by `<id as JSON>` alone, and the listener reads
 * the row. `create` announces nothing: a job is watched through a handle, and there is none before
 * its record exists.
 *
 * A row whose `expires_at` has passed is not there for any statement: reads do not see it, and
 * `create` and `start` replace it as if the id were free.
 */
export interface JobStatements {
  /**
   * $3 tasks, $4 args, $5 metadata, $6 statuses, $7 createdAts. A row per job: `id`, `created`,
   * else `kept` (its record, or null when it was kept by a write this statement could not read).
   */
  readonly create: Statement;
  /** Returns `id` and `record` of each job kept. */
  readonly get: Statement;
  /**
   * The fallbacks' $3 tasks, $4 args, $5 metadata, $6 createdAts, then $7 startedAts, $8 changes
   * channel. Returns `id` and `change` of each job started, or ended (unless it ended after the
   * statement began).
   */
  readonly start: Statement;
  /**
   * $3 statuses, $4 results, $5 errors, $6 endedAts, $7 retentions (ms), $8 changes channel, $9
   * cancels channel (a cancel is announced there too, first). Returns the `id` of each job it ended.
   */
  readonly finish: Statement;
  /** One job: $2 id, $3 changes channel. */
  readonly retrying: Statement;
  /** One job: $2 id, $3 progress, $4 changes channel. */
  readonly progress: Statement;
  /** One job: $2 id. */
  readonly remove: Statement;
  /** $2 the earliest `endedAt`. Returns the `id` of every job of the store cancelled since. */
  readonly cancelledSince: Statement;
  /** $2 limit: `record` of the kept jobs that failed, timed out or were cancelled, last ended first. */
  readonly recentFailures: Statement;
  /** $1 the most rows to delete: expired rows of every store of the schema. */
  readonly sweep: Statement;
}

const FINAL = `('success', 'failed', 'timeout', 'cancelled')`;

/** The largest notification payload PostgreSQL accepts is one byte less. */
const MAX_PAYLOAD_BYTES = 8_000;

/**
 * Row `j`'s changing fields as JSON object members (absent ones left out). The JSON columns are
 * spliced in as they are, never parsed by PostgreSQL.
 */
const CHANGING = `'"status":"' || j.status || '","attempt":' || j.attempt || ',"version":' || j.version
  || coalesce(',"startedAt":' || j.started_at, '') || coalesce(',"endedAt":' || j.ended_at, '')
  || coalesce(',"progress":' || j.progress, '') || coalesce(',"result":' || j.result, '')
  || coalesce(',"error":' || j.error, '')`;

/** Row `j`'s changing fields as a JSON object: `changeOf` reads it. */
const CHANGE = `'{' || ${CHANGING} || '}'`;

/** Row `j` as the JSON text `encodeJobRecord` makes of its record, which `decodeJobRecord` reads. */
const RECORD = `'{"id":' || to_json(j.id)::text || ',"task":' || to_json(j.task)::text
  || ',"args":' || j.args || coalesce(',"metadata":' || j.metadata, '')
  || ',"createdAt":' || j.created_at || ',' || ${CHANGING} || '}'`;

/** Announces on `channel` the change of the job of the columns `id` and `change`. */
function notify(channel: string): string {
  const id = 'to_json(id)::text';
  return `pg_notify(${channel}, CASE WHEN octet_length(change) < ${MAX_PAYLOAD_BYTES} - 1 - octet_length(${id})
    THEN ${id} || E'\\n' || change ELSE ${id} END)`;
}

export function jobStatements(dbSchema: string): JobStatements {
  const table = `${quoteIdentifier(dbSchema)}.jobs`;
  const kept = `(j.expires_at IS NULL OR j.expires_at > now())`;
  const expired = `j.expires_at <= now()`;
  /** `update` (of `j`, job $2 if it has not ended) grows the version and is announced on `channel`. */
  const updateOne = (update: string, channel: string) =>
    `WITH written AS (
       UPDATE ${table} AS j SET ${update}, version = j.version + 1
       WHERE j.store = $1 AND j.id = $2 AND j.status NOT IN ${FINAL}
       RETURNING j.id, ${CHANGE} AS change
     )
     SELECT ${notify(channel)} FROM written`;
  const texts: Record<keyof JobStatements, string> = {
    create: `WITH input AS (
        SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::float8[])
          AS i(id, task, args, metadata, status, created_at)
      ), created AS (
        INSERT INTO ${table} AS j (store, id, task, args, metadata, status, attempt, created_at, version)
        SELECT $1, id, task, args, metadata, status, 0, created_at, 1 FROM input
        ON CONFLICT (store, id) DO UPDATE SET task = excluded.task, args = excluded.args,
          metadata = excluded.metadata, status = excluded.status, attempt = 0, progress = NULL,
          result = NULL, error = NULL, created_at = excluded.created_at, started_at = NULL,
          ended_at = NULL, expires_at = NULL, version = j.version + 1
        WHERE ${expired}
        RETURNING j.id
      )
      SELECT i.id, c.id IS NOT NULL AS created, CASE WHEN c.id IS NULL THEN
          (SELECT ${RECORD} FROM ${table} AS j WHERE j.store = $1 AND j.id = i.id AND ${kept})
        END AS kept
      FROM input AS i LEFT JOIN created AS c ON c.id = i.id`,
    get: `SELECT j.id, ${RECORD} AS record FROM ${table} AS j
      WHERE j.store = $1 AND j.id = ANY($2::text[]) AND ${kept}`,
    // A job unknown or expired is stored from its fallback and started; one that ended is returned
    // as it is, by the second SELECT.
    start: `WITH input AS (
        SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::float8[])
          AS i(id, task, args, metadata, created_at, started_at)
      ), started AS (
        INSERT INTO ${table} AS j
          (store, id, task, args, metadata, status, attempt, created_at, started_at, version)
        SELECT $1, id, task, args, metadata, 'running', 1, created_at, started_at, 1 FROM input
        ON CONFLICT (store, id) DO UPDATE SET
          task = CASE WHEN ${expired} THEN excluded.task ELSE j.task END,
          args = CASE WHEN ${expired} THEN excluded.args ELSE j.args END,
          metadata = CASE WHEN ${expired} THEN excluded.metadata ELSE j.metadata END,
          progress = CASE WHEN ${expired} THEN NULL ELSE j.progress END,
          created_at = CASE WHEN ${expired} THEN excluded.created_at ELSE j.created_at END,
          attempt = CASE WHEN ${expired} THEN 1 ELSE j.attempt + 1 END,
          status = 'running', started_at = excluded.started_at, result = NULL, error = NULL,
          ended_at = NULL, expires_at = NULL, version = j.version + 1
        WHERE j.status NOT IN ${FINAL} OR ${expired}
        RETURNING j.id, ${CHANGE} AS change
      )
      SELECT id, change FROM started, ${notify('$8')} AS announced
      UNION ALL
      SELECT j.id, ${CHANGE} FROM ${table} AS j JOIN input AS i ON j.id = i.id
      WHERE j.store = $1 AND ${kept} AND NOT EXISTS (SELECT FROM started AS s WHERE s.id = i.id)`,
    finish: `WITH written AS (
        UPDATE ${table} AS j SET status = i.status, result = i.result, error = i.error,
          ended_at = i.ended_at, expires_at = now() + i.retention * interval '1 millisecond',
          version = j.version + 1
        FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::float8[])
          AS i(id, status, result, error, ended_at, retention)
        WHERE j.store = $1 AND j.id = i.id AND j.status NOT IN ${FINAL}
        RETURNING j.id, j.status, ${CHANGE} AS change
      )
      SELECT id, CASE WHEN status = 'cancelled' THEN pg_notify($9, id) END, ${notify('$8')} FROM written`,
    retrying: updateOne(`status = 'scheduled'`, '$3'),
    progress: updateOne('progress = $3', '$4'),
    remove: `DELETE FROM ${table} WHERE store = $1 AND id = $2`,
    cancelledSince: `SELECT id FROM ${table} WHERE store = $1 AND status = 'cancelled' AND ended_at >= $2`,
    // The same status list as the index jobs_failures, so that it is read in order and stops at $2.
    recentFailures: `SELECT ${RECORD} AS record FROM ${table} AS j
      WHERE j.store = $1 AND j.status IN ('failed', 'timeout', 'cancelled') AND ${kept}
      ORDER BY j.ended_at DESC LIMIT $2`,
    sweep: `DELETE FROM ${table} WHERE (store, id) IN (
        SELECT store, id FROM ${table} WHERE expires_at <= now() LIMIT $1 FOR UPDATE SKIP LOCKED
      )`,
  };
  const prepared = Object.entries(texts).map(([key, text]) => {
    const digest = createHash('sha256').update(text).digest('hex').slice(0, 32);
    return [key, { name: `sluice_job_${digest}`, text }];
  });
  return Object.fromEntries(prepared) as unknown as JobStatements;
}

/** What `CHANGE` spelled for job `id`. */
export function changeOf(id: string, change: string): JobChange {
  return { id, ...(JSON.parse(change) as Omit<JobChange, 'id'>) };
}

/**
 * A notification of a changes channel, if it is about a job `wanted(id)` accepts: the change it
 * carries, or the job's id alone when the change was too large to carry (read the row then).
 * `undefined` for any other job, or for a payload sluice did not write.
 */
export function changeOfAnnouncement(
  payload: string,
  wanted: (id: string) => boolean,
): JobChange | string | undefined {
  // JSON escapes a newline, so the first one ends the id.
  const newline = payload.indexOf('\n');
  try {
    const id: unknown = JSON.parse(newline < 0 ? payload : payload.slice(0, newline));
    if (typeof id !== 'string' || !wanted(id)) return undefined;
    return newline < 0 ? id : changeOf(id, payload.slice(newline + 1));
  } catch {
    return undefined;
  }
}
