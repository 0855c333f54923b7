export type { MessageParser as MessageDefinitionLike, MessageSchema } from '../../queuing/message-schema.js';
export { PostgresQueryError } from './errors.js';
export type { PostgresQueueOptions } from './options.js';
export { PostgresQueue, type PostgresSendOptions } from './postgres-queue.js';
