import { Socket } from 'node:net';
import { Pool } from 'pg';
import { InvalidOptionError } from '../../errors.js';
import { RESOLVED } from '../../queuing/settled.js';
import { atMost } from '../shared/at-most.js';
import { ensureMigrated } from './migrate.js';
import { type Statements, statements } from './sql.js';

/**
 * The pool a queue handle works through: its own (from `url`, ended by `close()`) or the caller's
 * (left open), the statements for `dbSchema`, and the gate every statement passes first: the tables
 * exist in `dbSchema`.
 */
export class Connection {
  readonly pool: Pool;
  readonly owned: boolean;
  readonly sql: Statements;
  readonly #dbSchema: string;
  /** Kept so that `end()` can drop the connections of a server that stopped answering. */
  readonly #sockets = new Set<Socket>();
  #migrated = false;

  /** Checks `url` and `pool` at the boundary; opens nothing yet (pg connects on first use). */
  constructor(url: unknown, pool: unknown, dbSchema: string) {
    this.#dbSchema = dbSchema;
    this.sql = statements(dbSchema);
    if (pool !== undefined) {
      this.pool = checkedPool(url, pool);
      this.owned = false;
      return;
    }
    if (typeof url !== 'string' || url.length === 0) {
      throw new InvalidOptionError('url', url, 'a postgres:// connection string (or pass pool)');
    }
    this.pool = new Pool({
      connectionString: url,
      connectionTimeoutMillis: 10_000,
      application_name: 'sluice',
      stream: () => {
        const socket = new Socket();
        this.#sockets.add(socket);
        socket.once('close', () => this.#sockets.delete(socket));
        return socket;
      },
    });
    // An idle connection dropped by the server (restart, admin kill) is discarded by the pool and
    // replaced on next use; without a listener that event would crash the process.
    this.pool.on('error', ignore);
    // So is one checked out when it drops, or when end() destroys it: pg emits the loss on the client
    // as well as failing its query, and the pool listens only to idle clients.
    this.pool.on('connect', (client) => client.on('error', ignore));
    this.owned = true;
  }

  /** Resolves once the tables exist (created or upgraded on first use); at once after that. */
  ready(): Promise<void> {
    if (this.#migrated) return RESOLVED;
    return ensureMigrated(this.pool, this.#dbSchema).then(() => {
      this.#migrated = true;
    });
  }

  /**
   * Ends the pool if the queue opened it, waiting at most `timeout`, then drops what is left: pg can
   * only end a connection politely, which waits for the server's reply for ever.
   */
  async end(timeout: number): Promise<void> {
    if (!this.owned) return;
    await atMost(this.pool.end(), timeout);
    for (const socket of this.#sockets) socket.destroy();
  }
}

function ignore(): void {}

function checkedPool(url: unknown, pool: unknown): Pool {
  if (url !== undefined) throw new InvalidOptionError('url', url, 'either url or pool, not both');
  if (typeof (pool as Pool | null)?.connect !== 'function' || typeof (pool as Pool).query !== 'function') {
    throw new InvalidOptionError('pool', pool, 'a pg Pool');
  }
  // A consumer holds one connection for LISTEN and claims on another: one connection would deadlock.
  const max = (pool as Pool).options?.max;
  if (typeof max === 'number' && max < 2) {
    throw new InvalidOptionError('pool', `a pool of max ${max}`, 'a pool of at least 2 connections');
  }
  return pool as Pool;
}
