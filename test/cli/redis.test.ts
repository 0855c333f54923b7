import { RedisJobStore } from '../../src/transports/redis/index.js';
import { brokerAvailable } from '../support/broker.js';
import { lockRedis, open, purge, REDIS_URL, sendRaw, withRedis } from '../transports/redis-harness.js';
import { cliScenarios } from './scenarios.js';

cliScenarios(
  {
    name: 'Redis',
    url: REDIS_URL,
    open,
    async purge(name) {
      await purge(name);
      // The records of the job test's store, named after its queue.
      await withRedis(async (redis) => {
        const keys = await redis.keys(`sluice-jobs:{${name}}:*`);
        if (keys.length > 0) await redis.del(...keys);
      });
    },
    rawSend: sendRaw,
    jobStore: (name) => new RedisJobStore({ url: REDIS_URL, name }),
    setup: lockRedis,
  },
  await brokerAvailable('redis'),
);
