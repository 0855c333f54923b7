export type { MessageParser, MessageSchema } from '../shared/message-schema.js';
export { PostgresQueryError } from './errors.js';
export type { PostgresQueueOptions } from './options.js';
export { PostgresQueue, type PostgresSendOptions } from './postgres-queue.js';
