import { afterAll, beforeAll, describe } from 'vitest';
import { durableQueueSuite } from '../conformance/durable.js';
import { queueConformanceSuite } from '../conformance/queue.js';
import { brokerAvailable } from '../support/broker.js';
import { amqpHarness, leaseRabbit, open, purge } from './amqp-harness.js';

const up = await brokerAvailable('rabbitmq');

describe.runIf(up)('AmqpQueue', () => {
  let release: () => void = () => {};
  beforeAll(async () => {
    release = await leaseRabbit();
  }, 130_000);
  afterAll(() => release());

  const names: string[] = [];
  queueConformanceSuite({
    name: 'rabbitmq',
    create: <T>() => {
      const name = `sluice-basic-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
      names.push(name);
      return open<T>(name, { maxAttempts: 3, backoff: { type: 'fixed', delay: 20 }, closeTimeout: 1_000 });
    },
    teardown: () => purge(...names.splice(0)),
  });

  durableQueueSuite(amqpHarness);
});
