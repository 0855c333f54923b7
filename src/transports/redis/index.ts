export type { BrokerDelivery } from '../shared/delivery.js';
export type { MessageParser, MessageSchema } from '../shared/message-schema.js';
export type { RedisDelivery } from './delivery.js';
export { RedisQueue, type RedisQueueOptions } from './redis-queue.js';
