/**
 * The job-store suite's module for NatsJobStore (with NatsQueue), also imported by the suite's
 * child processes: it connects nothing on import.
 */
import type { Retention } from '../../src/jobs/index.js';
import type { JobEnvelope } from '../../src/jobs/types.js';
import { NatsJobStore, NatsQueue } from '../../src/transports/nats/index.js';
import { NATS_URL } from './nats-harness.js';

export function store(namespace: string, options: { retain?: Retention } = {}): NatsJobStore {
  return new NatsJobStore({ url: NATS_URL, name: namespace, ...options });
}

export function queue(namespace: string): NatsQueue<JobEnvelope> {
  return new NatsQueue<JobEnvelope>(namespace, {
    url: NATS_URL,
    visibilityTimeout: 1_000, // a killed worker's job comes back within a second
    closeTimeout: 500,
  });
}
