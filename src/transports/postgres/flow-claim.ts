/**
 * `claim_flow()`, the claim of a grouped or flow-limited queue (created by version 5, see
 * flow-migration.ts; version 6 replaced it with this body).
 *
 * $1 queue, $2 limit, $3 lease ms, $4 rate limit (NULL: none), $5 its interval ms, $6 group cap
 * (NULL: none). One call at a time per queue: each locks the queue's `flow` row first, then reads
 * the clock (`clock_timestamp()`, so calls that queued on the lock see time in the order they ran).
 * The lock is held until the claim commits, so the claim commits without waiting for its WAL to
 * reach the disk (`synchronous_commit` off for its transaction): the next claim of the queue does
 * not wait for that flush. A server crash may then forget the last claims: their rows are ready
 * again at once, their attempt not counted, as at-least-once delivery allows.
 *
 * - Rate limit: the rate log's entries older than the interval are trimmed; what is left in the
 *   window is subtracted from the limit, and the claim takes at most the rest, then appends one entry:
 *   how many it took, at the time it is done (the rows leave for their consumer then, so the time
 *   spent claiming does not shift a window). When the window left less than was asked (or nothing),
 *   the last row returned has a NULL `id` and `wait_ms`: when the entries leaving the window will
 *   have freed room for as many rows as were asked (at most the limit).
 * - Groups are visited round-robin in a fixed order (the groups by name, then the default group),
 *   starting after `flow.last_group` (NULL there: the default group came last). A visit notes a
 *   group's room: the rows wanted, under the cap less its leased rows (`run_at` still ahead and
 *   `locked_until` set: a dead consumer's lease frees its slot when it runs out). Visits stop once as
 *   many groups as rows wanted have room, or every group was visited; only in the latter case, when
 *   a group may be dealt more than one row, are its ready rows counted (up to its room). The rows
 *   are then dealt one per group per round, in visit order, and each group's are taken in its own
 *   order (priority, then readiness, then id) with `FOR UPDATE SKIP LOCKED`. They come back in the
 *   order they were dealt; `last_group` becomes the group dealt the last row.
 *
 * Each step over the groups is one statement (a loose index scan over `messages_group`), not one
 * per group: a statement's own cost, times a thousand groups, would be most of the claim.
 */
