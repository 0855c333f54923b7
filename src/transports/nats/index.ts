export type { NatsDelivery } from './delivery.js';
export { NatsQueue } from './nats-queue.js';
export type { NatsQueueOptions } from './options.js';
export type { MessageParser, MessageSchema } from './schema.js';
export { DUPLICATE_WINDOW_MS } from './topology.js';
