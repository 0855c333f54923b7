/**
 * The job-store suite's module pairing PostgresJobStore with AmqpQueue (RabbitMQ has no job store of
 * its own: SPEC § 4), also imported by the suite's child processes: it connects nothing on import.
 */
import type { JobEnvelope } from '../../src/jobs/types.js';
import { AmqpQueue } from '../../src/transports/amqp/index.js';
import { AMQP_URL, deleteQueues, purge } from './amqp-harness.js';
import { forgetJobs } from './postgres-job-store.js';

export { store } from './postgres-job-store.js';

/** RabbitMQ gives a killed worker's unacked message back as soon as its connection closes. */
export function queue(namespace: string): AmqpQueue<JobEnvelope> {
  return new AmqpQueue<JobEnvelope>(namespace, { url: AMQP_URL, closeTimeout: 500 });
}

/** Deletes the records, and the queues of `namespace`: itself, its dead letters, its delay queues. */
export async function teardown(namespace: string): Promise<void> {
  await forgetJobs(namespace);
  await purge(namespace);
  // The delay queues of the suite's delays (a retry's backoff, a delayed push) would expire on their own.
  await deleteQueues(`${namespace}.delay.20`, `${namespace}.delay.400`);
}
