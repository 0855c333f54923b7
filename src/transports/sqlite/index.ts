/**
 * `sluice/sqlite`: queues and a job store in an SQLite database file, shared by the processes of one
 * machine. Needs `better-sqlite3`, an optional peer dependency of this entry only: `import 'sluice'`
 * never loads it.
 * @module sluice/sqlite
 */
export type { BrokerDelivery } from '../shared/delivery.js';
export type { MessageParser, MessageSchema } from '../shared/message-schema.js';
export type { SqliteDelivery } from './delivery.js';
export { SqliteJobStore, type SqliteJobStoreOptions } from './job-store.js';
export type { SqliteQueueOptions } from './options.js';
export { type QueueNamesOptions, queueNames } from './queue-names.js';
export { SqliteQueue } from './sqlite-queue.js';
