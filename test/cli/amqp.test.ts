import { brokerAvailable } from '../support/broker.js';
import {
  AMQP_URL,
  deleteQueues,
  leaseRabbit,
  open,
  purge,
  withConnection,
} from '../transports/amqp-harness.js';
import { cliScenarios } from './scenarios.js';

cliScenarios(
  {
    name: 'RabbitMQ',
    url: AMQP_URL,
    open,
    async purge(name) {
      await purge(name);
      // The pause record, and the delay queue of the stats test's delayed message.
      await deleteQueues(`${name}.paused`, `${name}.delay.600000`);
    },
    // A bare publish to the default exchange: RabbitMQ drops it unless the queue was declared.
    rawSend: (name, body) =>
      withConnection(async (connection) => {
        const channel = await connection.createConfirmChannel();
        channel.sendToQueue(name, Buffer.from(body), { persistent: true });
        await channel.waitForConfirms();
      }),
    // This RabbitMQ runs without the management plugin.
    delayedSeen: false,
    setup: leaseRabbit,
  },
  await brokerAvailable('rabbitmq'),
);
