/**
 * A connection lost while checked out of the pool (the server killed it, or close() gave up waiting
 * and dropped it) fails what was using it and nothing else: pg also emits the loss on the client,
 * which would end the process were nobody listening. Here the checked-out connection is the one
 * migrating the schema, kept waiting on the migration lock held by this test.
 */
import { Pool, type PoolClient } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerUnavailableError } from '../../src/errors.js';
import { PostgresQueue } from '../../src/transports/postgres/index.js';
import { waitFor } from '../support/async.js';
import { brokerAvailable } from '../support/broker.js';
import { adminPool, lockPostgres, purge, url } from './postgres-harness.js';

const up = await brokerAvailable('postgres');

describe.runIf(up)('PostgresQueue losing a checked-out connection', () => {
  const name = `sluice-pg-loss-${process.pid}`;
  let unlock: () => Promise<void>;
  beforeAll(async () => {
    unlock = await lockPostgres();
  });
  afterAll(async () => {
    await purge(name);
    await unlock();
  });

  /** Holds the lock every migration of the `sluice` schema takes, until the returned function runs. */
  async function holdMigrationLock(): Promise<() => Promise<void>> {
    const client: PoolClient = await adminPool().connect();
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['sluice.migrate:sluice']);
    return async () => {
      await client.query('ROLLBACK');
      client.release();
    };
  }

  async function migrationWaiting(applicationName: string): Promise<void> {
    await waitFor(async () => {
      const { rows } = await adminPool().query(
        `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
        [applicationName],
      );
      return rows.length > 0;
    }, 'the migration to wait on its lock');
  }

  it('close() that drops a connection still migrating rejects the send, and the process goes on', async () => {
    const release = await holdMigrationLock();
    try {
      const queue = new PostgresQueue<{ n: number }>(name, { url, closeTimeout: 100 });
      const sent = queue.send({ n: 1 });
      sent.catch(() => {});
      await migrationWaiting('sluice');
      await queue.close();
      await expect(sent).rejects.toBeInstanceOf(BrokerUnavailableError);
    } finally {
      await release();
    }
  });

  it('a connection of a given pool killed while migrating rejects the send, and the pool lives on', async () => {
    const applicationName = `sluice-loss-${process.pid}`;
    const pool = new Pool({ connectionString: url, application_name: applicationName });
    pool.on('error', () => {});
    const release = await holdMigrationLock();
    try {
      const queue = new PostgresQueue<{ n: number }>(name, { pool });
      const sent = queue.send({ n: 1 });
      sent.catch(() => {});
      await migrationWaiting(applicationName);
      await adminPool().query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
        [applicationName],
      );
      await expect(sent).rejects.toBeInstanceOf(BrokerUnavailableError);
      await release();
      await queue.send({ n: 2 }); // migrates again on a fresh connection
      await queue.close();
      expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await release().catch(() => {});
      await pool.end();
    }
  });
});
