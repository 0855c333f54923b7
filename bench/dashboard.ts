/**
 * What an open dashboard costs the consumers (`npx tsx bench/dashboard.ts`): a Pump's processing
 * rate on a Redis queue (no-op handler, concurrency 16) without a dashboard and with one serving 50
 * queues of 100,000 dead letters each, an event-stream client connected (an open page). The
 * dashboard runs in the consumer's own process, the harder case: its sampling shares the consumer's
 * event loop. Rounds alternate without / with, so that a drift of the machine hits both alike; the
 * medians are compared. The dead letters are written straight into the dead-letter queues' streams
 * (docs/wire-protocol.md (Redis)), as the dead-letter script writes them. Every key is deleted at
 * the end. Redis must be reachable at SLUICE_REDIS_URL (default redis://127.0.0.1:6379).
 */
import { Redis } from 'ioredis';
import { type Dashboard, serveDashboard } from '../src/dashboard/index.js';
import { Pump } from '../src/queuing/pump/pump.js';
import { RedisQueue } from '../src/transports/redis/index.js';
import { rate } from './support/load.js';
import { printTable } from './support/publish.js';
import { formatRate, machineLine, median } from './support/report.js';

const url = process.env.SLUICE_REDIS_URL ?? 'redis://127.0.0.1:6379';
const QUEUES = 50;
const DEAD_LETTERS = 100_000;
const MESSAGES = 200_000;
const ROUNDS = 3;
const CONCURRENCY = 16;
/** XADDs per pipeline while filling the dead-letter queues. */
const FILL_BATCH = 10_000;
/** How long the dashboard's CPU time is measured, in milliseconds. */
const CPU_WINDOW = 10_000;
/** The slowdown the dashboard may cause (the target). */
const TARGET = 0.05;

const base = `sluice-bench-dashboard-${process.pid}`;
const work = `${base}-work`;
const shown = Array.from({ length: QUEUES }, (_, i) => `${base}-${i}`);

/**
 * Appends `DEAD_LETTERS` letters to the first shown queue's dead-letter queue (`<name>.dead`), then
 * copies that stream to the others' (COPY, server-side): the same letters, and the same ids,
 * which only need to differ within a queue.
 */
async function fillDeadLetters(admin: Redis): Promise<void> {
  const reason = 'failed 5 of 5 attempts: TypeError: cannot read properties of undefined';
  const streams = shown.map((name) => `sluice:{${name}.dead}:stream`);
  for (let start = 0; start < DEAD_LETTERS; start += FILL_BATCH) {
    const pipeline = admin.pipeline();
    for (let i = start; i < start + FILL_BATCH; i++) {
      const id = `letter-${i}`;
      const body = `{"id":"${id}","payload":{"order":${i},"customer":"c-${i % 977}","total":${i % 500}.5}}`;
      pipeline.xadd(
        streams[0]!,
        '*',
        'body',
        body,
        'reason',
        reason,
        'queue',
        shown[0]!,
        'id',
        id,
        'lastAttempt',
        '5',
      );
    }
    await pipeline.exec();
  }
  for (const stream of streams.slice(1)) await admin.copy(streams[0]!, stream);
}

/** Sends `MESSAGES` to the work queue, then resolves with the rate at which a fresh Pump handles them. */
async function processingRate(producer: RedisQueue<number>): Promise<number> {
  await Promise.all(Array.from({ length: MESSAGES }, (_, i) => producer.send(i)));
  const consumer = new RedisQueue<number>(work, { url });
  let left = MESSAGES;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const start = performance.now();
  const draining = new Pump(consumer, () => {
    if (--left === 0) finish();
  }).draining({ concurrency: CONCURRENCY });
  await done;
  const measured = rate(MESSAGES, start);
  await draining.stop();
  await consumer.close();
  return measured;
}

/** Milliseconds of this process's CPU time per second over `ms`, the process otherwise idle. */
async function cpuPerSecond(ms: number): Promise<number> {
  const before = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const { user, system } = process.cpuUsage(before);
  return (user + system) / 1000 / (ms / 1000);
}

