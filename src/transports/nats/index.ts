/**
 * `sluice/nats`: queues on NATS JetStream streams and a job store in JetStream key-value buckets.
 * Needs `@nats-io/transport-node`, `@nats-io/jetstream` and `@nats-io/kv`, optional peer
 * dependencies of this entry only: `import 'sluice'` never loads them.
 * @module sluice/nats
 */
export type { BrokerDelivery } from '../shared/delivery.js';
export type { MessageParser, MessageSchema } from '../shared/message-schema.js';
export type { NatsDelivery } from './delivery.js';
export { NatsAccessError, NatsTopologyError } from './errors.js';
export type { NatsJobStoreOptions } from './job-options.js';
export { NatsJobStore } from './job-store.js';
export { NatsQueue } from './nats-queue.js';
export type { NatsQueueOptions } from './options.js';
export { queueNames } from './queue-names.js';
export { DUPLICATE_WINDOW_MS } from './shapes.js';
