import type { ChannelModel } from 'amqplib';
import { InvalidOptionError } from '../../errors.js';
import {
  type BrokerQueueOptions,
  type ResolvedBrokerOptions,
  resolveBrokerOptions,
} from '../shared/broker-options.js';
import { KEY_HOLD } from './topology.js';

/**
 * No `visibilityTimeout`: RabbitMQ has no lease, it redelivers a consumer's unacked messages when its
 * channel closes.
 */
export interface AmqpQueueOptions<T = unknown> extends Omit<BrokerQueueOptions<T>, 'visibilityTimeout'> {
  /** `amqp://user:password@host:port/vhost`; the queue opens, reopens and closes its own connection. */
  url?: string;
  /** An amqplib connection (`await amqplib.connect(url)`) the queue opens channels on; not reopened if lost, not closed. */
  connection?: ChannelModel;
  /**
   * Messages RabbitMQ pushes to each consumer (iterator) ahead of their acks. Default 50. Keep it at
   * least the concurrency of the pump draining the queue; higher amortises round trips, lower
   * spreads messages more evenly across processes and lets a later, higher priority overtake more.
   */
  prefetch?: number;
  /**
   * `true` (default): a priority queue (`x-max-priority` 10), so `send`'s `priority` is honoured.
   * `false`: a plain classic queue, which RabbitMQ serves faster (a priority queue is one internal
   * queue per level), and a `send` with a priority other than 0 is refused. Every process (and the
   * dead-letter queue's reader) must open the queue with the same setting: RabbitMQ refuses a
   * declaration with other arguments.
   */
  priorities?: boolean;
  /**
   * Milliseconds a dedup key taken by this handle's sends is held at most, from the send: a key its
   * consumer never released (one in another language that acked without deleting the key's marker,
   * a producer that died between the marker and the message) is free again after this, and so is
   * the key of a keyed message still queued then. Default and maximum 24 h. A message settled
   * just before its key expires leaves the key to expire by itself (see key-markers.ts).
   */
  keyTimeout?: number;
}

export interface ResolvedOptions<T> extends ResolvedBrokerOptions<T> {
  readonly name: string;
  readonly target: { readonly url: string } | { readonly connection: ChannelModel };
  readonly prefetch: number;
  readonly priorities: boolean;
  readonly keyTimeout: number;
}

const DEFAULT_URL = 'amqp://guest:guest@127.0.0.1:5672';

export function resolveOptions<T>(name: string, options: AmqpQueueOptions<T>): ResolvedOptions<T> {
  const common = resolveBrokerOptions(name, options);
  const { url, connection, prefetch = 50, priorities = true, keyTimeout = KEY_HOLD } = options;
  if (Buffer.byteLength(name) > 200)
    throw new InvalidOptionError('name', name, 'a queue name of 1 to 200 bytes');
  if (url !== undefined && connection !== undefined) {
    throw new InvalidOptionError('connection', connection, 'either url or connection, not both');
  }
  if (connection !== undefined && typeof connection?.createConfirmChannel !== 'function') {
    throw new InvalidOptionError('connection', connection, 'an amqplib connection (from amqplib.connect)');
  }
  if (url !== undefined && typeof url !== 'string')
    throw new InvalidOptionError('url', url, 'an amqp:// URL');
  if (!Number.isInteger(prefetch) || prefetch < 1 || prefetch > 65_535) {
    throw new InvalidOptionError('prefetch', prefetch, 'an integer from 1 to 65535');
  }
  if (typeof priorities !== 'boolean') throw new InvalidOptionError('priorities', priorities, 'a boolean');
  if (!Number.isInteger(keyTimeout) || keyTimeout < 1 || keyTimeout > KEY_HOLD) {
    throw new InvalidOptionError('keyTimeout', keyTimeout, `an integer from 1 to ${KEY_HOLD} (milliseconds)`);
  }
  const target = connection !== undefined ? { connection } : { url: url ?? DEFAULT_URL };
  return { ...common, name, target, prefetch, priorities, keyTimeout };
}
