export type { MessageDefinitionLike, MessageSchema } from './envelope.js';
export { PostgresQueryError } from './errors.js';
export type { PostgresQueueOptions } from './options.js';
export { PostgresQueue, type PostgresSendOptions } from './postgres-queue.js';
