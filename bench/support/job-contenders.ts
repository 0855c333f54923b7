/**
 * The job systems bench/jobs-distributed.ts compares, each as a worker process and a producer
 * process on a shared backend. A producer pushes `count` no-op jobs whose results are kept, keeping
 * at most `window` waiting at once, and resolves once it saw every one end.
 */

import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect as connectNats } from '@nats-io/transport-node';
import {
  Queue as BullQueue,
  Worker as BullWorker,
  createPostgresBackend,
  QueueEvents,
  withBackend,
} from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { type JobStore, Jobs, Pump, QueueMiddleware } from '../../src/index.js';
import type { JobEnvelope } from '../../src/jobs/types.js';
import type { Queue } from '../../src/queuing/types.js';
import { NatsJobStore, NatsQueue } from '../../src/transports/nats/index.js';
import { jobBuckets } from '../../src/transports/nats/job-buckets.js';
import { streamName } from '../../src/transports/nats/names.js';
import { PostgresJobStore, PostgresQueue } from '../../src/transports/postgres/index.js';
import { RedisJobStore, RedisQueue } from '../../src/transports/redis/index.js';
import { SqliteJobStore, SqliteQueue } from '../../src/transports/sqlite/index.js';

export const REDIS_URL = process.env.SLUICE_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const NATS_URL = process.env.SLUICE_NATS_URL ?? 'nats://127.0.0.1:4222';
export const POSTGRES_URL = process.env.SLUICE_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** Jobs one worker process runs at once, for every contender. */
export const CONCURRENCY = 100;

export interface Contender {
  readonly label: string;
  /** Runs jobs in this process until the returned stop is called. */
  work(name: string): Promise<() => Promise<void>>;
  /** Pushes and waits for `count` jobs; resolves with the milliseconds it took. */
  produce(name: string, count: number, window: number): Promise<number>;
  /** Push → result back in the producer, one job at a time: each round trip in ms. */
  roundTrips?(name: string, count: number): Promise<number[]>;
  /** Removes what a run left in the backend. */
  clean(name: string): Promise<void>;
}

/** Runs `count` tasks, at most `window` at once; resolves with the milliseconds it took. */
async function windowed(count: number, window: number, one: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < count) {
      next++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, lane));
  return performance.now() - start;
}

async function timed(count: number, one: () => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let n = 0; n < count; n++) {
    const start = performance.now();
    await one();
    times.push(performance.now() - start);
  }
  return times;
}

/** sluice's Jobs on a queue and a store: workers run `noop`, the producer pushes it by name. */
export function sluice(
  label: string,
  open: (name: string) => { store: JobStore; queue: Queue<JobEnvelope> },
  clean: (name: string) => Promise<void>,
): Contender {
  const app = async (name: string, workers: number) => {
    const { store, queue } = open(name);
    const jobs = new Jobs({ store });
    jobs.use(new QueueMiddleware({ queue, workers }));
    if (workers > 0) jobs.task('noop', async () => 1);
    await jobs.start();
    return jobs;
  };
  return {
    label,
    async work(name) {
      const jobs = await app(name, CONCURRENCY);
      return () => jobs.stop({ graceful: true, timeout: 5_000 });
    },
    async produce(name, count, window) {
      const jobs = await app(name, 0);
      const took = await windowed(count, window, async () => (await jobs.push('noop', [])).wait());
      await jobs.stop();
      return took;
    },
    async roundTrips(name, count) {
      const jobs = await app(name, 0);
      const times = await timed(count, async () => (await jobs.push('noop', [])).wait());
      await jobs.stop();
      return times;
    },
    clean,
  };
}

export const sluiceRedis = sluice(
  'sluice (RedisQueue + RedisJobStore)',
  (name) => ({
    store: new RedisJobStore({ url: REDIS_URL, name }),
    queue: new RedisQueue<JobEnvelope>(name, { url: REDIS_URL }),
  }),
  (name) => deleteRedisKeys(`sluice*{${name}}*`),
);

export const sluicePostgres = sluice(
  'sluice (PostgresQueue + PostgresJobStore)',
  (name) => ({
    store: new PostgresJobStore({ url: POSTGRES_URL, name }),
    queue: new PostgresQueue<JobEnvelope>(name, { url: POSTGRES_URL }),
  }),
  async (name) => {
    await deletePostgresRows('DELETE FROM sluice.jobs WHERE store = $1', [name]);
    await deletePostgresMessages([name, `${name}.dead`]);
  },
);

/** One file per run, in the temporary directory: the processes of one machine share it. */
const sqlitePath = (name: string) => join(tmpdir(), `${name}.db`);

