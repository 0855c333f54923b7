export type { MessageSchema } from '../shared/message-schema.js';
export { AmqpQueue, type AmqpQueueOptions } from './amqp-queue.js';
export type { AmqpDelivery } from './delivery.js';
export { AmqpTopologyError } from './topology.js';
