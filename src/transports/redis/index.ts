/**
 * `sluice/redis`: queues on Redis Streams and a job store on Redis hashes (Redis 7 or newer).
 * Needs `ioredis`, an optional peer dependency of this entry only: `import 'sluice'` never loads it.
 * @module sluice/redis
 */
export type { BrokerDelivery } from '../shared/delivery.js';
export type { MessageParser, MessageSchema } from '../shared/message-schema.js';
export type { RedisDelivery } from './delivery.js';
export { RedisAccessError } from './errors.js';
export { RedisJobStore, type RedisJobStoreOptions } from './job-store.js';
export type { RedisConnectionOptions, RedisQueueOptions } from './options.js';
export { type QueueNamesOptions, queueNames } from './queue-names.js';
export { RedisQueue } from './redis-queue.js';
