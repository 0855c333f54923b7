import { flowClaimFunction } from './flow-claim.js';

/**
 * Version 5 of the queues' tables: groups and flow limits (SPEC § 7).
 *
 * - `grp`: the message's group, NULL for the default group. Each row sits in exactly one claim index:
 *   `messages_claim`, now partial, holds the default group's rows, so a queue that never sees a group
 *   keeps the index, and the claim, it had; `messages_group` holds the grouped rows, group by group.
 *   `messages_group_due` finds the grouped rows that are not ready (in flight, delayed) without
 *   walking the ready ones: the in-flight count per group, and the next one to become ready.
 * - `flow`: a row per queue whose claims go through `claim_flow()`, locked by each of them, so that
 *   counting a group's leases and taking its rows, or reading and appending the rate log, is one
 *   step per queue; `last_group` is where the round-robin over the groups stopped.
 * - `rate_log`: the hand-outs of a rate-limited queue, one entry per claim (its time, its count),
 *   trimmed as entries leave the window.
 * - `claim()` hands grouped queues over to `claim_flow()` (fairness needs no option), so a program in
 *   another language that claims through it takes the groups in turn too.
 * - A row that moves to another queue (dead-lettering) leaves its group there: the dead-letter queue
 *   is one plain queue, listed from `messages_claim`, and the envelope still names the group, which
 *   `envelope_group()` reads back when a redrive returns the message to its queue.
 */
export function flowMigration(s: string): string {
  return `ALTER TABLE ${s}.messages ADD COLUMN grp text;
     DROP INDEX ${s}.messages_claim;
     CREATE INDEX messages_claim ON ${s}.messages (queue, priority DESC, run_at, id) WHERE grp IS NULL;
     CREATE INDEX messages_group ON ${s}.messages (queue, grp, priority DESC, run_at, id) WHERE grp IS NOT NULL;
     CREATE INDEX messages_group_due ON ${s}.messages (queue, run_at) INCLUDE (grp, locked_until)
       WHERE grp IS NOT NULL;
     CREATE TABLE ${s}.flow (queue text PRIMARY KEY, last_group text);
     CREATE TABLE ${s}.rate_log (queue text NOT NULL, at timestamptz NOT NULL, n integer NOT NULL);
     CREATE INDEX rate_log_queue ON ${s}.rate_log (queue, at);
     ${flowClaimFunction(s)}
     CREATE OR REPLACE FUNCTION ${s}.claim(claim_queue text, claim_limit integer, lease_ms float8)
     RETURNS TABLE (id bigint, attempt integer, body text, ready_at text, reason text, lease_expired boolean)
     LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off AS $$
     #variable_conflict use_column
     BEGIN
       IF EXISTS (SELECT FROM ${s}.paused AS p WHERE p.queue = claim_queue) THEN
         RETURN;
       END IF;
       IF EXISTS (SELECT FROM ${s}.messages AS m WHERE m.queue = claim_queue AND m.grp IS NOT NULL) THEN
         RETURN QUERY SELECT f.id, f.attempt, f.body, f.ready_at, f.reason, f.lease_expired
           FROM ${s}.claim_flow(claim_queue, claim_limit, lease_ms, NULL, NULL, NULL) AS f;
         RETURN;
       END IF;
       RETURN QUERY
       WITH next AS MATERIALIZED (
         SELECT m.id, m.priority, m.run_at, m.locked_until FROM ${s}.messages AS m
         WHERE m.queue = claim_queue AND m.grp IS NULL AND m.run_at <= now()
         ORDER BY m.priority DESC, m.run_at, m.id
         LIMIT claim_limit
         FOR UPDATE SKIP LOCKED
       ), claimed AS (
         UPDATE ${s}.messages AS m
         SET attempt = m.attempt + 1,
             locked_until = now() + lease_ms * interval '1 millisecond',
             run_at = now() + lease_ms * interval '1 millisecond'
         FROM next WHERE m.id = next.id
         RETURNING m.id, m.attempt, m.body, m.reason, next.priority, next.run_at, next.locked_until
       )
       SELECT c.id, c.attempt, c.body, c.run_at::text, c.reason, c.locked_until IS NOT NULL
       FROM claimed AS c ORDER BY c.priority DESC, c.run_at, c.id;
     END $$;
     ${statsFunction(s)}
     CREATE OR REPLACE FUNCTION ${s}.moved() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       NEW.dead_at := now();
       NEW.dead_attempt := OLD.attempt;
       NEW.grp := NULL;
       PERFORM ${s}.count_rows(OLD.queue, -1);
       PERFORM ${s}.count_rows(NEW.queue, 1);
       RETURN NEW;
     END $$;
     CREATE FUNCTION ${s}.envelope_group(body text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
     DECLARE
       named jsonb;
     BEGIN
       named := body::jsonb -> 'group';
       IF jsonb_typeof(named) = 'string' AND named #>> '{}' <> '' THEN
         RETURN named #>> '{}';
       END IF;
       RETURN NULL;
     EXCEPTION WHEN others THEN
       RETURN NULL;
     END $$;`;
}

