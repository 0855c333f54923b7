import { InvalidOptionError } from '../../errors.js';
import {
  type BrokerQueueOptions,
  type ResolvedBrokerOptions,
  resolveBrokerOptions,
} from '../shared/broker-options.js';

/** The options of {@link SqliteQueue}: the file, and those every broker queue takes. */
export interface SqliteQueueOptions<T> extends BrokerQueueOptions<T> {
  /** Database file, created if missing (`:memory:` for one in memory); every queue of the file shares one table. */
  path: string;
  /**
   * Milliseconds between checks for messages written by other processes while a consumer waits.
   * Sends from this process wake consumers at once.
   * @defaultValue `100`
   */
  pollInterval?: number;
}

export interface ResolvedOptions<T> extends ResolvedBrokerOptions<T> {
  readonly path: string;
  readonly pollInterval: number;
}

export function resolveOptions<T>(name: string, options: SqliteQueueOptions<T>): ResolvedOptions<T> {
  const common = resolveBrokerOptions(name, options ?? {});
  const { path, pollInterval = 100 } = (options ?? {}) as SqliteQueueOptions<T>;
  if (typeof path !== 'string' || path.length === 0) {
    throw new InvalidOptionError('path', path, 'the path of a database file');
  }
  if (typeof pollInterval !== 'number' || !Number.isFinite(pollInterval) || pollInterval < 1) {
    throw new InvalidOptionError('pollInterval', pollInterval, 'a finite number of milliseconds ≥ 1');
  }
  return { ...common, path, pollInterval };
}
