/**
 * How a NatsJobStore's name and its job ids map onto JetStream key-value buckets:
 *
 *   live      sluice-jobs-<name>            records of jobs not ended (no max_age)
 *   success   sluice-jobs_success-<name>    records of jobs ended `success` (max_age retain.success)
 *   failure   sluice-jobs_failure-<name>    the other ends (max_age retain.failure)
 *   cancels   sluice.jobs.<name>.cancel     core NATS subject: the id of each job ended `cancelled`
 *
 * `<name>` is written as a queue name is (names.ts), so any name gives valid, distinct buckets; the
 * three prefixes differ before the name starts, so no store's bucket is another store's.
 * A key is the base64url (unpadded) of the id's UTF-8: distinct ids give distinct keys of
 * `[A-Za-z0-9_-]` only, one subject token, at most 1,020 characters for the longest id.
 */
import { encodeName } from './names.js';

export interface JobBuckets {
  readonly live: string;
  readonly success: string;
  readonly failure: string;
  readonly cancels: string;
}

export function jobBuckets(name: string): JobBuckets {
  const encoded = encodeName(name);
  return {
    live: `sluice-jobs-${encoded}`,
    success: `sluice-jobs_success-${encoded}`,
    failure: `sluice-jobs_failure-${encoded}`,
    cancels: `sluice.jobs.${encoded}.cancel`,
  };
}

export function keyOf(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

export function idOf(key: string): string {
  return Buffer.from(key, 'base64url').toString('utf8');
}
