import { afterAll, describe } from 'vitest';
import { durableQueueSuite } from '../conformance/durable.js';
import { queueConformanceSuite } from '../conformance/queue.js';
import { open, purge, removeDatabase, sqliteHarness } from './sqlite-harness.js';

// SQLite needs no server: nothing to probe, the suites always run.
describe('SqliteQueue conformance', () => {
  afterAll(() => removeDatabase());

  durableQueueSuite(sqliteHarness);

  const created: string[] = [];
  queueConformanceSuite({
    name: 'sqlite',
    create: <T>() => {
      const name = `sluice-basic-${process.pid}-${created.length}-${Math.random().toString(36).slice(2, 8)}`;
      created.push(name);
      return open<T>(name, { backoff: { type: 'fixed', delay: 20 } });
    },
    teardown: () => purge(...created.splice(0)),
  });
});
