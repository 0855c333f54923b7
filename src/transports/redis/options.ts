import type { Redis } from 'ioredis';
import { InvalidOptionError } from '../../errors.js';
import {
  type BrokerQueueOptions,
  type ResolvedBrokerOptions,
  resolveBrokerOptions,
} from '../shared/broker-options.js';

/** Where a queue, a job store or {@link queueNames} finds Redis: `url` or `client`, not both. */
export interface RedisConnectionOptions {
  /**
   * Where Redis is, when the queue or store opens its own connections: a `redis://` or `rediss://`
   * URL, or the absolute path of a unix socket.
   * @defaultValue `'redis://127.0.0.1:6379'`
   */
  url?: string;
  /**
   * An existing ioredis client to send and settle on (left open by `close()`); blocking reads and
   * subscriptions use a duplicate of it.
   */
  client?: Redis;
}

/** The options of {@link RedisQueue}: where Redis is, and those every broker queue takes. */
export interface RedisQueueOptions extends BrokerQueueOptions, RedisConnectionOptions {
  /**
   * Milliseconds (at least 30) after which the deliveries of a handle that stopped heartbeating are
   * redelivered.
   * @defaultValue `30_000`
   */
  visibilityTimeout?: number;
}

export interface ResolvedOptions<T> extends ResolvedBrokerOptions<T> {
  readonly url: string | undefined;
  readonly client: Redis | undefined;
}

const URL_EXPECTED =
  'a redis:// or rediss:// URL naming a host, with a port from 1 to 65535 and a database number if ' +
  'any, or the absolute path of a unix socket';

export function resolveOptions<T>(name: string, options: RedisQueueOptions): ResolvedOptions<T> {
  // At least 30 ms: heartbeats come every visibilityTimeout / 3, and no more often than every 10 ms.
  const common = resolveBrokerOptions(name, options, { minVisibilityTimeout: 30 });
  assertNoBrace('name', name);
  assertNoBrace('deadLetter', common.deadLetter);
  const { url, client } = options;
  assertConnectionOptions(options);
  return { ...(common as ResolvedBrokerOptions<T>), url, client };
}

export function assertConnectionOptions({ url, client }: RedisConnectionOptions): void {
  if (url !== undefined && client !== undefined) {
    throw new InvalidOptionError('url', url, 'either url or client, not both');
  }
  if (url !== undefined) assertUrl(url);
  if (client !== undefined && typeof (client as Partial<Redis> | null)?.duplicate !== 'function') {
    throw new InvalidOptionError('client', client, 'an ioredis client');
  }
}

/**
 * Every key of a queue starts with `sluice:{<queue>}` (keys.ts): the first `}` ends the queue's
 * name, so a name holding one could name the keys of another queue (queue `a}:key:k{` has the
 * stream that the dedup key `k{}:stream` of queue `a` would be stored at).
 */
export function assertNoBrace(option: string, name: string): void {
  if (name.includes('}')) {
    throw new InvalidOptionError(
      option,
      name,
      'a queue name without "}" (it ends the hash tag of its Redis keys)',
    );
  }
}

/**
 * Refused here rather than by ioredis, which throws a bare TypeError for some malformed URLs and
 * takes others (`http://x`, `redis://`) for a host it then retries for ever.
 */
function assertUrl(url: unknown): asserts url is string {
  if (typeof url === 'string' && url.startsWith('/')) return; // ioredis connects to the socket there
  let parsed: URL;
  try {
    parsed = new URL(url as string);
    decodeURIComponent(parsed.username);
    decodeURIComponent(parsed.password);
  } catch {
    throw new InvalidOptionError('url', url, URL_EXPECTED);
  }
  const valid =
    typeof url === 'string' &&
    (parsed.protocol === 'redis:' || parsed.protocol === 'rediss:') &&
    parsed.hostname !== '' &&
    parsed.port !== '0' &&
    /^\/?\d*$/.test(parsed.pathname);
  if (!valid) throw new InvalidOptionError('url', url, URL_EXPECTED);
}
