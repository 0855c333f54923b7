export type { BrokerDelivery } from '../shared/delivery.js';
export type { MessageSchema } from '../shared/message-schema.js';
export { AmqpQueue } from './amqp-queue.js';
export type { AmqpDelivery } from './delivery.js';
export type { AmqpQueueOptions } from './options.js';
export { AmqpTopologyError } from './topology.js';
