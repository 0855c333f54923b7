import type { Notification, Pool, PoolClient } from 'pg';

/**
 * One pooled connection held for LISTEN, on the queues' channel and on the pause channel. When it drops, `onLost` runs and the next `ready()`
 * connects and listens again; the caller re-checks the queue then, since notifications sent while
 * nobody listened are gone.
 */
export class Listener {
  readonly #pool: Pool;
  readonly #listen: string;
  readonly #channel: string;
  readonly #pauseChannel: string;
  readonly #onNotify: (queue: string) => void;
  readonly #onPause: (queue: string) => void;
  readonly #onLost: () => void;
  #client: PoolClient | undefined;
  /** Destroys the current connection exactly once, whichever of close, error or end comes first. */
  #drop: (() => void) | undefined;
  #connecting: Promise<void> | undefined;
  #closed = false;

  constructor(
    pool: Pool,
    sql: { listen: string; channel: string; pauseChannel: string },
    onNotify: (queue: string) => void,
    onPause: (queue: string) => void,
    onLost: () => void,
  ) {
    this.#pool = pool;
    this.#listen = sql.listen;
    this.#channel = sql.channel;
    this.#pauseChannel = sql.pauseChannel;
    this.#onNotify = onNotify;
    this.#onPause = onPause;
    this.#onLost = onLost;
  }

  /** Resolves once this connection is listening; rejects if it cannot connect now. */
  ready(): Promise<void> {
    if (this.#client !== undefined) return Promise.resolve();
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#connecting?.catch(() => {});
    this.#client = undefined;
    this.#drop?.();
  }

  async #connect(): Promise<void> {
    const client = await this.#pool.connect();
    let dropped = false;
    const drop = () => {
      if (dropped) return;
      dropped = true;
      client.release(true); // never hand a LISTENing connection back to the pool
      if (this.#client === client) {
        this.#client = undefined;
        this.#onLost();
      }
    };
    client.on('error', drop);
    client.on('end', drop);
    client.on('notification', ({ channel, payload }: Notification) => {
      if (!payload) return;
      if (channel === this.#channel) this.#onNotify(payload);
      else if (channel === this.#pauseChannel) this.#onPause(payload);
    });
    try {
      await client.query(this.#listen);
    } catch (error) {
      drop();
      throw error;
    }
    if (this.#closed) return drop();
    this.#client = client;
    this.#drop = drop;
  }
}