/**
 * `queue_stats()` as version 4 made it, over both claim indexes: the default group's rows one
 * priority at a time (as before), the grouped rows not ready from `messages_group_due`. Each
 * priority is a LATERAL subquery, so each is one short range of `messages_claim`: joined instead,
 * the planner may walk every row of the queue for the rows past `now()`.
 */
export function statsFunction(s: string): string {
  return `CREATE OR REPLACE FUNCTION ${s}.queue_stats(stats_queue text, dead_queue text)
     RETURNS TABLE (total bigint, dead bigint, delayed bigint, in_flight bigint, paused boolean)
     LANGUAGE plpgsql STABLE SET enable_seqscan = off SET enable_bitmapscan = off SET jit = off AS $$
     BEGIN
       RETURN QUERY
       WITH RECURSIVE priorities AS (
         (SELECT m.priority FROM ${s}.messages AS m WHERE m.queue = stats_queue AND m.grp IS NULL
          ORDER BY m.priority DESC LIMIT 1)
         UNION ALL
         SELECT (SELECT m.priority FROM ${s}.messages AS m
                 WHERE m.queue = stats_queue AND m.grp IS NULL AND m.priority < p.priority
                 ORDER BY m.priority DESC LIMIT 1)
         FROM priorities AS p WHERE p.priority IS NOT NULL
       ), waiting AS (
         SELECT w.delayed, w.in_flight
         FROM priorities AS p, LATERAL (
           SELECT count(*) FILTER (WHERE m.locked_until IS NULL) AS delayed,
                  count(*) FILTER (WHERE m.locked_until IS NOT NULL) AS in_flight
           FROM ${s}.messages AS m
           WHERE m.queue = stats_queue AND m.grp IS NULL AND m.priority = p.priority AND m.run_at > now()
         ) AS w
         WHERE p.priority IS NOT NULL
         UNION ALL
         SELECT count(*) FILTER (WHERE m.locked_until IS NULL), count(*) FILTER (WHERE m.locked_until IS NOT NULL)
         FROM ${s}.messages AS m WHERE m.queue = stats_queue AND m.grp IS NOT NULL AND m.run_at > now()
       )
       SELECT (SELECT coalesce(sum(c.n), 0) FROM ${s}.counts AS c WHERE c.queue = stats_queue)::bigint,
         (SELECT coalesce(sum(c.n), 0) FROM ${s}.counts AS c WHERE c.queue = dead_queue)::bigint,
         (SELECT coalesce(sum(w.delayed), 0) FROM waiting AS w)::bigint,
         (SELECT coalesce(sum(w.in_flight), 0) FROM waiting AS w)::bigint,
         EXISTS (SELECT FROM ${s}.paused AS z WHERE z.queue = stats_queue);
     END $$;`;
}
