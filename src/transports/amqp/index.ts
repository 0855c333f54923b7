export type { BrokerDelivery } from '../shared/delivery.js';
export type { MessageParser, MessageSchema } from '../shared/message-schema.js';
export { AmqpQueue } from './amqp-queue.js';
export type { AmqpDelivery } from './delivery.js';
export { AmqpAccessError, AmqpManagementUnavailableError, AmqpTopologyError } from './errors.js';
export type { AmqpQueueOptions } from './options.js';
export { queueNames } from './queue-names.js';
