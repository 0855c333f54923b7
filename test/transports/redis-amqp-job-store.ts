/**
 * The job-store suite's module pairing RedisJobStore with AmqpQueue (RabbitMQ has no store of its
 * own), also imported by the suite's child processes: it connects nothing on import.
 */
import type { JobEnvelope } from '../../src/jobs/types.js';
import { AmqpQueue } from '../../src/transports/amqp/index.js';
import { AMQP_URL } from './amqp-harness.js';

export { store } from './redis-job-store.js';

export function queue(namespace: string): AmqpQueue<JobEnvelope> {
  return new AmqpQueue<JobEnvelope>(namespace, { url: AMQP_URL, closeTimeout: 500 });
}
