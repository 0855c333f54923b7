/**
 * `sluice/amqp`: queues on RabbitMQ (AMQP 0-9-1). Needs `amqplib`, an optional peer dependency of
 * this entry only: `import 'sluice'` never loads it.
 * @module sluice/amqp
 */
export type { BrokerDelivery } from '../shared/delivery.js';
export type { MessageParser, MessageSchema } from '../shared/message-schema.js';
export { AmqpQueue } from './amqp-queue.js';
export type { AmqpDelivery } from './delivery.js';
export { AmqpAccessError, AmqpManagementUnavailableError, AmqpTopologyError } from './errors.js';
export type { AmqpQueueOptions } from './options.js';
export { queueNames } from './queue-names.js';
