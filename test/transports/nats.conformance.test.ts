import { afterAll, beforeAll, describe } from 'vitest';
import { durableQueueSuite } from '../conformance/durable.js';
import { queueConformanceSuite } from '../conformance/queue.js';
import { brokerAvailable } from '../support/broker.js';
import { lockNatsServer, natsHarness, open, purge } from './nats-harness.js';

const up = await brokerAvailable('nats');

describe.runIf(up)('NatsQueue', () => {
  let unlock: (() => void) | undefined;
  beforeAll(async () => {
    unlock = await lockNatsServer(); // the other NATS test file restarts the server too
  }, 300_000);
  afterAll(() => unlock?.());

  const created: string[] = [];
  queueConformanceSuite({
    name: 'nats',
    create: <T>() => {
      const name = `conformance-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
      created.push(name);
      return open<T>(name, { maxAttempts: 3, backoff: { type: 'fixed', delay: 20 } });
    },
    teardown: () => purge(...created.splice(0)),
  });
  durableQueueSuite(natsHarness);
});
