import type { ChannelModel } from 'amqplib';
import { InvalidOptionError } from '../../errors.js';
import {
  type BrokerQueueOptions,
  type ResolvedBrokerOptions,
  resolveBrokerOptions,
} from '../shared/broker-options.js';
import { KEY_HOLD, LONGEST_DELAY, MAX_NAME_BYTES } from './topology.js';

/**
 * The options of {@link AmqpQueue}: where RabbitMQ is, and those every broker queue takes but
 * `visibilityTimeout`: RabbitMQ has no lease, it redelivers a consumer's unacked messages when its
 * channel closes.
 */
export interface AmqpQueueOptions<T = unknown> extends Omit<BrokerQueueOptions<T>, 'visibilityTimeout'> {
  /**
   * `amqp://user:password@host:port/vhost` (or `amqps://`); the queue opens, reopens and closes its
   * own connection, retrying (the first one too) while RabbitMQ cannot be reached. Refused
   * credentials fail at once.
   * @defaultValue `'amqp://guest:guest@127.0.0.1:5672'` unless `connection` is given
   */
  url?: string;
  /** An amqplib connection (`await amqplib.connect(url)`) the queue opens channels on; not reopened if lost, not closed. */
  connection?: ChannelModel;
  /**
   * Messages RabbitMQ pushes to each consumer (iterator) ahead of their acks, from 1 to 65535. Keep
   * it at least the concurrency of the pump draining the queue; higher amortises round trips, lower
   * spreads messages more evenly across processes and lets a later, higher priority overtake more.
   * @defaultValue `50`
   */
  prefetch?: number;
  /**
   * `true`: a priority queue (`x-max-priority` 10), so `send`'s `priority` is honoured.
   * `false`: a plain classic queue, which RabbitMQ serves faster (a priority queue is one internal
   * queue per level), and a `send` with a priority other than 0 is refused. Every process (and the
   * dead-letter queue's reader) must open the queue with the same setting: RabbitMQ refuses a
   * declaration with other arguments.
   * @defaultValue `true`
   */
  priorities?: boolean;
  /**
   * Milliseconds a dedup key taken by this handle's sends is held at most, from the send: a key its
   * consumer never released (one in another language that acked without deleting the key's marker,
   * a producer that died between the marker and the message) is free again after this, and so is
   * the key of a keyed message still queued then. At most 24 hours. A message settled just before
   * its key expires leaves the key to expire by itself.
   * @defaultValue 24 hours
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
  const common = resolveBrokerOptions(name, options, {
    maxNameBytes: MAX_NAME_BYTES,
    maxDelay: LONGEST_DELAY,
  });
  assertNotReserved('name', name);
  assertNotReserved('deadLetter', common.deadLetter);
  const { url, connection, prefetch = 50, priorities = true, keyTimeout = KEY_HOLD } = options;
  if (url !== undefined && connection !== undefined) {
    throw new InvalidOptionError('connection', connection, 'either url or connection, not both');
  }
  if (connection !== undefined && typeof connection?.createConfirmChannel !== 'function') {
    throw new InvalidOptionError('connection', connection, 'an amqplib connection (from amqplib.connect)');
  }
  if (url !== undefined && !isAmqpUrl(url))
    throw new InvalidOptionError('url', url, 'an amqp:// or amqps:// URL');
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

/** RabbitMQ refuses to declare a queue whose name begins with `amq.`, on every connection. */
function assertNotReserved(option: string, name: string): void {
  if (name.startsWith('amq.')) {
    throw new InvalidOptionError(option, name, 'a queue name not beginning with amq. (reserved by RabbitMQ)');
  }
}

/** A URL no retry could connect with is refused here rather than retried for ever. */
function isAmqpUrl(url: unknown): boolean {
  if (typeof url !== 'string' || !URL.canParse(url)) return false;
  const { protocol } = new URL(url);
  return protocol === 'amqp:' || protocol === 'amqps:';
}
