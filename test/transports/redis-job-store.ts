/**
 * The job-store suite's module for RedisJobStore (with RedisQueue), also imported by the suite's
 * child processes: it connects nothing on import.
 */
import type { Retention } from '../../src/jobs/index.js';
import type { JobEnvelope } from '../../src/jobs/types.js';
import { RedisJobStore, RedisQueue } from '../../src/transports/redis/index.js';
import { REDIS_URL } from './redis-harness.js';

export function store(namespace: string, options: { retain?: Retention } = {}): RedisJobStore {
  return new RedisJobStore({ url: REDIS_URL, name: namespace, ...options });
}

export function queue(namespace: string): RedisQueue<JobEnvelope> {
  return new RedisQueue<JobEnvelope>(namespace, {
    url: REDIS_URL,
    visibilityTimeout: 1_000,
    closeTimeout: 500,
  });
}
