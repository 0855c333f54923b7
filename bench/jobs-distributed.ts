/**
 * Jobs across processes, results kept: one producer process pushes 50,000 no-op jobs (at most 1,000
 * waiting at once) and waits for every one to end, while 1, 2 and 4 worker processes run them.
 * sluice's Jobs with a job store against BullMQ 6 (Queue + Worker processes + QueueEvents, its
 * `waitUntilFinished`) on Redis and on BullMQ's PostgreSQL backend, and pg-boss on PostgreSQL;
 * SQLite and NATS JetStream alone (no peer runs on them).
 * A bare queue's send → reply (a Pump replying on a second queue, the same two hops without a store)
 * is each backend's ceiling. Then push → result in the producer, one job at a time (p50, p99), next
 * to that bare round trip; and the producer's RSS, and its heap after a full collection, after
 * 50,000 and after 200,000 jobs.
 *
 *   npx tsx bench/jobs-distributed.ts [redis|postgres|sqlite|nats ...] [--markdown]
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { childArgs, reportToParent, runInChild } from './support/child.js';
import {
  bareNats,
  barePostgres,
  bareRedis,
  bullmqPostgres,
  bullmqRedis,
  type Contender,
  pgBoss,
  sluiceNats,
  sluicePostgres,
  sluiceRedis,
  sluiceSqlite,
} from './support/job-contenders.js';
import { printTable } from './support/publish.js';
import { formatMB, formatRate, formatRatio, machineLine } from './support/report.js';

const JOBS = 50_000;
const WINDOW = 1_000;
const WORKER_COUNTS = [1, 2, 4];
const ROUND_TRIPS = 2_000;

const contenders: Record<string, Contender> = {
  sluiceRedis,
  bullmqRedis,
  bareRedis,
  barePostgres,
  bullmqPostgres,
  pgBoss,
  sluicePostgres,
  sluiceSqlite,
  sluiceNats,
  bareNats,
};

interface Throughput {
  perSecond: number;
  rss: number;
  /** The producer's heap after a full collection: what it still holds once its jobs ended. */
  heap: number;
}

const args = childArgs();
if (args !== undefined) {
  const [role, key, name, count] = args as [string, string, string, string];
  const contender = contenders[key]!;
  if (role === 'worker') {
    const stop = await contender.work(name);
    process.stdout.write('ready\n');
    process.once('SIGTERM', () => {
      stop().finally(() => process.exit(0));
    });
  } else if (role === 'produce') {
    const ms = await contender.produce(name, Number(count), WINDOW);
    const rss = process.memoryUsage().rss;
    setFlagsFromString('--expose-gc');
    (runInNewContext('gc') as () => void)();
    reportToParent({ perSecond: (Number(count) / ms) * 1000, rss, heap: process.memoryUsage().heapUsed });
    process.exit(0);
  } else if (role === 'round-trips') {
    const times = await contender.roundTrips!(name, Number(count));
    reportToParent(times);
    process.exit(0);
  }
} else {
  await main();
}

/** Starts `count` worker processes of `key` on `name`; resolves once all are ready, with their stop. */
async function workers(key: string, name: string, count: number): Promise<() => Promise<void>> {
  const tsx = import.meta.resolve('tsx');
  const file = fileURLToPath(import.meta.url);
  const children = Array.from({ length: count }, () =>
    spawn(process.execPath, ['--import', tsx, file, '--bench-child', 'worker', key, name], {
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve, reject) => {
          child.once('exit', (code) => reject(new Error(`a ${key} worker exited with ${code}`)));
          createInterface({ input: child.stdout! }).on('line', (line) => {
            if (line === 'ready') resolve();
          });
        }),
    ),
  );
  return async () => {
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            child.removeAllListeners('exit');
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
          }),
      ),
    );
  };
}

async function throughput(key: string, workerCount: number, jobs = JOBS): Promise<Throughput> {
  const contender = contenders[key]!;
  const name = `bench-jobs-${key}-${workerCount}-${process.pid}`;
  await contender.clean(name);
  const stop = await workers(key, name, workerCount);
  try {
    return await runInChild<Throughput>(import.meta.url, ['produce', key, name, String(jobs)]);
  } finally {
    await stop();
    await contender.clean(name);
  }
}

