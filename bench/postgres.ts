/**
 * PostgresQueue against pg-boss 10 on the local PostgreSQL (`npx tsx bench/postgres.ts`).
 *
 * Measured, each in a fresh queue:
 * - processing 20,000 queued no-op messages: sluice through a Pump at concurrency 16; pg-boss in
 *   several configurations (work() with batchSize and several workers, tight fetch + complete
 *   loops), its best one is compared;
 * - enqueue of 20,000 messages: 20,000 concurrent `send`s vs one pg-boss `insert` of 20,000 jobs;
 * - send → handled latency on an idle queue (sluice: NOTIFY; pg-boss: work() at its minimum 0.5 s poll);
 * - sluice's claim rate (Pump, concurrency 16, first 10,000 messages) with 10,000 and with
 *   1,000,000 rows queued (the backlog is one generate_series INSERT, then VACUUM ANALYZE as
 *   autovacuum would leave it).
 * Everything lives in the schemas `sluice_bench` and `pgboss_bench`, dropped at the end.
 */
import { Pool } from 'pg';
import PgBoss from 'pg-boss';
import { Pump } from '../src/queuing/pump/pump.js';
import { PostgresQueue } from '../src/transports/postgres/index.js';
import { type BossResult, printPostgresResults } from './support/postgres-report.js';

const url = process.env.SLUICE_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SLUICE_SCHEMA = 'sluice_bench';
const BOSS_SCHEMA = 'pgboss_bench';
const MESSAGES = 20_000;
const CONCURRENCY = 16;
const LATENCY_SAMPLES = 200;
const BOSS_LATENCY_SAMPLES = 10;
const PHASE_TIMEOUT = 180_000;

interface Numbered {
  n: number;
}

const admin = new Pool({ connectionString: url, max: 2 });

function sluiceQueue(name: string): PostgresQueue<Numbered> {
  return new PostgresQueue<Numbered>(name, { url, dbSchema: SLUICE_SCHEMA });
}

/** Drains `count` messages from `queue` through a Pump; returns messages per second (acks written). */
async function pumpRate(queue: PostgresQueue<Numbered>, count: number): Promise<number> {
  let handled = 0;
  const all = deferred();
  const started = performance.now();
  const draining = new Pump(queue, () => {
    if (++handled === count) all.resolve();
  }).draining({ concurrency: CONCURRENCY });
  await bounded(all.promise, 'sluice processing');
  await draining.stop();
  await queue.close(); // returns once every ack is written
  return count / ((performance.now() - started) / 1000);
}

async function sluiceProcessing(): Promise<number> {
  const name = 'processing';
  const producer = sluiceQueue(name);
  await Promise.all(Array.from({ length: MESSAGES }, (_, n) => producer.send({ n })));
  await producer.close();
  const rate = await pumpRate(sluiceQueue(name), MESSAGES);
  await expectEmpty(`SELECT count(*)::int AS n FROM ${SLUICE_SCHEMA}.messages WHERE queue = $1`, [name]);
  return rate;
}

async function sluiceEnqueue(): Promise<number> {
  const queue = sluiceQueue('enqueue');
  await queue.migrate();
  const started = performance.now();
  await bounded(Promise.all(Array.from({ length: MESSAGES }, (_, n) => queue.send({ n }))), 'sluice enqueue');
  const rate = MESSAGES / ((performance.now() - started) / 1000);
  await queue.close();
  return rate;
}

async function sluiceLatency(): Promise<{ p50: number; p99: number }> {
  const queue = sluiceQueue('latency');
  await queue.migrate();
  let handled = deferred();
  const draining = new Pump(queue, () => handled.resolve()).draining({ concurrency: CONCURRENCY });
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    await sleep(5); // the consumer is idle again: waiting on LISTEN
    handled = deferred();
    const sent = performance.now();
    await queue.send({ n: i });
    await bounded(handled.promise, 'sluice latency sample');
    samples.push(performance.now() - sent);
  }
  await draining.stop();
  await queue.close();
  return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99) };
}

async function sluiceClaimRate(backlog: number): Promise<number> {
  const name = `backlog-${backlog}`;
  const queue = sluiceQueue(name);
  await queue.migrate();
  const client = await admin.connect();
  try {
    await client.query(`SET statement_timeout = ${PHASE_TIMEOUT}`);
    await client.query(
      `INSERT INTO ${SLUICE_SCHEMA}.messages (queue, body)
       SELECT $1, '{"id":"' || g || '","type":null,"attempt":1,"headers":{},"payload":{"n":' || g || '}}'
       FROM generate_series(1, $2::int) AS g`,
      [name, backlog],
    );
    // What autovacuum does to a backlog that built up over time (hint bits, visibility map, statistics).
    await client.query(`VACUUM (ANALYZE) ${SLUICE_SCHEMA}.messages`);
  } finally {
    client.release();
  }
  return pumpRate(queue, 10_000);
}

