import type { Redis } from 'ioredis';
import { InvalidOptionError } from '../../errors.js';
import {
  type BrokerQueueOptions,
  type ResolvedBrokerOptions,
  resolveBrokerOptions,
} from '../shared/broker-options.js';

export interface RedisQueueOptions extends BrokerQueueOptions {
  /** Where Redis is, when the queue opens its own connections. Default `redis://127.0.0.1:6379`. */
  url?: string;
  /** An existing ioredis client to send and settle on (left open by `close()`); blocking reads use a duplicate. */
  client?: Redis;
  /** Milliseconds (≥ 30) after which the deliveries of a handle that stopped heartbeating are redelivered. Default 30 s. */
  visibilityTimeout?: number;
}

export interface ResolvedOptions<T> extends ResolvedBrokerOptions<T> {
  readonly url: string | undefined;
  readonly client: Redis | undefined;
}

export function resolveOptions<T>(name: string, options: RedisQueueOptions): ResolvedOptions<T> {
  // At least 30 ms: heartbeats come every visibilityTimeout / 3, and no more often than every 10 ms.
  const common = resolveBrokerOptions(name, options, { minVisibilityTimeout: 30 });
  const { url, client } = options;
  if (url !== undefined && client !== undefined) {
    throw new InvalidOptionError('url', url, 'either url or client, not both');
  }
  if (url !== undefined && (typeof url !== 'string' || url.length === 0)) {
    throw new InvalidOptionError('url', url, 'a redis:// URL');
  }
  if (client !== undefined && typeof (client as Partial<Redis> | null)?.duplicate !== 'function') {
    throw new InvalidOptionError('client', client, 'an ioredis client');
  }
  return { ...(common as ResolvedBrokerOptions<T>), url, client };
}
