import type { NatsConnection } from '@nats-io/transport-node';
import { InvalidOptionError } from '../../errors.js';
import {
  type BrokerQueueOptions,
  type ResolvedBrokerOptions,
  resolveBrokerOptions,
} from '../shared/broker-options.js';
import { MAX_STREAM_NAME_BYTES, streamName } from './names.js';
import { DUPLICATE_WINDOW_MS } from './shapes.js';

/** The options of {@link NatsQueue}: where NATS is, and those every broker queue takes. */
export interface NatsQueueOptions<T = unknown> extends BrokerQueueOptions<T> {
  /**
   * `nats://host:port`, or several comma-separated for a cluster.
   * @defaultValue `'nats://127.0.0.1:4222'` unless `connection` is given
   */
  url?: string;
  /** An open connection to use instead of `url`; the queue never closes it. */
  connection?: NatsConnection;
  /**
   * The consumers' `ack_wait` in milliseconds, at least 1000 and below {@link DUPLICATE_WINDOW_MS}:
   * a crashed consumer's message comes back after this.
   * @defaultValue `30_000`
   */
  visibilityTimeout?: number;
  /**
   * Messages each priority band fetches ahead of demand.
   * @defaultValue `128`
   */
  prefetch?: number;
}

export interface ResolvedOptions<T> extends Omit<ResolvedBrokerOptions<T>, 'maxMessageSize'> {
  readonly url: string | undefined;
  readonly connection: NatsConnection | undefined;
  readonly prefetch: number;
  /**
   * The user's `maxMessageSize`; undefined: the `max_payload` of the server in use, read once
   * connected. Either way the producer keeps the room a dead-letter copy needs (see NatsProducer).
   */
  readonly maxMessageSize: number | undefined;
}

export function resolveOptions<T>(name: string, options: NatsQueueOptions<T>): ResolvedOptions<T> {
  // JetStream's ack_wait is at least a second.
  const common = resolveBrokerOptions(name, options, { minVisibilityTimeout: 1_000 });
  assertStreamName('name', name);
  assertStreamName('deadLetter', common.deadLetter);
  const { url, connection, prefetch = 128 } = options;
  if (url !== undefined && (typeof url !== 'string' || url.trim().length === 0)) {
    throw new InvalidOptionError('url', url, 'a NATS URL, or several comma-separated');
  }
  if (connection !== undefined && typeof connection?.publish !== 'function') {
    throw new InvalidOptionError('connection', connection, 'a NatsConnection');
  }
  if (!Number.isInteger(prefetch) || prefetch < 1) {
    throw new InvalidOptionError('prefetch', prefetch, 'an integer ≥ 1');
  }
  // A dead-letter copy or a delayed move retried after a lost +ACK comes back after ack_wait, and is
  // stored once only within the duplicate window of the first (see dead-letter.ts).
  if (common.visibilityTimeout >= DUPLICATE_WINDOW_MS) {
    throw new InvalidOptionError(
      'visibilityTimeout',
      common.visibilityTimeout,
      `fewer milliseconds than the duplicate_window of ${DUPLICATE_WINDOW_MS} ms sluice creates ` +
        'streams with, within which a dead-letter copy or delayed move retried after a lost ack is stored once',
    );
  }
  // The user's maxMessageSize (checked above); none: the server's, not the 16 MiB of other brokers.
  const maxMessageSize = options.maxMessageSize === undefined ? undefined : common.maxMessageSize;
  return { ...common, url, connection, prefetch, maxMessageSize };
}

/**
 * A queue whose stream name JetStream would refuse. Refused here, before anything is sent: a name
 * that long also makes subjects longer than a server takes, and it drops the connection, shared by
 * every queue on it, for a protocol line too long.
 */
function assertStreamName(option: string, name: string): void {
  if (streamName(name).length > MAX_STREAM_NAME_BYTES) {
    throw new InvalidOptionError(
      option,
      name,
      `a queue name whose stream name, sluice-<name> with each byte outside [A-Za-z0-9-] written ` +
        `as 3 characters, takes at most ${MAX_STREAM_NAME_BYTES} bytes`,
    );
  }
}
