/**
 * RedisQueue against BullMQ 5 and a raw-streams floor on the local Redis (`npx tsx bench/redis.ts`).
 *
 * - processing: 50,000 queued no-op messages. sluice: a Pump at concurrency 16. BullMQ: a Worker at
 *   concurrency 16, jobs added with removeOnComplete. Floor: one ioredis loop doing XREADGROUP
 *   COUNT 100, then one XACK for the batch (no dispatcher, envelope, dead-lettering or heartbeat).
 * - enqueue: 50,000 concurrent `send`s vs BullMQ `addBulk` of 50,000 jobs vs one ioredis pipeline
 *   of 50,000 XADDs.
 * - round trip: one send → handled at a time on an idle queue, p50 and p99 (BullMQ: add → processor).
 * Each contender uses its own keys, deleted at the end. Redis must be reachable at SLUICE_REDIS_URL
 * (default redis://127.0.0.1:6379).
 */
import { Queue as BullQueue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Pump } from '../src/queuing/pump/pump.js';
import { RedisQueue } from '../src/transports/redis/index.js';
import { rate } from './support/load.js';
import { printTable } from './support/publish.js';
import { formatRate, formatRatio, machineLine } from './support/report.js';

const url = process.env.SLUICE_REDIS_URL ?? 'redis://127.0.0.1:6379';
const MESSAGES = 50_000;
const CONCURRENCY = 16;
const ROUND_TRIPS = 2_000;
const { hostname: host, port } = new URL(url);
const connection = { host, port: Number(port || 6379), maxRetriesPerRequest: null };

interface Figures {
  /** messages per second */
  processing: number;
  enqueue: number;
  /** round trip, milliseconds */
  p50: number;
  p99: number;
}

/** Resolves once `handled()` was called `count` times. */
function counter(count: number): { handled(): void; done: Promise<void> } {
  let left = count;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return { handled: () => --left === 0 && finish(), done };
}

/** One message at a time: send, wait until the consumer handled it. */
async function roundTrips(send: (i: number) => Promise<unknown>, next: () => Promise<void>) {
  const samples: number[] = [];
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const handled = next();
    const start = performance.now();
    await send(i);
    await handled;
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  const at = (p: number) => samples[Math.min(samples.length - 1, Math.floor((samples.length * p) / 100))]!;
  return { p50: at(50), p99: at(99) };
}

/** A promise per handled message, for round trips: `next()` before sending, resolved by the handler. */
function handoff(): { next(): Promise<void>; handled(): void } {
  let resolve: (() => void) | undefined;
  return {
    next: () => new Promise<void>((r) => (resolve = r)),
    handled: () => resolve?.(),
  };
}

/** Deletes every key of a sluice queue (docs/wire-protocol.md, Redis: all start with `sluice:{<q>}`). */
async function deleteQueue(admin: Redis, name: string): Promise<void> {
  const keys = await admin.keys(`sluice:{${name}}:*`);
  if (keys.length > 0) await admin.del(...keys);
}

async function sluice(): Promise<Figures> {
  const name = `sluice-bench-${process.pid}`;
  const admin = new Redis(url);
  await deleteQueue(admin, name);
  const producer = new RedisQueue<number>(name, { url });
  const consumer = new RedisQueue<number>(name, { url });

  let start = performance.now();
  await Promise.all(Array.from({ length: MESSAGES }, (_, i) => producer.send(i)));
  const enqueue = rate(MESSAGES, start);

  const all = counter(MESSAGES);
  let onMessage = all.handled;
  start = performance.now();
  const draining = new Pump(consumer, () => onMessage()).draining({ concurrency: CONCURRENCY });
  await all.done;
  const processing = rate(MESSAGES, start);

  const each = handoff();
  onMessage = each.handled;
  const latency = await roundTrips((i) => producer.send(i), each.next);
  await draining.stop();
  await Promise.all([producer.close(), consumer.close()]);
  await deleteQueue(admin, name);
  admin.disconnect();
  return { processing, enqueue, ...latency };
}

