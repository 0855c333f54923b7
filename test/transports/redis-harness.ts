/**
 * The durable-suite harness for RedisQueue, also the module the suite's child processes import
 * (so it must not connect anything on import). It also holds what every Redis test file shares:
 * the lock that keeps a Redis restart from cutting another test file off.
 */
import { exec } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import type { Queue } from '../../src/queuing/types.js';
import { RedisQueue, type RedisQueueOptions } from '../../src/transports/redis/index.js';
import { streamKey } from '../../src/transports/redis/keys.js';
import type { DurableHarness, DurableQueueOptions } from '../conformance/durable.js';
import { services, waitForPort } from '../support/broker.js';

export const REDIS_URL = `redis://127.0.0.1:${services.redis.port}`;

export function open<T>(name: string, options: DurableQueueOptions = {}): Queue<T> {
  return new RedisQueue<T>(name, { url: REDIS_URL, ...(options as RedisQueueOptions) });
}

/** Runs `use` with a short-lived connection of its own. */
export async function withRedis<R>(use: (redis: Redis) => Promise<R>): Promise<R> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  await redis.connect();
  try {
    return await use(redis);
  } finally {
    redis.disconnect();
  }
}

/** Deletes every key of the queue and of its dead-letter queue, those named after priorities and dedup keys too. */
export function purge(name: string): Promise<void> {
  return withRedis(async (redis) => {
    for (const queue of [name, `${name}.dead`]) {
      const keys = await redis.keys(`sluice:{${queue.replace(/[*?[\]\\]/g, '\\$&')}}:*`);
      if (keys.length > 0) await redis.del(...keys);
    }
  });
}

export function sendRaw(name: string, body: string): Promise<void> {
  return withRedis(async (redis) => {
    await redis.xadd(streamKey(name), '*', 'body', body);
  });
}

const run = promisify(exec);

/**
 * Stops the real Redis and starts it again with the machine's command. This Redis keeps nothing on
 * disk, so `persist: true` stops it with SHUTDOWN SAVE (an atomic snapshot, as a persistent
 * deployment would keep) and the restarted server loads that snapshot, which is then removed so the
 * server is left as it was: running on its port, persisting nothing. Callers hold `lockRedis()`.
 */
export async function restartRedis(
  { persist }: { persist: boolean },
  whileDown?: () => Promise<void>,
): Promise<void> {
  const [, dir] = await withRedis((redis) => redis.config('GET', 'dir') as Promise<string[]>);
  const [, file] = await withRedis((redis) => redis.config('GET', 'dbfilename') as Promise<string[]>);
  const snapshot = join(dir!, file!);
  await run(`redis-cli -p ${services.redis.port} shutdown ${persist ? 'save' : 'nosave'}`).catch(() => {});
  try {
    await whileDown?.();
  } finally {
    await run(services.redis.start);
  }
  await waitForPort(services.redis.port, 30_000);
  await untilLoaded();
  rmSync(snapshot, { force: true });
}

async function untilLoaded(): Promise<void> {
  for (;;) {
    try {
      if ((await withRedis((redis) => redis.ping())) === 'PONG') return;
    } catch {
      // LOADING: the snapshot is still being read
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export const redisHarness: DurableHarness = {
  name: 'redis',
  service: 'redis',
  open,
  purge,
  sendRaw,
  restart: (whileDown) => restartRedis({ persist: true }, whileDown),
  childModule: fileURLToPath(import.meta.url),
};

/*
 * Test files run in parallel workers, and a restart would cut another Redis test file off mid-test.
 * So every Redis test file holds one mutex for its whole run: a directory in the temp directory
 * (mkdir is atomic) holding its owner's pid, so one left by a dead process is taken over.
 */
const lock = join(tmpdir(), 'sluice-redis-tests.lock');

/** Call in `beforeAll` of every Redis test file; returns the release for `afterAll`. */
export async function lockRedis(timeoutMs = 240_000): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  while (!tryLock()) {
    if (Date.now() > deadline) throw new Error(`another Redis test file held ${lock} for ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return () => rmSync(lock, { recursive: true, force: true });
}

function tryLock(): boolean {
  try {
    mkdirSync(lock);
    writeFileSync(join(lock, 'pid'), String(process.pid));
    return true;
  } catch {
    try {
      process.kill(Number(readFileSync(join(lock, 'pid'), 'utf8')), 0);
    } catch (error) {
      // ESRCH: its owner died; ENOENT: being created right now (or its creator died before writing)
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') rmSync(lock, { recursive: true, force: true });
    }
    return false;
  }
}