/** An open page: the event stream, read as it comes. Resolves once the first counts arrived. */
async function openPage(dashboard: Dashboard): Promise<{ events: () => number; close(): void }> {
  const controller = new AbortController();
  const response = await fetch(new URL('/events', dashboard.url), { signal: controller.signal });
  let events = 0;
  let first!: () => void;
  const arrived = new Promise<void>((resolve) => (first = resolve));
  void (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        events += decoder.decode(chunk, { stream: true }).split('event: stats\n').length - 1;
        if (events > 0) first();
      }
    } catch {
      // closed at the end of the round
    }
  })();
  await arrived;
  return { events: () => events, close: () => controller.abort() };
}

async function deleteKeys(admin: Redis): Promise<void> {
  for (const name of [work, ...shown.flatMap((name) => [name, `${name}.dead`])]) {
    const keys = await admin.keys(`sluice:{${name}}:*`);
    if (keys.length > 0) await admin.unlink(...keys);
  }
}

const admin = new Redis(url);
const producer = new RedisQueue<number>(work, { url });
const queues = shown.map((name) => new RedisQueue<unknown>(name, { url }));
try {
  const start = performance.now();
  await fillDeadLetters(admin);
  console.log(
    `filled ${QUEUES} dead-letter queues with ${DEAD_LETTERS.toLocaleString('en-US')} letters each in ${((performance.now() - start) / 1000).toFixed(1)} s`,
  );
  const without: number[] = [];
  const withPage: number[] = [];
  let samples = 0;
  for (let round = 0; round < ROUNDS; round++) {
    without.push(await processingRate(producer));
    const dashboard = await serveDashboard({ queues, port: 0 });
    const page = await openPage(dashboard);
    withPage.push(await processingRate(producer));
    samples += page.events();
    page.close();
    await dashboard.close();
  }
  // The dashboard's own cost, less sensitive to a busy machine than rates are: the CPU time it
  // takes in the consumer's process, with a page open and no consumer, against the same process idle.
  const idle = await cpuPerSecond(CPU_WINDOW);
  const dashboard = await serveDashboard({ queues, port: 0 });
  const page = await openPage(dashboard);
  const serving = await cpuPerSecond(CPU_WINDOW);
  page.close();
  await dashboard.close();
  const off = median(without);
  const on = median(withPage);
  const slowdown = 1 - on / off;
  console.log(
    `\n${machineLine()}; ${MESSAGES.toLocaleString('en-US')} messages per round, ${ROUNDS} rounds each\n`,
  );
  printTable(
    `A Redis Pump with and without a dashboard in its process, ${MESSAGES.toLocaleString('en-US')} messages per round, ${ROUNDS} rounds each`,
    ['consumer (Pump, concurrency 16)', 'median msg/s', 'rounds'],
    [
      ['no dashboard', formatRate(off), without.map(formatRate).join(', ')],
      [
        `dashboard: ${QUEUES} queues × ${DEAD_LETTERS.toLocaleString('en-US')} dead letters, a page open`,
        formatRate(on),
        withPage.map(formatRate).join(', '),
      ],
    ],
  );
  console.log(
    `\nwith / without: ${(on / off).toFixed(3)} (slowdown ${(slowdown * 100).toFixed(1)} %, target ≤ ${TARGET * 100} %)`,
  );
  console.log(
    `the open page received ${samples} snapshots of the ${QUEUES} queues' counts while consumers ran`,
  );
  const cost = serving - idle;
  console.log(
    `the dashboard's own CPU time in the process: ${cost.toFixed(1)} ms per second, ${(cost / 10).toFixed(2)} % of a core (idle process: ${idle.toFixed(1)} ms/s)`,
  );
} finally {
  await Promise.allSettled([producer.close(), ...queues.map((queue) => queue.close())]);
  await deleteKeys(admin);
  admin.disconnect();
}
