import { PostgresJobStore } from '../../src/transports/postgres/index.js';
import { brokerAvailable } from '../support/broker.js';
import {
  adminPool,
  lockPostgres,
  open,
  postgresHarness,
  purge,
  url,
} from '../transports/postgres-harness.js';
import { cliScenarios } from './scenarios.js';

cliScenarios(
  {
    name: 'PostgreSQL',
    url,
    open,
    async purge(name) {
      await purge(name);
      // The records of the job test's store, named after its queue (the table exists once it ran).
      await adminPool()
        .query('DELETE FROM sluice.jobs WHERE store = $1', [name])
        .catch(() => {});
    },
    rawSend: postgresHarness.sendRaw,
    jobStore: (name) => new PostgresJobStore({ url, name }),
    setup: lockPostgres,
  },
  await brokerAvailable('postgres'),
);
