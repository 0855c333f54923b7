import { Pool } from 'pg';
import { InvalidOptionError } from '../../errors.js';
import { assertBackoff, assertMaxAttempts } from '../../queuing/backoff.js';
import { compileMessageSchema, type MessageCheck, type MessageSchema } from '../../queuing/message-schema.js';
import type { Backoff } from '../../queuing/types.js';
import { type Statements, statements } from './sql.js';

export interface PostgresQueueOptions<T> {
  /** Connection string; the queue opens its own pool and closes it on `close()`. */
  url?: string;
  /** An existing pool (not closed by the queue), of at least 2 connections: a consumer holds one for LISTEN. */
  pool?: Pool;
  /** Deliveries before a nacked message is dead-lettered. Default 5. */
  maxAttempts?: number;
  /** Delay before a nacked message is redelivered. Default exponential from 100 ms, at most 30 s. */
  backoff?: Backoff;
  /** Queue that receives dead messages, with the reason. Default `${name}.dead`. */
  deadLetter?: string;
  /** Milliseconds a claimed message stays invisible to other consumers before it is claimed again. Default 30 s. */
  visibilityTimeout?: number;
  /** Checked on receive; a message that fails is dead-lettered with the reason, never handed out. */
  schema?: MessageSchema<T>;
  /** Milliseconds `close()` lets handed-out deliveries settle before releasing them. Default 10 s. */
  closeTimeout?: number;
  /**
   * Messages claimed ahead of demand, so a busy consumer never waits for a round trip. Default 64;
   * grows up to 16× while consumers empty the buffer faster than claims refill it, and falls back
   * once the queue is drained. `0` claims only for `next()` calls already waiting.
   */
  prefetch?: number;
  /** PostgreSQL schema holding the tables; created on first use. Default `sluice`. */
  dbSchema?: string;
}

/** What every part of one queue handle shares. */
export interface Context<T> {
  readonly name: string;
  readonly pool: Pool;
  readonly ownsPool: boolean;
  readonly dbSchema: string;
  readonly sql: Statements;
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  readonly deadLetter: string;
  readonly visibilityTimeout: number;
  readonly closeTimeout: number;
  readonly prefetch: number;
  readonly check: MessageCheck<T> | undefined;
}

/** Validates everything at the boundary, before any connection is opened. */
export function resolveOptions<T>(name: unknown, options: PostgresQueueOptions<T>): Context<T> {
  if (typeof name !== 'string' || name.length === 0)
    throw new InvalidOptionError('name', name, 'a non-empty string');
  const {
    url,
    pool,
    maxAttempts = 5,
    backoff = { type: 'exponential', delay: 100, max: 30_000 },
    deadLetter = `${name}.dead`,
    visibilityTimeout = 30_000,
    schema,
    closeTimeout = 10_000,
    prefetch = 64,
    dbSchema = 'sluice',
  } = options ?? {};
  assertMaxAttempts(maxAttempts);
  assertBackoff(backoff);
  if (typeof deadLetter !== 'string' || deadLetter.length === 0 || deadLetter === name) {
    throw new InvalidOptionError('deadLetter', deadLetter, `a queue name other than ${JSON.stringify(name)}`);
  }
  if (!(Number.isFinite(visibilityTimeout) && visibilityTimeout > 0)) {
    throw new InvalidOptionError('visibilityTimeout', visibilityTimeout, 'milliseconds > 0');
  }
  if (!(Number.isFinite(closeTimeout) && closeTimeout >= 0)) {
    throw new InvalidOptionError('closeTimeout', closeTimeout, 'milliseconds ≥ 0');
  }
  if (!(Number.isInteger(prefetch) && prefetch >= 0)) {
    throw new InvalidOptionError('prefetch', prefetch, 'an integer ≥ 0');
  }
  if (typeof dbSchema !== 'string' || dbSchema.length === 0 || dbSchema.length > 63) {
    throw new InvalidOptionError('dbSchema', dbSchema, 'a PostgreSQL schema name (1 to 63 characters)');
  }
  const check = compileMessageSchema(schema);
  return {
    name,
    ...connection(url, pool),
    dbSchema,
    sql: statements(dbSchema),
    maxAttempts,
    backoff,
    deadLetter,
    visibilityTimeout,
    closeTimeout,
    prefetch,
    check,
  };
}

function connection(url: unknown, pool: unknown): { pool: Pool; ownsPool: boolean } {
  if (pool !== undefined) {
    if (url !== undefined) throw new InvalidOptionError('url', url, 'either url or pool, not both');
    if (typeof (pool as Pool | null)?.connect !== 'function' || typeof (pool as Pool).query !== 'function') {
      throw new InvalidOptionError('pool', pool, 'a pg Pool');
    }
    // A consumer holds one connection for LISTEN and claims on another: one connection would deadlock.
    const max = (pool as Pool).options?.max;
    if (typeof max === 'number' && max < 2) {
      throw new InvalidOptionError('pool', `a pool of max ${max}`, 'a pool of at least 2 connections');
    }
    return { pool: pool as Pool, ownsPool: false };
  }
  if (typeof url !== 'string' || url.length === 0) {
    throw new InvalidOptionError('url', url, 'a postgres:// connection string (or pass pool)');
  }
  const own = new Pool({
    connectionString: url,
    connectionTimeoutMillis: 10_000,
    application_name: 'sluice',
  });
  // An idle connection dropped by the server (restart, admin kill) is discarded by the pool and
  // replaced on next use; without a listener that event would crash the process.
  own.on('error', () => {});
  return { pool: own, ownsPool: true };
}
