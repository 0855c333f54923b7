/**
 * `sluice/postgres`: queues and a job store in PostgreSQL tables. Needs `pg`, an optional peer
 * dependency of this entry only: `import 'sluice'` never loads it.
 * @module sluice/postgres
 */
export type { BrokerDelivery } from '../shared/delivery.js';
export type { MessageParser, MessageSchema } from '../shared/message-schema.js';
export type { PostgresDelivery } from './delivery.js';
export { PostgresQueryError } from './errors.js';
export { PostgresJobStore, type PostgresJobStoreOptions } from './job-store.js';
export type { PostgresQueueOptions } from './options.js';
export { PostgresQueue } from './postgres-queue.js';
export type { PostgresSendOptions } from './producer.js';
export { type QueueNamesOptions, queueNames } from './queue-names.js';