async function bullmq(): Promise<Figures> {
  const name = `bullmq-bench-${process.pid}`;
  const queue = new BullQueue(name, { connection });
  const jobs = Array.from({ length: MESSAGES }, (_, i) => ({
    name: 'noop',
    data: i,
    opts: { removeOnComplete: true },
  }));
  let start = performance.now();
  await queue.addBulk(jobs);
  const enqueue = rate(MESSAGES, start);

  const all = counter(MESSAGES);
  let onJob = all.handled;
  start = performance.now();
  const worker = new Worker(name, async () => onJob(), { connection, concurrency: CONCURRENCY });
  await all.done;
  const processing = rate(MESSAGES, start);

  const each = handoff();
  onJob = each.handled;
  const latency = await roundTrips((i) => queue.add('noop', i, { removeOnComplete: true }), each.next);
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return { processing, enqueue, ...latency };
}

/** The raw streams floor: what ioredis alone does with XADD, XREADGROUP and XACK. */
async function floor(): Promise<Omit<Figures, 'p50' | 'p99'>> {
  const stream = `floor-bench-${process.pid}`;
  const redis = new Redis(url);
  await redis.del(stream);
  await redis.xgroup('CREATE', stream, 'g', '0', 'MKSTREAM');
  let start = performance.now();
  const pipeline = redis.pipeline();
  for (let i = 0; i < MESSAGES; i++) pipeline.xadd(stream, '*', 'body', JSON.stringify(i));
  await pipeline.exec();
  const enqueue = rate(MESSAGES, start);

  let handled = 0;
  start = performance.now();
  while (handled < MESSAGES) {
    const reply = (await redis.xreadgroup('GROUP', 'g', 'c', 'COUNT', 100, 'STREAMS', stream, '>')) as
      | [string, [string, string[]][]][]
      | null;
    const entries = reply?.[0]?.[1] ?? [];
    const ids = entries.map(([id, fields]) => {
      JSON.parse(fields[1]!);
      return id;
    });
    handled += ids.length;
    if (ids.length > 0) await redis.xack(stream, 'g', ...ids);
  }
  const processing = rate(MESSAGES, start);
  await redis.del(stream);
  redis.disconnect();
  return { processing, enqueue };
}

const ours = await sluice();
const theirs = await bullmq();
const raw = await floor();

const ms = (value: number) => `${value.toFixed(3)} ms`;
console.log(`RedisQueue vs BullMQ vs raw streams — ${machineLine()}\n`);
printTable(
  'RedisQueue vs BullMQ vs raw streams',
  ['measure', 'sluice', 'BullMQ', 'raw streams', 'sluice / BullMQ', 'sluice / raw'],
  [
    [
      `processing ${MESSAGES.toLocaleString('en-US')} no-op (msg/s, concurrency ${CONCURRENCY})`,
      formatRate(ours.processing),
      formatRate(theirs.processing),
      formatRate(raw.processing),
      formatRatio(ours.processing / theirs.processing),
      formatRatio(ours.processing / raw.processing),
    ],
    [
      `enqueue ${MESSAGES.toLocaleString('en-US')} (msg/s; BullMQ addBulk)`,
      formatRate(ours.enqueue),
      formatRate(theirs.enqueue),
      formatRate(raw.enqueue),
      formatRatio(ours.enqueue / theirs.enqueue),
      formatRatio(ours.enqueue / raw.enqueue),
    ],
    ['send → handled p50', ms(ours.p50), ms(theirs.p50), '', formatRatio(theirs.p50 / ours.p50), ''],
    ['send → handled p99', ms(ours.p99), ms(theirs.p99), '', formatRatio(theirs.p99 / ours.p99), ''],
  ],
);
console.log('\nRatios > 1× mean sluice is faster (for latency: BullMQ time / sluice time).');