async function bossProcessing(boss: PgBoss): Promise<BossResult[]> {
  const configs: { config: string; run: (name: string) => Promise<void> }[] = [
    ...[100, 1_000].map((batchSize) => ({
      config: `work() batchSize ${batchSize}, 4 workers, poll 0.5 s`,
      run: (name: string) => bossWork(boss, name, batchSize, 4),
    })),
    ...[
      [100, 1],
      [100, 4],
      [500, 4],
    ].map(([batchSize, loops]) => ({
      config: `fetch + complete loop, batchSize ${batchSize}, ${loops} loop${loops === 1 ? '' : 's'}`,
      run: (name: string) => bossLoops(boss, name, batchSize!, loops!),
    })),
  ];
  const results: BossResult[] = [];
  for (const [i, { config, run }] of configs.entries()) {
    const name = `processing-${i}`;
    await boss.createQueue(name);
    await boss.insert(Array.from({ length: MESSAGES }, (_, n) => ({ name, data: { n } })));
    const started = performance.now();
    await bounded(run(name), `pg-boss ${config}`);
    await waitUntil(async () => (await pendingJobs(name)) === 0);
    results.push({ config, rate: MESSAGES / ((performance.now() - started) / 1000) });
  }
  return results;
}

async function bossWork(boss: PgBoss, name: string, batchSize: number, workers: number): Promise<void> {
  let handled = 0;
  const all = deferred();
  for (let i = 0; i < workers; i++) {
    await boss.work(name, { batchSize, pollingIntervalSeconds: 0.5 }, async (jobs) => {
      handled += jobs.length;
      if (handled >= MESSAGES) all.resolve();
    });
  }
  await all.promise;
  await boss.offWork(name);
}

async function bossLoops(boss: PgBoss, name: string, batchSize: number, loops: number): Promise<void> {
  const loop = async () => {
    for (;;) {
      const jobs = await boss.fetch(name, { batchSize });
      if (jobs.length === 0) return;
      await boss.complete(
        name,
        jobs.map((job) => job.id),
      );
    }
  };
  await Promise.all(Array.from({ length: loops }, loop));
}

async function bossInsert(boss: PgBoss): Promise<number> {
  const name = 'enqueue';
  await boss.createQueue(name);
  const started = performance.now();
  await bounded(
    boss.insert(Array.from({ length: MESSAGES }, (_, n) => ({ name, data: { n } }))),
    'pg-boss insert',
  );
  return MESSAGES / ((performance.now() - started) / 1000);
}

async function bossLatency(boss: PgBoss): Promise<{ p50: number; p99: number }> {
  const name = 'latency';
  await boss.createQueue(name);
  let handled = deferred();
  await boss.work(name, { pollingIntervalSeconds: 0.5 }, async () => handled.resolve());
  const samples: number[] = [];
  for (let i = 0; i < BOSS_LATENCY_SAMPLES; i++) {
    await sleep(5);
    handled = deferred();
    const sent = performance.now();
    await boss.send(name, { n: i });
    await bounded(handled.promise, 'pg-boss latency sample');
    samples.push(performance.now() - sent);
  }
  await boss.offWork(name);
  return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99) };
}

async function pendingJobs(name: string): Promise<number> {
  const { rows } = await admin.query(
    `SELECT count(*)::int AS n FROM ${BOSS_SCHEMA}.job WHERE name = $1 AND state < 'completed'`,
    [name],
  );
  return rows[0].n;
}

async function main(): Promise<void> {
  await dropSchemas();
  if (process.argv.includes('--claim-rate')) return claimRateOnly();
  const boss = new PgBoss({ connectionString: url, schema: BOSS_SCHEMA, supervise: false, schedule: false });
  boss.on('error', (error) => console.error('pg-boss:', error.message));
  await boss.start();
  try {
    console.error('sluice: latency, processing, enqueue...');
    const latency = await sluiceLatency(); // first, while the database is idle
    const processing = await sluiceProcessing();
    const enqueue = await sluiceEnqueue();
    console.error('pg-boss: processing configurations, insert, latency...');
    const bossRuns = await bossProcessing(boss);
    const insert = await bossInsert(boss);
    const bossLat = await bossLatency(boss);
    console.error('sluice: claim rate with 10,000 then 1,000,000 rows queued...');
    const small = await sluiceClaimRate(10_000);
    const large = await sluiceClaimRate(1_000_000);

    printPostgresResults({
      messages: MESSAGES,
      concurrency: CONCURRENCY,
      processing,
      enqueue,
      latency,
      bossRuns,
      insert,
      bossLatency: bossLat,
      claimRates: { small, large },
    });
  } finally {
    await boss.stop({ graceful: false, wait: true }).catch(() => {});
    await dropSchemas();
    await admin.end();
  }
}

/** `npx tsx bench/postgres.ts --claim-rate`: only the backlog comparison (about a minute). */
async function claimRateOnly(): Promise<void> {
  try {
    const small = await sluiceClaimRate(10_000);
    const large = await sluiceClaimRate(1_000_000);
    console.log(
      `claim rate: ${Math.round(small)}/s with 10,000 queued, ${Math.round(large)}/s with 1,000,000 (${(large / small).toFixed(2)}×)`,
    );
  } finally {
    await dropSchemas();
    await admin.end();
  }
}

async function dropSchemas(): Promise<void> {
  await admin.query(`DROP SCHEMA IF EXISTS ${SLUICE_SCHEMA} CASCADE`);
  await admin.query(`DROP SCHEMA IF EXISTS ${BOSS_SCHEMA} CASCADE`);
}

async function expectEmpty(text: string, values: unknown[]): Promise<void> {
  const { rows } = await admin.query(text, values);
  if (rows[0].n !== 0) throw new Error(`expected every message to be acked, ${rows[0].n} rows left`);
}

async function waitUntil(condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + PHASE_TIMEOUT;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for pg-boss to complete its jobs');
    await sleep(10);
  }
}

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took more than ${PHASE_TIMEOUT} ms`)), PHASE_TIMEOUT);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

await main();
