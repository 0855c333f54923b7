import { SluiceError } from '../../errors.js';
import { Connection } from './connection.js';
import { failure } from './errors.js';
import { assertConnectionOptions, type RedisConnectionOptions } from './options.js';

/** The options of {@link queueNames}: where Redis is. */
export type QueueNamesOptions = RedisConnectionOptions;

/** Keys looked at per SCAN call. */
const SCAN_COUNT = 1_000;
/** How long the call's own connection may take to close once the names are read. */
const CLOSE_TIMEOUT = 5_000;
/** The keys that make a queue (docs/wire-protocol.md (Redis)): its stream, its delayed messages, its pause. */
const QUEUE_KEY = /^sluice:\{([^}]*)\}:(?:stream|delayed|paused)$/;

/**
 * The queues on this Redis, sorted: every name with a stream, delayed messages or a pause
 * (dead-letter queues included), found by SCAN, which never blocks Redis as KEYS would.
 * With `url` a connection is opened for the call and closed after it; a `client` is left open.
 * @throws {@link sluice!InvalidOptionError | InvalidOptionError} for both `url` and `client`, or a
 * malformed URL
 * @throws {@link sluice!BrokerUnavailableError | BrokerUnavailableError} when Redis cannot be reached
 * @throws {@link RedisAccessError} when Redis refuses the user
 */
export async function queueNames(options: QueueNamesOptions = {}): Promise<string[]> {
  assertConnectionOptions(options);
  const connection = new Connection({ url: options.url, client: options.client }, 'queue-names');
  const names = new Set<string>();
  try {
    await connection.ready('list the queues');
    let cursor = '0';
    do {
      const [next, keys] = await connection.client.scan(cursor, 'MATCH', 'sluice:{*}:*', 'COUNT', SCAN_COUNT);
      for (const key of keys) {
        const name = QUEUE_KEY.exec(key)?.[1];
        if (name !== undefined) names.add(name);
      }
      cursor = next;
    } while (cursor !== '0');
  } catch (error) {
    throw error instanceof SluiceError ? error : failure('list the queues', error);
  } finally {
    await connection.close(CLOSE_TIMEOUT);
  }
  return [...names].sort();
}
