/**
 * PostgresQueue's operator face: the operations conformance suite, then what only PostgreSQL shows:
 * the pause row read by every handle and honoured by `claim()` for rows any program inserts, the
 * counts kept for foreign writes, and PostgresJobStore.recentFailures.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import { PostgresJobStore, type PostgresQueue } from '../../src/transports/postgres/index.js';
import { queueNames } from '../../src/transports/postgres/queue-names.js';
import { operationsSuite } from '../conformance/operations.js';
import { collect, type Numbered, statsBecome } from '../conformance/operations-support.js';
import { sleep } from '../support/async.js';
import { brokerAvailable } from '../support/broker.js';
import { adminPool, open, postgresHarness, purge, url } from './postgres-harness.js';

const up = await brokerAvailable('postgres');

describe.runIf(up)('PostgresQueue operations', () => {
  operationsSuite(postgresHarness);

  describe('on PostgreSQL', () => {
    const opened: PostgresQueue<unknown>[] = [];
    const names: string[] = [];

    function queue<T>(
      label: string,
      name = `sluice-pg-ops-${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    ) {
      if (!names.includes(name)) names.push(name);
      const handle = open<T>(name, { closeTimeout: 1_000 });
      opened.push(handle as PostgresQueue<unknown>);
      return handle;
    }

    afterEach(async () => {
      await Promise.allSettled(opened.splice(0).map((handle) => handle.close()));
      for (const name of names.splice(0)) {
        await adminPool().query('DELETE FROM sluice.paused WHERE queue = $1', [name]);
        await purge(name);
      }
    }, 30_000);

    it('pause is a row that every handle reads, and resume deletes it', async () => {
      const operator = queue<Numbered>('pause-row');
      await operator.pause();
      const other = queue<Numbered>('pause-row', operator.name);
      expect((await other.stats()).paused).toBe(true);
      const { rows } = await adminPool().query('SELECT queue FROM sluice.paused WHERE queue = $1', [
        operator.name,
      ]);
      expect(rows).toEqual([{ queue: operator.name }]);
      expect(await queueNames({ url })).toContain(operator.name);

      await other.resume();
      expect((await operator.stats()).paused).toBe(false);
    });

    it('a row a foreign program inserts while paused is not claimed until resume', async () => {
      const operator = queue<Numbered>('foreign');
      await operator.pause();
      const consumer = collect(queue<Numbered>('foreign', operator.name));
      await adminPool().query('INSERT INTO sluice.messages (queue, body) VALUES ($1, $2)', [
        operator.name,
        '{"payload":{"n":1}}',
      ]);
      // A claim by another program, through the documented function, gets nothing either.
      const { rows } = await adminPool().query('SELECT id FROM sluice.claim($1, 10, 30000)', [operator.name]);
      expect(rows).toEqual([]);
      await sleep(1_500);
      expect(consumer.messages).toEqual([]);
      await statsBecome(operator, { ready: 1, inFlight: 0, paused: true });

      await operator.resume();
      await consumer.reach(1);
      expect(consumer.messages).toEqual([{ n: 1 }]);
      await consumer.stop();
    });

    it('counts rows that foreign programs insert, dead-letter and delete', async () => {
      const operator = queue<Numbered>('foreign-counts');
      const name = operator.name;
      const pool = adminPool();
      await operator.declare();
      await pool.query(
        `INSERT INTO sluice.messages (queue, body) SELECT $1, '{"payload":{"n":' || n || '}}'
         FROM generate_series(1, 5) AS n`,
        [name],
      );
      await statsBecome(operator, { ready: 5, dead: 0 });
      const { rows } = await pool.query<{ id: string; attempt: number }>(
        'SELECT id, attempt FROM sluice.claim($1, 2, 30000)',
        [name],
      );
      await statsBecome(operator, { ready: 3, inFlight: 2 });
      // The documented dead-letter statement, as another program runs it: the move is counted and dated.
      await pool.query(
        `UPDATE sluice.messages SET queue = $3, reason = $4, attempt = 0, locked_until = NULL,
         run_at = now(), key = NULL WHERE id = $1 AND attempt = $2`,
        [rows[0]!.id, rows[0]!.attempt, `${name}.dead`, 'rejected'],
      );
      await pool.query('DELETE FROM sluice.messages WHERE id = $1 AND attempt = $2', [
        rows[1]!.id,
        rows[1]!.attempt,
      ]);
      await statsBecome(operator, { ready: 3, inFlight: 0, dead: 1 });
      const [letter] = await operator.deadLetters();
      expect(letter).toMatchObject({ message: { n: 1 }, reason: 'rejected', attempt: 1, id: rows[0]!.id });
      expect(Math.abs(letter!.deadAt - Date.now())).toBeLessThan(60_000);
    });

    it('declare creates the tables and sends nothing', async () => {
      const operator = queue<Numbered>('declare');
      await operator.declare();
      expect(await operator.stats()).toEqual({ ready: 0, delayed: 0, inFlight: 0, dead: 0, paused: false });
    });
  });

  describe('PostgresJobStore.recentFailures', () => {
    const store = `ops-failures-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

    afterEach(async () => {
      await adminPool().query('DELETE FROM sluice.jobs WHERE store = $1', [store]);
    });

    it('returns the failed, timed-out and cancelled jobs, last ended first, up to the limit', async () => {
      const jobs = new PostgresJobStore({ url, name: store });
      try {
        const ends = ['failed', 'success', 'timeout', 'cancelled', 'failed'] as const;
        for (const [i, status] of ends.entries()) {
          const id = `job-${i}`;
          await jobs.create({ id, task: 't', args: [i], status: 'pending', createdAt: Date.now() });
          await sleep(5); // distinct end times
          const error = status === 'success' ? undefined : { name: 'Error', message: `no ${i}` };
          await jobs.finish(id, { status, ...(error && { error }) });
        }
        await jobs.create({ id: 'running', task: 't', args: [], status: 'pending', createdAt: Date.now() });

        const failures = await jobs.recentFailures();
        expect(failures.map((job) => [job.id, job.status])).toEqual([
          ['job-4', 'failed'],
          ['job-3', 'cancelled'],
          ['job-2', 'timeout'],
          ['job-0', 'failed'],
        ]);
        expect(failures[0]!.error).toEqual({ name: 'Error', message: 'no 4' });
        expect((await jobs.recentFailures({ limit: 2 })).map((job) => job.id)).toEqual(['job-4', 'job-3']);
        for (const limit of [0, 1_001, 1.5]) {
          await expect(jobs.recentFailures({ limit })).rejects.toBeInstanceOf(InvalidOptionError);
        }

        // Read through the index, in its order, without a sort. On a table this small the planner
        // would rather scan it, or gather rows by bitmap and sort them, whichever the statistics
        // the earlier runs left make cheaper: both are switched off to see what the index serves.
        const client = await adminPool().connect();
        try {
          await client.query('BEGIN');
          await client.query('SET LOCAL enable_seqscan = off');
          await client.query('SET LOCAL enable_bitmapscan = off');
          const { rows } = await client.query(
            `EXPLAIN SELECT id FROM sluice.jobs WHERE store = 'any'
             AND status IN ('failed', 'timeout', 'cancelled') ORDER BY ended_at DESC LIMIT 20`,
          );
          const plan = rows.map((row) => Object.values(row)[0]).join('\n');
          expect(plan).toContain('jobs_failures');
          expect(plan).not.toContain('Sort');
        } finally {
          await client.query('ROLLBACK');
          client.release();
        }
      } finally {
        await jobs.close();
      }
    });
  });
});
