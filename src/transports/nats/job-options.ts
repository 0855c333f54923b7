import type { NatsConnection } from '@nats-io/transport-node';
import { InvalidOptionError } from '../../errors.js';
import {
  type BrokerJobStoreOptions,
  type ResolvedJobStoreOptions,
  resolveJobStoreOptions,
} from '../shared/job-store-options.js';
import { type JobBuckets, jobBuckets } from './job-buckets.js';
import { MAX_STREAM_NAME_BYTES } from './names.js';

/** The options of {@link NatsJobStore}: where NATS is, the store's name and its retention. */
export interface NatsJobStoreOptions extends BrokerJobStoreOptions {
  /**
   * `nats://host:port`, or several comma-separated for a cluster.
   * @defaultValue `'nats://127.0.0.1:4222'` unless `connection` is given
   */
  url?: string;
  /** An open connection to use instead of `url`; the store never closes it. */
  connection?: NatsConnection;
}

export interface ResolvedNatsJobStoreOptions extends ResolvedJobStoreOptions {
  readonly url: string | undefined;
  readonly connection: NatsConnection | undefined;
  readonly buckets: JobBuckets;
}

export function resolveNatsJobStoreOptions(options: NatsJobStoreOptions): ResolvedNatsJobStoreOptions {
  // The exact limit is on the encoded name, checked below: each character takes 1 to 12 there.
  const common = resolveJobStoreOptions(options, MAX_STREAM_NAME_BYTES);
  const buckets = jobBuckets(common.name);
  if (`KV_${buckets.failure}`.length > MAX_STREAM_NAME_BYTES) {
    throw new InvalidOptionError(
      'name',
      common.name,
      `a store name whose longest stream name, KV_sluice-jobs_failure-<name> with each byte outside ` +
        `[A-Za-z0-9-] written as 3 characters, takes at most ${MAX_STREAM_NAME_BYTES} bytes`,
    );
  }
  const { url, connection } = options;
  if (url !== undefined && (typeof url !== 'string' || url.trim().length === 0)) {
    throw new InvalidOptionError('url', url, 'a NATS URL, or several comma-separated');
  }
  if (connection !== undefined && typeof connection?.publish !== 'function') {
    throw new InvalidOptionError('connection', connection, 'a NatsConnection');
  }
  return { ...common, url, connection, buckets };
}
