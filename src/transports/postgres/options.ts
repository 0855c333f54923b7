import { Socket } from 'node:net';
import { Pool } from 'pg';
import { InvalidOptionError } from '../../errors.js';
import {
  type BrokerQueueOptions,
  type ResolvedBrokerOptions,
  resolveBrokerOptions,
} from '../shared/broker-options.js';
import { type Statements, statements } from './sql.js';

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

/** What every part of one queue handle shares. */
export interface Context<T> extends ResolvedBrokerOptions<T> {
  readonly name: string;
  readonly pool: Pool;
  readonly ownsPool: boolean;
  /** Destroys the connections of the queue's own pool (none of a pool it was given). */
  readonly dropConnections: () => void;
  readonly dbSchema: string;
  readonly sql: Statements;
  readonly prefetch: number;
}

/** Validates everything at the boundary, before any connection is opened. */
export function resolveOptions<T>(name: string, options: PostgresQueueOptions<T>): Context<T> {
  const common = resolveBrokerOptions(name, options ?? {});
  const { url, pool, prefetch = 64, dbSchema = 'sluice' } = options ?? {};
  if (!(Number.isInteger(prefetch) && prefetch >= 0)) {
    throw new InvalidOptionError('prefetch', prefetch, 'an integer ≥ 0');
  }
  if (typeof dbSchema !== 'string' || dbSchema.length === 0 || dbSchema.length > 63) {
    throw new InvalidOptionError('dbSchema', dbSchema, 'a PostgreSQL schema name (1 to 63 characters)');
  }
  return {
    ...common,
    name,
    ...connection(url, pool),
    dbSchema,
    sql: statements(dbSchema),
    prefetch,
  };
}

function connection(
  url: unknown,
  pool: unknown,
): { pool: Pool; ownsPool: boolean; dropConnections: () => void } {
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
    return { pool: pool as Pool, ownsPool: false, dropConnections: () => {} };
  }
  if (typeof url !== 'string' || url.length === 0) {
    throw new InvalidOptionError('url', url, 'a postgres:// connection string (or pass pool)');
  }
  // Kept so that close() can drop the connections of a server that stopped answering: pg can only
  // end a connection politely, which waits for the server's reply for ever.
  const sockets = new Set<Socket>();
  const own = new Pool({
    connectionString: url,
    connectionTimeoutMillis: 10_000,
    application_name: 'sluice',
    stream: () => {
      const socket = new Socket();
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      return socket;
    },
  });
  // An idle connection dropped by the server (restart, admin kill) is discarded by the pool and
  // replaced on next use; without a listener that event would crash the process.
  own.on('error', () => {});
  const dropConnections = () => {
    for (const socket of sockets) socket.destroy();
  };
  return { pool: own, ownsPool: true, dropConnections };
}
