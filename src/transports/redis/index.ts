export type { BrokerDelivery } from '../shared/delivery.js';
export type { MessageParser, MessageSchema } from '../shared/message-schema.js';
export type { RedisDelivery } from './delivery.js';
export { RedisAccessError } from './errors.js';
export { RedisJobStore, type RedisJobStoreOptions } from './job-store.js';
export type { RedisQueueOptions } from './options.js';
export { type QueueNamesOptions, queueNames } from './queue-names.js';
export { RedisQueue } from './redis-queue.js';