async function roundTrips(key: string): Promise<{ p50: number; p99: number }> {
  const contender = contenders[key]!;
  const name = `bench-rtt-${key}-${process.pid}`;
  await contender.clean(name);
  const stop = await workers(key, name, 1);
  try {
    const times = await runInChild<number[]>(import.meta.url, [
      'round-trips',
      key,
      name,
      String(ROUND_TRIPS),
    ]);
    const sorted = times.slice(ROUND_TRIPS / 10).sort((a, b) => a - b); // the first tenth warms up
    return { p50: sorted[Math.floor(sorted.length * 0.5)]!, p99: sorted[Math.floor(sorted.length * 0.99)]! };
  } finally {
    await stop();
    await contender.clean(name);
  }
}

async function main(): Promise<void> {
  const rows: string[][] = [];
  const pairs: [string, ...string[]][] = [
    ['Redis', 'sluiceRedis', 'bullmqRedis', 'bareRedis'],
    ['PostgreSQL', 'sluicePostgres', 'bullmqPostgres', 'pgBoss', 'barePostgres'],
    ['SQLite', 'sluiceSqlite'],
    ['NATS', 'sluiceNats', 'bareNats'],
  ];
  const chosen = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
  const runs = (backend: string) =>
    chosen.length === 0 || chosen.some((pick) => backend.toLowerCase().startsWith(pick));
  for (const [backend, ...keys] of pairs) {
    if (!runs(backend)) continue;
    for (const count of WORKER_COUNTS) {
      const results: [string, Throughput][] = [];
      for (const key of keys) {
        const result = await throughput(key, count);
        console.log(
          `${backend}, ${count} worker process(es): ${contenders[key]!.label} ${formatRate(result.perSecond)} jobs/s`,
        );
        results.push([key, result]);
      }
      const [, ours] = results[0]!;
      for (const [key, result] of results) {
        rows.push([
          backend,
          String(count),
          contenders[key]!.label,
          formatRate(result.perSecond),
          formatRatio(ours.perSecond / result.perSecond),
          formatMB(result.rss),
        ]);
      }
    }
  }
  const latencyRows: string[][] = [];
  const timedKeys: [string, string[]][] = [
    ['Redis', ['bareRedis', 'sluiceRedis', 'bullmqRedis']],
    ['PostgreSQL', ['barePostgres', 'sluicePostgres']],
    ['NATS', ['bareNats', 'sluiceNats']],
  ];
  for (const key of timedKeys.flatMap(([backend, keys]) => (runs(backend) ? keys : []))) {
    const { p50, p99 } = await roundTrips(key);
    latencyRows.push([contenders[key]!.label, p50.toFixed(2), p99.toFixed(2)]);
  }
  const memory: string[][] = [];
  for (const jobs of runs('Redis') ? [50_000, 200_000] : []) {
    const { rss, heap } = await throughput('sluiceRedis', 1, jobs);
    memory.push([formatRate(jobs), formatMB(rss), formatMB(heap)]);
  }
  console.log(
    `\n## Jobs across processes: ${formatRate(JOBS)} no-op jobs, results kept, waited on by the producer\n`,
  );
  console.log(`${machineLine()}. Command: \`npx tsx bench/jobs-distributed.ts\`\n`);
  printTable(
    `Jobs across processes: ${formatRate(JOBS)} no-op jobs, results kept, waited on by the producer`,
    ['backend', 'workers', 'contender', 'jobs/s', 'sluice ×', 'producer RSS'],
    rows,
  );
  console.log(
    `\n### Push → result in the producer, one job at a time (ms, after ${ROUND_TRIPS / 10} warm-up jobs)\n`,
  );
  printTable(
    `Push → result in the producer, one job at a time (ms, after ${ROUND_TRIPS / 10} warm-up jobs)`,
    ['contender', 'p50', 'p99'],
    latencyRows,
  );
  if (memory.length === 0) return;
  console.log('\n### Producer RSS (sluice on Redis, 1 worker process): handles not waited on are not kept\n');
  printTable(
    'Producer RSS (sluice on Redis, 1 worker process)',
    ['jobs', 'producer RSS', 'producer heap after a full GC'],
    memory,
  );
}
