export type { BrokerDelivery } from '../shared/delivery.js';
export type { MessageParser, MessageSchema } from '../shared/message-schema.js';
export type { NatsDelivery } from './delivery.js';
export { NatsAccessError, NatsTopologyError } from './errors.js';
export type { NatsJobStoreOptions } from './job-options.js';
export { NatsJobStore } from './job-store.js';
export { NatsQueue } from './nats-queue.js';
export type { NatsQueueOptions } from './options.js';
export { DUPLICATE_WINDOW_MS } from './shapes.js';
