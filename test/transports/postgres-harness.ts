/**
 * The durable-suite harness for PostgresQueue, and the module the suite's child consumer imports
 * (`open`). Everything lives in the default `sluice` schema of the `test` database.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Pool } from 'pg';
import { PostgresQueue, type PostgresQueueOptions } from '../../src/transports/postgres/index.js';
import { ensureMigrated } from '../../src/transports/postgres/migrate.js';
import type { DurableHarness, DurableQueueOptions } from '../conformance/durable.js';
import { services, waitForPort } from '../support/broker.js';
import { isAlive } from '../support/process.js';

export const url = process.env.SLUICE_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function open<T>(name: string, options: DurableQueueOptions = {}): PostgresQueue<T> {
  return new PostgresQueue<T>(name, { url, ...(options as PostgresQueueOptions<T>) });
}

let admin: Pool | undefined;

/** A pool for the harness's own statements; it lets the process exit when idle. */
export function adminPool(): Pool {
  if (admin === undefined) {
    admin = new Pool({ connectionString: url, max: 2, allowExitOnIdle: true });
    admin.on('error', () => {}); // idle connections die when the restart test stops the server
  }
  return admin;
}

async function migrated(): Promise<Pool> {
  const pool = adminPool();
  await ensureMigrated(pool, 'sluice');
  return pool;
}

/** Deletes the queues' rows, then their count rows (summing to zero by then), so no test's queue stays listed. */
export async function purge(...names: string[]): Promise<void> {
  const pool = await migrated();
  const queues = names.flatMap((name) => [name, `${name}.dead`]);
  await pool.query('DELETE FROM sluice.messages WHERE queue = ANY($1::text[])', [queues]);
  await pool.query('DELETE FROM sluice.counts WHERE queue = ANY($1::text[])', [queues]);
  for (const table of ['flow', 'rate_log']) {
    await pool.query(`DELETE FROM sluice.${table} WHERE queue = ANY($1::text[])`, [queues]);
  }
}

const run = promisify(execFile);

const lockDir = join(tmpdir(), 'sluice-postgres-tests.lock');

/**
 * Vitest runs test files in parallel, and the durable suite's restart would break whatever another
 * PostgreSQL test file is doing at that moment. Both take this cross-process lock (an atomic mkdir
 * holding the owner's pid; a dead owner's lock is taken over): the restart around the restart,
 * postgres.test.ts for its whole run. Resolves with the function that releases it.
 */
export async function lockPostgres(): Promise<() => Promise<void>> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(join(lockDir, 'pid'), String(process.pid));
      return () => rm(lockDir, { recursive: true, force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number(await readFile(join(lockDir, 'pid'), 'utf8').catch(() => ''));
    if (owner > 0 && !isAlive(owner)) await rm(lockDir, { recursive: true, force: true });
    if (Date.now() > deadline) throw new Error(`${lockDir} still held by process ${owner} after 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Restarts the real cluster (bounded) and waits until it answers queries again. */
async function restart(whileDown?: () => Promise<void>): Promise<void> {
  const unlock = await lockPostgres();
  try {
    await restartCluster(whileDown);
  } finally {
    await unlock();
  }
}

/**
 * Restarts the cluster without taking lockPostgres, for a caller that holds it already (taking it
 * again would wait on the caller).
 */
export async function restartCluster(whileDown?: () => Promise<void>): Promise<void> {
  const { stdout: version } = await run('ls', ['/etc/postgresql']);
  const cluster = ['--skip-systemctl-redirect', version.trim(), 'main'];
  try {
    await run('pg_ctlcluster', [...cluster, 'stop'], { timeout: 60_000 });
    await whileDown?.();
  } finally {
    await run('pg_ctlcluster', [...cluster, 'start'], { timeout: 60_000 });
  }
  await waitForPort(services.postgres.port, 60_000);
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await adminPool().query('SELECT 1');
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

export const postgresHarness: DurableHarness = {
  name: 'postgres',
  service: 'postgres',
  open,
  purge: (name) => purge(name),
  async sendRaw(name, body) {
    const pool = await migrated();
    await pool.query('INSERT INTO sluice.messages (queue, body) VALUES ($1, $2)', [name, body]);
  },
  restart,
  childModule: fileURLToPath(import.meta.url),
};
