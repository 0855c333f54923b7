import { afterAll, beforeAll, describe } from 'vitest';
import { flowSuite } from '../conformance/flow.js';
import { brokerAvailable } from '../support/broker.js';
import { lockNatsServer, natsHarness } from './nats-harness.js';

const up = await brokerAvailable('nats');

describe.runIf(up)('NatsQueue flow control', () => {
  let unlock: (() => void) | undefined;
  beforeAll(async () => {
    unlock = await lockNatsServer(); // other NATS test files restart the server
  }, 300_000);
  afterAll(() => unlock?.());

  flowSuite(natsHarness);
});
