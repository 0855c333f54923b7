/**
 * Versions 3 and 4 of the queues' tables: what the operator face (stats, dead letters, pause) reads, kept by
 * triggers so that rows written by programs in other languages are counted too.
 *
 * - `counts`: per queue, signed row-count deltas whose sum is the number of rows of the queue. Every
 *   statement that adds or removes rows appends a delta instead of updating one row per queue, so
 *   producers never wait on each other's (possibly long) transactions. Every so often a statement
 *   folds a queue's committed deltas into one row, taking only rows nobody else is folding (SKIP
 *   LOCKED): the sum stays a handful of rows, and folding never waits either.
 * - `paused`: a row per paused queue. `claim()` hands out nothing while it exists.
 * - `dead_at`, `dead_attempt`: when a row moved to another queue (dead-lettering) and the attempt it
 *   had, set by a trigger so that a foreign program's dead-lettering records them as well.
 */
export function operatorMigration(s: string): string {
  return `ALTER TABLE ${s}.messages ADD COLUMN dead_at timestamptz, ADD COLUMN dead_attempt integer;
     CREATE TABLE ${s}.counts (
       id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
       queue text NOT NULL,
       n bigint NOT NULL
     );
     CREATE INDEX counts_queue ON ${s}.counts (queue);
     CREATE TABLE ${s}.paused (queue text PRIMARY KEY, paused_at timestamptz NOT NULL DEFAULT now());
     CREATE FUNCTION ${s}.count_rows(count_queue text, delta bigint) RETURNS void LANGUAGE plpgsql AS $$
     DECLARE
       added bigint;
     BEGIN
       INSERT INTO ${s}.counts (queue, n) VALUES (count_queue, delta) RETURNING id INTO added;
       IF added % 32 = 0 THEN
         WITH folded AS (
           DELETE FROM ${s}.counts WHERE id IN (
             SELECT id FROM ${s}.counts WHERE queue = count_queue FOR UPDATE SKIP LOCKED
           ) RETURNING n
         )
         INSERT INTO ${s}.counts (queue, n) SELECT count_queue, sum(n) FROM folded HAVING count(*) > 0;
       END IF;
     END $$;
     CREATE FUNCTION ${s}.count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       PERFORM ${s}.count_rows(q.queue, q.n) FROM (SELECT queue, count(*) AS n FROM inserted GROUP BY queue) AS q;
       RETURN NULL;
     END $$;
     CREATE TRIGGER count_inserted AFTER INSERT ON ${s}.messages
       REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION ${s}.count_inserted();
     CREATE FUNCTION ${s}.count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       PERFORM ${s}.count_rows(q.queue, -q.n) FROM (SELECT queue, count(*) AS n FROM deleted GROUP BY queue) AS q;
       RETURN NULL;
     END $$;
     CREATE TRIGGER count_deleted AFTER DELETE ON ${s}.messages
       REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION ${s}.count_deleted();
     CREATE FUNCTION ${s}.count_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       WITH gone AS (DELETE FROM ${s}.counts RETURNING queue)
       INSERT INTO ${s}.counts (queue, n) SELECT DISTINCT queue, 0 FROM gone;
       RETURN NULL;
     END $$;
     CREATE TRIGGER count_truncated AFTER TRUNCATE ON ${s}.messages
       FOR EACH STATEMENT EXECUTE FUNCTION ${s}.count_truncated();
     CREATE FUNCTION ${s}.moved() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       NEW.dead_at := now();
       NEW.dead_attempt := OLD.attempt;
       PERFORM ${s}.count_rows(OLD.queue, -1);
       PERFORM ${s}.count_rows(NEW.queue, 1);
       RETURN NEW;
     END $$;
     CREATE TRIGGER moved BEFORE UPDATE OF queue ON ${s}.messages
       FOR EACH ROW WHEN (OLD.queue IS DISTINCT FROM NEW.queue) EXECUTE FUNCTION ${s}.moved();
     -- Counted after the triggers exist: creating them locked out writers until this commits.
     INSERT INTO ${s}.counts (queue, n) SELECT queue, count(*) FROM ${s}.messages GROUP BY queue;
     CREATE OR REPLACE FUNCTION ${s}.claim(claim_queue text, claim_limit integer, lease_ms float8)
     RETURNS TABLE (id bigint, attempt integer, body text, ready_at text, reason text, lease_expired boolean)
     LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off AS $$
     #variable_conflict use_column
     BEGIN
       IF EXISTS (SELECT FROM ${s}.paused AS p WHERE p.queue = claim_queue) THEN
         RETURN;
       END IF;
       RETURN QUERY
       WITH next AS MATERIALIZED (
         SELECT m.id, m.priority, m.run_at, m.locked_until FROM ${s}.messages AS m
         WHERE m.queue = claim_queue AND m.run_at <= now()
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
     END $$;`;
}

/**
 * `queue_stats()`: the counts of one queue in one call. A function, as `claim()` is, to pin the plan:
 * the rows not ready are counted from the claim index one priority at a time (found by a loose index
 * scan), where the planner, misled by a queue of a million rows, would rather scan the table (and
 * compile that plan, which alone costs more than the answer).
 */
export function statsMigration(s: string): string {
  return `CREATE FUNCTION ${s}.queue_stats(stats_queue text, dead_queue text)
     RETURNS TABLE (total bigint, dead bigint, delayed bigint, in_flight bigint, paused boolean)
     LANGUAGE plpgsql STABLE SET enable_seqscan = off SET enable_bitmapscan = off SET jit = off AS $$
     BEGIN
       RETURN QUERY
       WITH RECURSIVE priorities AS (
         (SELECT m.priority FROM ${s}.messages AS m WHERE m.queue = stats_queue ORDER BY m.priority DESC LIMIT 1)
         UNION ALL
         SELECT (SELECT m.priority FROM ${s}.messages AS m WHERE m.queue = stats_queue AND m.priority < p.priority
                 ORDER BY m.priority DESC LIMIT 1)
         FROM priorities AS p WHERE p.priority IS NOT NULL
       ), waiting AS (
         SELECT coalesce(sum(w.delayed), 0)::bigint AS delayed, coalesce(sum(w.in_flight), 0)::bigint AS in_flight
         FROM priorities AS p, LATERAL (
           SELECT count(*) FILTER (WHERE m.locked_until IS NULL) AS delayed,
                  count(*) FILTER (WHERE m.locked_until IS NOT NULL) AS in_flight
           FROM ${s}.messages AS m
           WHERE m.queue = stats_queue AND m.priority = p.priority AND m.run_at > now()
         ) AS w
         WHERE p.priority IS NOT NULL
       )
       SELECT (SELECT coalesce(sum(c.n), 0) FROM ${s}.counts AS c WHERE c.queue = stats_queue)::bigint,
         (SELECT coalesce(sum(c.n), 0) FROM ${s}.counts AS c WHERE c.queue = dead_queue)::bigint,
         w.delayed, w.in_flight,
         EXISTS (SELECT FROM ${s}.paused AS z WHERE z.queue = stats_queue)
       FROM waiting AS w;
     END $$;`;
}
