import { afterAll, beforeAll, describe } from 'vitest';
import { flowSuite } from '../conformance/flow.js';
import { brokerAvailable } from '../support/broker.js';
import { lockRedis, redisHarness } from './redis-harness.js';

const up = await brokerAvailable('redis');

describe.runIf(up)('RedisQueue flow control', () => {
  let release: () => void = () => {};
  beforeAll(async () => {
    release = await lockRedis();
  }, 250_000);
  afterAll(() => release());

  flowSuite(redisHarness);
});
