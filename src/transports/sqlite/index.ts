export type { SqliteDelivery } from './delivery.js';
export type { MessageSchema, Parser } from './message-schema.js';
export type { SqliteQueueOptions } from './options.js';
export { SqliteQueue } from './sqlite-queue.js';
