import { fileURLToPath } from 'node:url';
import { jobStoreConformanceSuite } from '../conformance/job-store.js';
import { deleteQueues, purge as purgeAmqp } from './amqp-harness.js';
import { lockRedis, purge, restartRedis, withRedis } from './redis-harness.js';

/** Deletes every record and channel-free key of the store named `namespace`, and its queue. */
async function purgeStore(namespace: string): Promise<void> {
  await withRedis(async (redis) => {
    const keys = await redis.keys(`sluice-jobs:{${namespace.replace(/[*?[\]\\]/g, '\\$&')}}:*`);
    if (keys.length > 0) await redis.del(...keys);
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
