import type { Pool } from 'pg';
import { InvalidOptionError } from '../../errors.js';
import { textProblem } from '../../queuing/text-rules.js';
import {
  type BrokerQueueOptions,
  type ResolvedBrokerOptions,
  resolveBrokerOptions,
} from '../shared/broker-options.js';

/** The options of {@link PostgresQueue}: `url` or `pool`, and those every broker queue takes. */
export interface PostgresQueueOptions<T> extends BrokerQueueOptions<T> {
  /** Connection string; the queue opens its own pool and closes it on `close()`. Needed unless `pool` is given. */
  url?: string;
  /** An existing pool (not closed by the queue), of at least 2 connections: a consumer holds one for LISTEN. */
  pool?: Pool;
  /**
   * Messages claimed ahead of demand, so a busy consumer never waits for a round trip. It grows up
   * to 16 times while consumers empty the buffer faster than claims refill it, and falls back once
   * the queue is drained. `0` claims only for `next()` calls already waiting. At most 10,000.
   * @defaultValue `64`
   */
  prefetch?: number;
  /**
   * PostgreSQL schema holding the tables; created on first use. At most 63 UTF-8 bytes of
   * well-formed Unicode without control characters, not starting with `pg_`.
   * @defaultValue `'sluice'`
   */
  dbSchema?: string;
}

export interface ResolvedOptions<T> extends ResolvedBrokerOptions<T> {
  readonly name: string;
  readonly dbSchema: string;
  readonly prefetch: number;
}

/**
 * The largest `prefetch`: a buffer far beyond what consumers handle within half a lease is given
 * back unused (see PostgresConsumer.take), and a claim of 16× this still fits the claim's integer limit.
 */
const MAX_PREFETCH = 10_000;

/**
 * The longest schema name PostgreSQL keeps (NAMEDATALEN - 1), in bytes: a longer one is silently
 * cut, so the statements and the LISTEN channel would name a schema other than the one created.
 */
const MAX_SCHEMA_BYTES = 63;

/** Validates the options but `url` and `pool` (the Connection checks those), before anything is opened. */
export function resolveOptions<T>(name: string, options: PostgresQueueOptions<T>): ResolvedOptions<T> {
  const common = resolveBrokerOptions(name, options ?? {});
  const { prefetch = 64, dbSchema = 'sluice' } = options ?? {};
  if (!(Number.isInteger(prefetch) && prefetch >= 0 && prefetch <= MAX_PREFETCH)) {
    throw new InvalidOptionError('prefetch', prefetch, `an integer from 0 to ${MAX_PREFETCH}`);
  }
  assertSchemaName(dbSchema);
  return { ...common, name, dbSchema, prefetch };
}

/** `dbSchema`'s rules, shared by PostgresJobStore so that a store and the queues can use one schema. */
export function assertSchemaName(dbSchema: unknown): asserts dbSchema is string {
  if (typeof dbSchema !== 'string' || dbSchema.length === 0) {
    throw new InvalidOptionError('dbSchema', dbSchema, 'a non-empty string');
  }
  const problem = textProblem(dbSchema);
  if (problem !== undefined) {
    throw new InvalidOptionError(
      'dbSchema',
      dbSchema,
      `a schema name of well-formed Unicode without control characters (it ${problem})`,
    );
  }
  if (Buffer.byteLength(dbSchema) > MAX_SCHEMA_BYTES) {
    throw new InvalidOptionError(
      'dbSchema',
      dbSchema,
      `a schema name of at most ${MAX_SCHEMA_BYTES} UTF-8 bytes`,
    );
  }
  if (dbSchema.startsWith('pg_')) {
    throw new InvalidOptionError(
      'dbSchema',
      dbSchema,
      'a schema name not starting with pg_ (reserved by PostgreSQL)',
    );
  }
}