export const sluiceSqlite = sluice(
  'sluice (SqliteQueue + SqliteJobStore)',
  (name) => ({
    store: new SqliteJobStore({ path: sqlitePath(name) }),
    queue: new SqliteQueue<JobEnvelope>(name, { path: sqlitePath(name), pollInterval: 10 }),
  }),
  async (name) => {
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${sqlitePath(name)}${suffix}`, { force: true });
  },
);

export const sluiceNats = sluice(
  'sluice (NatsQueue + NatsJobStore)',
  (name) => ({
    store: new NatsJobStore({ url: NATS_URL, name }),
    queue: new NatsQueue<JobEnvelope>(name, { url: NATS_URL }),
  }),
  (name) => deleteNatsStreams(name, true),
);

/**
 * Room for every job's events: BullMQ trims its events stream to 10,000 events by default (the
 * setting is the queue's, in Redis), and a producer that falls further behind misses completions.
 */
const EVENTS_ROOM = { events: { maxLen: 1_000_000 } };

/**
 * BullMQ: Queue + Worker processes + QueueEvents, results kept (BullMQ's default). One job at a
 * time, the producer hears each job's end from one QueueEvents listener (`waitUntilFinished` per
 * job, with a thousand waiting, left waits unresolved after every job had completed).
 */
function bullmq(
  label: string,
  classes: BullClasses,
  connection: object,
  clean: (name: string) => Promise<void>,
): Contender {
  const producer = async (name: string) => {
    const queue = new classes.Queue(name, { connection, streams: EVENTS_ROOM });
    const events = new classes.QueueEvents(name, { connection });
    await events.waitUntilReady();
    const waiting = new Map<string, () => void>();
    const early = new Set<string>(); // ended before its push returned
    const ended = ({ jobId }: { jobId: string }) => {
      const resolve = waiting.get(jobId);
      if (resolve === undefined) early.add(jobId);
      else {
        waiting.delete(jobId);
        resolve();
      }
    };
    events.on('completed', ended);
    events.on('failed', ended);
    const push = async () => {
      const { id } = await queue.add('noop', {});
      if (early.delete(id!)) return;
      await new Promise<void>((resolve) => waiting.set(id!, resolve));
    };
    return { push, close: () => Promise.all([queue.close(), events.close()]) };
  };
  return {
    label,
    async work(name) {
      const queue = new classes.Queue(name, { connection, streams: EVENTS_ROOM });
      await queue.waitUntilReady();
      const worker = new classes.Worker(name, async () => 1, { connection, concurrency: CONCURRENCY });
      await worker.waitUntilReady();
      return async () => {
        await worker.close();
        await queue.close();
      };
    },
    // A thousand jobs in flight: the producer's QueueEvents stopped delivering completions after
    // tens of thousands of jobs (every job completed in Redis, the waits never ended), so the
    // producer counts ended jobs instead, polled every 10 ms as pg-boss's is.
    async produce(name, count, window) {
      const queue = new classes.Queue(name, { connection, streams: EVENTS_ROOM });
      const start = performance.now();
      let sent = 0;
      let ended = 0;
      while (ended < count) {
        const room = Math.min(window - (sent - ended), count - sent);
        if (room > 0) {
          await queue.addBulk(Array.from({ length: room }, () => ({ name: 'noop', data: {} })));
          sent += room;
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
        const counts = await queue.getJobCounts('completed', 'failed');
        ended = (counts.completed ?? 0) + (counts.failed ?? 0);
      }
      const took = performance.now() - start;
      await queue.close();
      return took;
    },
    async roundTrips(name, count) {
      const { push, close } = await producer(name);
      const times = await timed(count, push);
      await close();
      return times;
    },
    clean,
  };
}

interface BullClasses {
  Queue: new (
    name: string,
    options: { connection: any; streams?: { events: { maxLen: number } } },
  ) => BullQueue;
  Worker: new (
    name: string,
    processor: () => Promise<unknown>,
    options: { connection: any; concurrency: number },
  ) => BullWorker;
  QueueEvents: new (name: string, options: { connection: any }) => QueueEvents;
}

const redisConnection = (() => {
  const url = new URL(REDIS_URL);
  return { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
})();

export const bullmqRedis = bullmq(
  'BullMQ 6 (Redis)',
  { Queue: BullQueue, Worker: BullWorker, QueueEvents } as unknown as BullClasses,
  redisConnection,
  (name) => deleteRedisKeys(`bull:${name}:*`),
);

const BULL_SCHEMA = 'bullmq_bench';
export const bullmqPostgres = bullmq(
  'BullMQ 6 (PostgreSQL backend)',
  withBackend(createPostgresBackend) as unknown as BullClasses,
  { connectionString: POSTGRES_URL, schema: BULL_SCHEMA, migrate: true },
  () => dropSchema(BULL_SCHEMA),
);

const BOSS_SCHEMA = 'pgboss_jobs_bench';

/**
 * pg-boss's `createQueue` can deadlock when several processes create the same queue at once
 * (PostgreSQL error 40P01 from its create_queue function): the loser tries again.
 */
async function createBossQueue(boss: PgBoss, name: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await boss.createQueue(name);
    } catch (error) {
      if ((error as { code?: string }).code !== '40P01' || attempt === 5) throw error;
    }
  }
}
/**
 * pg-boss 10 (its last major on Node 20): workers `work` the queue; it has no completion events, so
 * the producer learns jobs ended by counting completed rows, polled every 10 ms (cheaper for it than
 * one `getJobById` per job).
 */
export const pgBoss: Contender = {
  label: 'pg-boss 10',
  async work(name) {
    const boss = await startBoss();
    await createBossQueue(boss, name);
    await boss.work(name, { batchSize: CONCURRENCY, pollingIntervalSeconds: 0.5 }, async (jobs) =>
      jobs.map(() => 1),
    );
    return () => boss.stop({ graceful: true, wait: true, timeout: 5_000 });
  },
  async produce(name, count, window) {
    const boss = await startBoss();
    await createBossQueue(boss, name);
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
    let completed = 0;
    const start = performance.now();
    let sent = 0;
    while (completed < count) {
      const room = Math.min(window - (sent - completed), count - sent);
      if (room > 0) {
        await boss.insert(Array.from({ length: room }, () => ({ name, data: {} })));
        sent += room;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
      const { rows } = await pool.query(
        `SELECT count(*)::int AS n FROM ${BOSS_SCHEMA}.job WHERE name = $1 AND state = 'completed'`,
        [name],
      );
      completed = rows[0].n;
    }
    const took = performance.now() - start;
    await pool.end();
    await boss.stop({ graceful: false, wait: true });
    return took;
  },
  clean: () => dropSchema(BOSS_SCHEMA),
};

async function startBoss(): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString: POSTGRES_URL,
    schema: BOSS_SCHEMA,
    supervise: false,
    schedule: false,
  });
  boss.on('error', () => {});
  await boss.start();
  return boss;
}

export async function deleteRedisKeys(pattern: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

async function deletePostgresMessages(queues: string[]): Promise<void> {
  await deletePostgresRows('DELETE FROM sluice.messages WHERE queue = ANY($1)', [queues]);
}

/** Runs a DELETE; the tables exist once a store or queue ran, so a first run has nothing to delete. */
async function deletePostgresRows(sql: string, values: unknown[]): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(sql, values).catch(() => {});
  } finally {
    await client.end();
  }
}

/** A queue is a stream (its dead letters another); a store's buckets are streams named KV_<bucket>. */
async function deleteNatsStreams(name: string, withStore: boolean): Promise<void> {
  const { live, success, failure } = jobBuckets(name);
  const streams = [streamName(name), streamName(`${name}.dead`)];
  if (withStore) streams.push(...[live, success, failure].map((bucket) => `KV_${bucket}`));
  else streams.push(streamName(`${name}.reply`), streamName(`${name}.reply.dead`));
  const nc = await connectNats({ servers: NATS_URL });
  const jsm = await jetstreamManager(nc);
  for (const stream of streams) await jsm.streams.delete(stream).catch(() => {});
  await nc.close();
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}

/**
 * The floor the job round trips are compared with: a message sent on a queue, handled by a Pump in
 * the worker process, which sends a reply on a second queue that the producer reads. Two queue hops,
 * as a job's push and its result notification are.
 */
export function bareRoundTrip(
  label: string,
  open: (name: string) => Queue<{ n: number }>,
  clean: (name: string) => Promise<void>,
): Contender {
  return {
    label,
    async work(name) {
      const requests = open(name);
      const replies = open(`${name}.reply`);
      const draining = new Pump(requests, (message) => replies.send(message)).draining({
        concurrency: CONCURRENCY,
      });
      return async () => {
        await draining.stop();
        await Promise.all([requests.close(), replies.close()]);
      };
    },
    async produce(name, count, window) {
      const requests = open(name);
      const replies = open(`${name}.reply`);
      const waiting = new Map<number, () => void>();
      const draining = new Pump(replies, (message) => waiting.get(message.n)?.()).draining({
        concurrency: CONCURRENCY,
      });
      let n = 0;
      const took = await windowed(count, window, async () => {
        const id = n++;
        const replied = new Promise<void>((resolve) => waiting.set(id, resolve));
        await requests.send({ n: id });
        await replied;
        waiting.delete(id);
      });
      await draining.stop();
      await Promise.all([requests.close(), replies.close()]);
      return took;
    },
    async roundTrips(name, count) {
      const requests = open(name);
      const replies = open(`${name}.reply`);
      const received = replies[Symbol.asyncIterator]();
      let n = 0;
      const times = await timed(count, async () => {
        await requests.send({ n: n++ });
        const next = await received.next();
        await next.value!.ack();
      });
      await Promise.all([requests.close(), replies.close()]);
      return times;
    },
    clean,
  };
}

export const bareRedis = bareRoundTrip(
  'RedisQueue alone (send → reply)',
  (name) => new RedisQueue(name, { url: REDIS_URL }),
  (name) => deleteRedisKeys(`sluice:{${name}*`),
);

export const barePostgres = bareRoundTrip(
  'PostgresQueue alone (send → reply)',
  (name) => new PostgresQueue(name, { url: POSTGRES_URL }),
  (name) => deletePostgresMessages([name, `${name}.dead`, `${name}.reply`, `${name}.reply.dead`]),
);

export const bareNats = bareRoundTrip(
  'NatsQueue alone (send → reply)',
  (name) => new NatsQueue(name, { url: NATS_URL }),
  (name) => deleteNatsStreams(name, false),
);
