import { describe } from 'vitest';
import { flowSuite } from '../conformance/flow.js';
import { brokerAvailable } from '../support/broker.js';
import { postgresHarness } from './postgres-harness.js';

const up = await brokerAvailable('postgres');

describe.runIf(up)('PostgresQueue flow control', () => {
  flowSuite(postgresHarness);
});
