export type { RedisDelivery } from './delivery.js';
export { RedisQueue, type RedisQueueOptions } from './redis-queue.js';
export type { MessageParser, MessageSchema } from './schema.js';
