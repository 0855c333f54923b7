export { AmqpQueue, type AmqpQueueOptions } from './amqp-queue.js';
export type { AmqpDelivery } from './delivery.js';
export type { MessageSchema } from './schema.js';
export { AmqpTopologyError } from './topology.js';
