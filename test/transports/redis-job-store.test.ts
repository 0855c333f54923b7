import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobStoreConformanceSuite } from '../conformance/job-store.js';
import { within } from '../support/async.js';
import { deleteQueues, purge as purgeAmqp } from './amqp-harness.js';
import { lockRedis, purge, REDIS_URL, restartRedis, withRedis } from './redis-harness.js';

/** Deletes every record and channel-free key of the store named `namespace`, and its queue. */
async function purgeStore(namespace: string): Promise<void> {
  await withRedis(async (redis) => {
    const keys = await redis.keys(`sluice-jobs:{${namespace.replace(/[*?[\]\\]/g, '\\$&')}}:*`);
    await redis.del(`sluice-jobs-failures:{${namespace}}`, ...keys);
  });
  await purge(namespace);
}

jobStoreConformanceSuite({
  name: 'RedisJobStore',
  module: fileURLToPath(new URL('./redis-job-store.ts', import.meta.url)),
  shared: true,
  setup: lockRedis,
  restart: (whileDown) => restartRedis({ persist: true }, whileDown),
  teardown: purgeStore,
});

jobStoreConformanceSuite({
  name: 'RedisJobStore with AmqpQueue',
  module: fileURLToPath(new URL('./redis-amqp-job-store.ts', import.meta.url)),
  shared: true,
  setup: lockRedis,
  restart: (whileDown) => restartRedis({ persist: true }, whileDown),
  teardown: async (namespace) => {
    await purgeStore(namespace);
    await purgeAmqp(namespace);
    // The delay queues of the suite's delays (a retry's backoff, a delayed push) would expire on their own.
    await deleteQueues(`${namespace}.delay.20`, `${namespace}.delay.400`);
  },
});

describe('examples/distributed-jobs.ts', () => {
  let release: () => void = () => {};
  beforeAll(async () => {
    release = await lockRedis();
  }, 250_000);
  afterAll(() => release());

  it('gets every result back at the producer although a worker is killed halfway', async () => {
    const example = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('../../examples/distributed-jobs.ts', import.meta.url))],
      { env: { ...process.env, SLUICE_REDIS_URL: REDIS_URL }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    example.stdout.on('data', (chunk) => {
      output += chunk;
    });
    example.stderr.on('data', (chunk) => {
      output += chunk;
    });
    const code = await within(
      new Promise((resolve) => example.once('exit', resolve)),
      60_000,
      () => `the example to finish; output so far:\n${output}`,
    );
    expect(code, output).toBe(0);
    expect(output).toMatch(/killed worker \d+ with SIGKILL/);
    expect(output).toMatch(/\d+\/12 done .*\d+%/);
    expect(output).toContain('12 of 12 results back, 0 lost');
    for (let n = 1; n <= 12; n++)
      expect(output).toMatch(new RegExp(`image-${n}\\.png rendered by worker \\d+`));
    expect(await withRedis((redis) => redis.keys('sluice*render-example*'))).toEqual([]);
  }, 90_000);
});
