import type { NatsConnection } from '@nats-io/transport-node';
import { InvalidOptionError } from '../../errors.js';
import { assertBackoff, assertMaxAttempts } from '../../queuing/backoff.js';
import type { MessageSchema } from '../../queuing/message-schema.js';
import type { Backoff } from '../../queuing/types.js';

export interface NatsQueueOptions<T = unknown> {
  /** `nats://host:port`, or several comma-separated for a cluster. Default `nats://127.0.0.1:4222`. */
  url?: string;
  /** An open connection to use instead of `url`; the queue never closes it. */
  connection?: NatsConnection;
  /** Deliveries before a nacked message is dead-lettered. Default 5. */
  maxAttempts?: number;
  /** Delay before a nacked message is redelivered. Default exponential from 100 ms up to 30 s. */
  backoff?: Backoff;
  /** Name of the dead-letter queue (a NatsQueue). Default `${name}.dead`. */
  deadLetter?: string;
  /** The consumers' `ack_wait` (ms): a crashed consumer's message comes back after this. Default 30 s. */
  visibilityTimeout?: number;
  /** Checked on receive; a message that fails it is dead-lettered with the reason. */
  schema?: MessageSchema<T>;
  /** How long `close()` lets handed-out deliveries be settled before releasing them (ms). Default 10 s. */
  closeTimeout?: number;
  /** Messages each priority band fetches ahead of demand. Default 128. */
  prefetch?: number;
}

export type ResolvedOptions<T> = Required<Omit<NatsQueueOptions<T>, 'url' | 'connection' | 'schema'>> &
  Pick<NatsQueueOptions<T>, 'url' | 'connection' | 'schema'>;

export function resolveOptions<T>(name: string, options: NatsQueueOptions<T>): ResolvedOptions<T> {
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidOptionError('name', name, 'a non-empty string');
  }
  const {
    url,
    connection,
    maxAttempts = 5,
    backoff = { type: 'exponential', delay: 100, max: 30_000 },
    deadLetter = `${name}.dead`,
    visibilityTimeout = 30_000,
    schema,
    closeTimeout = 10_000,
    prefetch = 128,
  } = options;
  if (url !== undefined && (typeof url !== 'string' || url.trim().length === 0)) {
    throw new InvalidOptionError('url', url, 'a NATS URL, or several comma-separated');
  }
  if (connection !== undefined && typeof connection?.publish !== 'function') {
    throw new InvalidOptionError('connection', connection, 'a NatsConnection');
  }
  assertMaxAttempts(maxAttempts);
  assertBackoff(backoff);
  if (typeof deadLetter !== 'string' || deadLetter.length === 0 || deadLetter === name) {
    throw new InvalidOptionError('deadLetter', deadLetter, 'the name of another queue');
  }
  if (!Number.isInteger(visibilityTimeout) || visibilityTimeout < 1_000) {
    throw new InvalidOptionError('visibilityTimeout', visibilityTimeout, 'an integer ≥ 1000 (ms)');
  }
  if (!Number.isFinite(closeTimeout) || closeTimeout < 0) {
    throw new InvalidOptionError('closeTimeout', closeTimeout, 'a number of milliseconds ≥ 0');
  }
  if (!Number.isInteger(prefetch) || prefetch < 1) {
    throw new InvalidOptionError('prefetch', prefetch, 'an integer ≥ 1');
  }
  return {
    url,
    connection,
    maxAttempts,
    backoff,
    deadLetter,
    visibilityTimeout,
    schema,
    closeTimeout,
    prefetch,
  };
}
