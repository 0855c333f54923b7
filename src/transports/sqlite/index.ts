export type { BrokerDelivery } from '../shared/delivery.js';
export type { MessageParser, MessageSchema } from '../shared/message-schema.js';
export type { SqliteDelivery } from './delivery.js';
export { SqliteJobStore, type SqliteJobStoreOptions } from './job-store.js';
export type { SqliteQueueOptions } from './options.js';
export { type QueueNamesOptions, queueNames } from './queue-names.js';
export { SqliteQueue } from './sqlite-queue.js';