export function flowClaimFunction(s: string): string {
  const messages = `${s}.messages`;
  // The next groups with ready rows and room, in name order from `start` (a condition on m.grp) and
  // up to `end`, at most as many as rows are still wanted: appended to the visits, each with its
  // room. One probe of the index finds the next group with a ready row (skipping those with none).
  const visit = (start: string, end: string) => `SELECT coalesce(array_agg(v.grp ORDER BY v.n), '{}'),
           coalesce(array_agg(v.ready ORDER BY v.n), '{}')
         INTO found_groups, found_rooms FROM (
           WITH RECURSIVE walk(grp, n) AS (
             (SELECT m.grp, 1 FROM ${messages} AS m
              WHERE m.queue = claim_queue AND m.grp IS NOT NULL ${start} AND m.run_at <= clock
              ORDER BY m.grp LIMIT 1)
             UNION ALL
             SELECT (SELECT m.grp FROM ${messages} AS m
                     WHERE m.queue = claim_queue AND m.grp IS NOT NULL AND m.grp > w.grp ${end}
                       AND m.run_at <= clock
                     ORDER BY m.grp LIMIT 1), w.n + 1
             FROM walk AS w WHERE w.grp IS NOT NULL
           )
           SELECT w.grp, w.n, c.room AS ready
           FROM walk AS w
           CROSS JOIN LATERAL (
             SELECT least(wanted, group_cap - coalesce((leased ->> w.grp)::bigint, 0)) AS room
           ) AS c
           WHERE w.grp IS NOT NULL AND c.room > 0
           LIMIT wanted - cardinality(visit_groups)
         ) AS v;
         visit_groups := visit_groups || found_groups;
         visit_rooms := visit_rooms || found_rooms;`;
  const picked = `SELECT m.id, m.priority, m.run_at, m.locked_until IS NOT NULL AS expired FROM ${messages} AS m
               WHERE m.queue = claim_queue AND m.run_at <= clock`;
  const order = 'ORDER BY m.priority DESC, m.run_at, m.id';
  // Appends the rows taken to the picks, each with its round (its rank in its group) and its visit.
  const pick = (from: string) => `SELECT picked_ids || coalesce(array_agg(x.id), '{}'),
           picked_rounds || coalesce(array_agg(x.round), '{}'),
           picked_visits || coalesce(array_agg(x.visit), '{}'),
           picked_ready || coalesce(array_agg(x.run_at), '{}'),
           picked_expired || coalesce(array_agg(x.expired), '{}')
         INTO picked_ids, picked_rounds, picked_visits, picked_ready, picked_expired FROM (
           SELECT p.id, p.run_at, p.expired, v.visit::integer AS visit,
             (row_number() OVER (PARTITION BY v.visit ORDER BY p.priority DESC, p.run_at, p.id))::integer AS round
           ${from}
         ) AS x;`;
  return `CREATE OR REPLACE FUNCTION ${s}.claim_flow(claim_queue text, claim_limit integer, lease_ms float8,
       rate_limit integer, rate_interval_ms float8, group_cap integer)
     RETURNS TABLE (id bigint, attempt integer, body text, ready_at text, reason text, lease_expired boolean,
       wait_ms float8)
     LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off AS $$
     #variable_conflict use_column
     DECLARE
       clock timestamptz;
       lease_end timestamptz;
       pointer text;
       wanted integer := claim_limit;
       rate_capped boolean := false;
       rate_room bigint;
       grouped boolean;
       room bigint;
       ready bigint;
       leased jsonb;
       found_groups text[];
       found_rooms bigint[];
       visit_groups text[] := '{}';
       visit_rooms bigint[] := '{}';
       dealt integer[];
       total integer := 0;
       last_visit integer := 0;
       deal_round integer := 0;
       progressed boolean;
       picked_ids bigint[] := '{}';
       picked_rounds integer[] := '{}';
       picked_visits integer[] := '{}';
       picked_ready timestamptz[] := '{}';
       picked_expired boolean[] := '{}';
       claimed_count integer := 0;
     BEGIN
       IF EXISTS (SELECT FROM ${s}.paused AS p WHERE p.queue = claim_queue) THEN
         RETURN;
       END IF;
       SELECT f.last_group INTO pointer FROM ${s}.flow AS f WHERE f.queue = claim_queue FOR UPDATE;
       IF NOT FOUND THEN
         INSERT INTO ${s}.flow (queue) VALUES (claim_queue) ON CONFLICT DO NOTHING;
         SELECT f.last_group INTO pointer FROM ${s}.flow AS f WHERE f.queue = claim_queue FOR UPDATE;
       END IF;
       PERFORM set_config('synchronous_commit', 'off', true);
       clock := clock_timestamp();
       lease_end := clock + lease_ms * interval '1 millisecond';
       IF rate_limit IS NOT NULL THEN
         DELETE FROM ${s}.rate_log AS l
         WHERE l.queue = claim_queue AND l.at <= clock - rate_interval_ms * interval '1 millisecond';
         SELECT rate_limit - coalesce(sum(l.n), 0) INTO rate_room FROM ${s}.rate_log AS l
         WHERE l.queue = claim_queue;
         IF rate_room < wanted THEN
           wanted := greatest(rate_room, 0);
           rate_capped := true;
         END IF;
       END IF;
       IF wanted > 0 THEN
         -- Whether a grouped row is ready, probed as the walk probes (by group, in messages_group):
         -- by readiness, the scan would start among the entries the last claims left dead.
         grouped := (SELECT m.grp FROM ${messages} AS m
           WHERE m.queue = claim_queue AND m.grp IS NOT NULL AND m.run_at <= clock ORDER BY m.grp LIMIT 1) IS NOT NULL;
         IF grouped AND group_cap IS NOT NULL THEN
           SELECT jsonb_object_agg(l.grp, l.n) INTO leased FROM (
             SELECT m.grp, count(*) AS n FROM ${messages} AS m
             WHERE m.queue = claim_queue AND m.grp IS NOT NULL AND m.run_at > clock AND m.locked_until IS NOT NULL
             GROUP BY m.grp
           ) AS l;
         END IF;
         IF grouped AND pointer IS NULL THEN
           ${visit('', '')}
         ELSIF grouped THEN
           ${visit('AND m.grp > pointer', '')}
         END IF;
         IF cardinality(visit_groups) < wanted THEN
           room := wanted;
           IF group_cap IS NOT NULL THEN
             WITH RECURSIVE priorities AS (
               (SELECT m.priority FROM ${messages} AS m WHERE m.queue = claim_queue AND m.grp IS NULL
                ORDER BY m.priority DESC LIMIT 1)
               UNION ALL
               SELECT (SELECT m.priority FROM ${messages} AS m
                       WHERE m.queue = claim_queue AND m.grp IS NULL AND m.priority < p.priority
                       ORDER BY m.priority DESC LIMIT 1)
               FROM priorities AS p WHERE p.priority IS NOT NULL
             )
             SELECT least(room, group_cap - count(*)) INTO room FROM priorities AS p
             JOIN ${messages} AS m ON m.queue = claim_queue AND m.grp IS NULL AND m.priority = p.priority
               AND m.run_at > clock AND m.locked_until IS NOT NULL;
           END IF;
           IF room > 0 AND NOT grouped THEN
             -- The default group alone: its rows are taken as the plain claim takes them, no count first.
             visit_groups := ARRAY[NULL::text];
             visit_rooms := ARRAY[room];
           ELSIF room > 0 THEN
             SELECT count(*) INTO ready FROM (
               SELECT FROM ${messages} AS m WHERE m.queue = claim_queue AND m.grp IS NULL AND m.run_at <= clock
               LIMIT room
             ) AS x;
             IF ready > 0 THEN
               visit_groups := array_append(visit_groups, NULL::text);
               visit_rooms := array_append(visit_rooms, ready);
             END IF;
           END IF;
         END IF;
         IF grouped AND pointer IS NOT NULL AND cardinality(visit_groups) < wanted THEN
           ${visit('AND m.grp <= pointer', 'AND m.grp <= pointer')}
         END IF;
         IF cardinality(visit_groups) < wanted THEN
           -- Fewer groups than rows wanted: some are dealt more than one round, so how many rows each
           -- has ready (up to its room) is needed now, and only now.
           SELECT coalesce(array_agg(CASE WHEN v.grp IS NULL OR v.room <= 1 THEN v.room ELSE (
               SELECT count(*) FROM (
                 SELECT FROM ${messages} AS m
                 WHERE m.queue = claim_queue AND m.grp IS NOT NULL AND m.grp = v.grp AND m.run_at <= clock
                 LIMIT v.room
               ) AS x
             ) END ORDER BY v.n), '{}')
           INTO visit_rooms FROM unnest(visit_groups, visit_rooms) WITH ORDINALITY AS v(grp, room, n);
         END IF;
         dealt := array_fill(0, ARRAY[cardinality(visit_groups)]);
         LOOP
           deal_round := deal_round + 1;
           progressed := false;
           FOR i IN 1 .. cardinality(visit_groups) LOOP
             EXIT WHEN total = wanted;
             IF visit_rooms[i] >= deal_round THEN
               dealt[i] := deal_round;
               total := total + 1;
               last_visit := i;
               progressed := true;
             END IF;
           END LOOP;
           EXIT WHEN total = wanted OR NOT progressed;
         END LOOP;
         IF total > 0 AND grouped THEN
           ${pick(`FROM unnest(visit_groups, dealt) WITH ORDINALITY AS v(grp, n, visit)
           CROSS JOIN LATERAL (${picked} AND m.grp IS NOT NULL AND m.grp = v.grp
             ${order} LIMIT v.n FOR UPDATE SKIP LOCKED) AS p
           WHERE v.grp IS NOT NULL AND v.n > 0`)}
         END IF;
         IF total > 0 AND array_position(visit_groups, NULL) IS NOT NULL THEN
           ${pick(`FROM (SELECT array_position(visit_groups, NULL) AS visit) AS v
           CROSS JOIN LATERAL (${picked} AND m.grp IS NULL
             ${order} LIMIT dealt[v.visit] FOR UPDATE SKIP LOCKED) AS p`)}
         END IF;
         IF cardinality(picked_ids) > 0 THEN
           RETURN QUERY
           WITH picks AS (
             SELECT * FROM unnest(picked_ids, picked_rounds, picked_visits, picked_ready, picked_expired)
               AS p(id, round, visit, ready_at, expired)
           ), claimed AS (
             UPDATE ${messages} AS m
             SET attempt = m.attempt + 1, locked_until = lease_end, run_at = lease_end
             FROM picks AS p WHERE m.id = p.id
             RETURNING m.id, m.attempt, m.body, m.reason, p.round, p.visit, p.ready_at, p.expired
           )
           SELECT c.id, c.attempt, c.body, c.ready_at::text, c.reason, c.expired, NULL::float8
           FROM claimed AS c ORDER BY c.round, c.visit;
           GET DIAGNOSTICS claimed_count = ROW_COUNT;
         END IF;
         IF claimed_count > 0 AND grouped THEN
           UPDATE ${s}.flow AS f SET last_group = visit_groups[last_visit] WHERE f.queue = claim_queue;
         END IF;
         IF claimed_count > 0 AND rate_limit IS NOT NULL THEN
           INSERT INTO ${s}.rate_log (queue, at, n) VALUES (claim_queue, clock_timestamp(), claimed_count);
         END IF;
       END IF;
       IF rate_capped AND claimed_count >= wanted THEN
         -- Until the entries leaving the window free room for as many as were asked (or the whole
         -- limit): one claim then, rather than one per entry that leaves.
         RETURN QUERY SELECT NULL::bigint, NULL::integer, NULL::text, NULL::text, NULL::text, NULL::boolean,
           greatest(extract(epoch FROM w.at - clock_timestamp()) * 1000 + rate_interval_ms, 1)::float8
         FROM (
           SELECT l.at, sum(l.n) OVER (ORDER BY l.at) AS freed FROM ${s}.rate_log AS l
           WHERE l.queue = claim_queue
         ) AS w
         WHERE w.freed >= least(claim_limit, rate_limit) - (rate_room - claimed_count)
         ORDER BY w.at LIMIT 1;
       END IF;
     END $$;`;
}
