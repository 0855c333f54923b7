import { afterAll, beforeAll, describe } from 'vitest';
import { flowSuite } from '../conformance/flow.js';
import { brokerAvailable } from '../support/broker.js';
import { amqpHarness, leaseRabbit } from './amqp-harness.js';

const up = await brokerAvailable('rabbitmq');

describe.runIf(up)('AmqpQueue flow control', () => {
  let release: () => void = () => {};
  beforeAll(async () => {
    release = await leaseRabbit();
  }, 130_000);
  afterAll(() => release());

  flowSuite(amqpHarness);
});
