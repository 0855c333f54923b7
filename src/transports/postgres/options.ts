import type { Pool } from 'pg';
import { InvalidOptionError } from '../../errors.js';
import {
  type BrokerQueueOptions,
  type ResolvedBrokerOptions,
  resolveBrokerOptions,
} from '../shared/broker-options.js';

export interface PostgresQueueOptions<T> extends BrokerQueueOptions<T> {
  /** Connection string; the queue opens its own pool and closes it on `close()`. */
  url?: string;
  /** An existing pool (not closed by the queue), of at least 2 connections: a consumer holds one for LISTEN. */
  pool?: Pool;
  /**
   * Messages claimed ahead of demand, so a busy consumer never waits for a round trip. Default 64;
   * grows up to 16× while consumers empty the buffer faster than claims refill it, and falls back
   * once the queue is drained. `0` claims only for `next()` calls already waiting.
   */
  prefetch?: number;
  /** PostgreSQL schema holding the tables; created on first use. Default `sluice`. */
  dbSchema?: string;
}

export interface ResolvedOptions<T> extends ResolvedBrokerOptions<T> {
  readonly name: string;
  readonly dbSchema: string;
  readonly prefetch: number;
}

/** Validates the options but `url` and `pool` (the Connection checks those), before anything is opened. */
export function resolveOptions<T>(name: string, options: PostgresQueueOptions<T>): ResolvedOptions<T> {
  const common = resolveBrokerOptions(name, options ?? {});
  const { prefetch = 64, dbSchema = 'sluice' } = options ?? {};
  if (!(Number.isInteger(prefetch) && prefetch >= 0)) {
    throw new InvalidOptionError('prefetch', prefetch, 'an integer ≥ 0');
  }
  if (typeof dbSchema !== 'string' || dbSchema.length === 0 || dbSchema.length > 63) {
    throw new InvalidOptionError('dbSchema', dbSchema, 'a PostgreSQL schema name (1 to 63 characters)');
  }
  return { ...common, name, dbSchema, prefetch };
}
