import { describe } from 'vitest';
import { durableQueueSuite } from '../conformance/durable.js';
import { queueConformanceSuite } from '../conformance/queue.js';
import { brokerAvailable } from '../support/broker.js';
import { open, postgresHarness, purge } from './postgres-harness.js';

const up = await brokerAvailable('postgres');

describe.runIf(up)('PostgresQueue conformance', () => {
  durableQueueSuite(postgresHarness);

  const created: string[] = [];
  queueConformanceSuite({
    name: 'postgres',
    create: <T>() => {
      const name = `sluice-basic-${process.pid}-${created.length}-${Math.random().toString(36).slice(2, 8)}`;
      created.push(name);
      return open<T>(name, { backoff: { type: 'fixed', delay: 20 } });
    },
    teardown: () => purge(...created.splice(0)),
  });
});
