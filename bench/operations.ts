/**
 * The operator face under a deep queue: `stats()` with 1,000,000 messages waiting, on Redis and on
 * PostgreSQL (p50 and p99 of 200 calls, after 20 warm-up calls). A count that scanned the messages
 * would take tens of milliseconds at this depth; the adapters keep it to O(1) round trips.
 *
 *   npx tsx bench/operations.ts [--markdown]
 */
import type { OperableQueue } from '../src/queuing/operations.js';
import { PostgresQueue } from '../src/transports/postgres/index.js';
import { RedisQueue } from '../src/transports/redis/index.js';
import { deleteRedisKeys } from './support/job-contenders.js';
import { concurrently } from './support/load.js';
import { printTable } from './support/publish.js';
import { machineLine } from './support/report.js';

const DEPTH = 1_000_000;
const CALLS = 200;
const WARM_UP = 20;
const REDIS_URL = process.env.SLUICE_REDIS_URL ?? 'redis://127.0.0.1:6379';
const POSTGRES_URL = process.env.SLUICE_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

interface Timing {
  p50: number;
  p99: number;
  fill: number;
}

async function measure(queue: OperableQueue<{ n: number }>): Promise<Timing> {
  const start = performance.now();
  await concurrently(DEPTH, 1_000, (n) => queue.send({ n }));
  const fill = performance.now() - start;
  const stats = await queue.stats();
  if (stats.ready !== DEPTH) throw new Error(`expected ${DEPTH} ready, stats() says ${stats.ready}`);
  const times: number[] = [];
  for (let call = 0; call < WARM_UP + CALLS; call++) {
    const at = performance.now();
    await queue.stats();
    if (call >= WARM_UP) times.push(performance.now() - at);
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(CALLS * 0.5)]!, p99: times[Math.floor(CALLS * 0.99)]!, fill };
}

async function run(label: string, queue: OperableQueue<{ n: number }>): Promise<string[]> {
  try {
    const { p50, p99, fill } = await measure(queue);
    console.error(
      `${label}: filled ${DEPTH} in ${(fill / 1000).toFixed(1)} s; stats() p50 ${p50.toFixed(2)} ms`,
    );
    return [label, p50.toFixed(2), p99.toFixed(2)];
  } finally {
    await queue.purge();
    await queue.close();
  }
}

const name = `bench-operations-${process.pid}`;
const rows = [
  await run('RedisQueue', new RedisQueue<{ n: number }>(name, { url: REDIS_URL })),
  await run('PostgresQueue', new PostgresQueue<{ n: number }>(name, { url: POSTGRES_URL })),
];
await deleteRedisKeys(`sluice:{${name}*`);
console.log(`\n## stats() with ${DEPTH.toLocaleString('en-US')} messages waiting\n`);
console.log(`${machineLine()}. Command: \`npx tsx bench/operations.ts\`\n`);
printTable(
  `stats() with ${DEPTH.toLocaleString('en-US')} messages waiting`,
  ['queue', 'stats() p50 (ms)', 'p99 (ms)'],
  rows,
);
