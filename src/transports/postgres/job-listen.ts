import type { Notification, Pool, PoolClient } from 'pg';
import { RESOLVED } from '../../queuing/settled.js';
import { Timer } from '../../timer.js';
import { quoteIdentifier } from './sql.js';

/** Delay before connecting again after a loss: doubles from 100 ms up to 5 s while the server is away. */
const RETRY_FIRST = 100;
const RETRY_MAX = 5_000;

/** What a ListenConnection serves: a job store's feed. */
export interface ListenOwner {
  /** The channels to listen to now; none closes the connection. */
  wanted(): readonly string[];
  notified(channel: string, payload: string): void;
  /**
   * The connection is back after a loss noticed at `lostAt` (Date.now()): what was announced while
   * nobody listened is gone, so the owner reads again what it must not miss.
   */
  reconnected(lostAt: number): void;
}

/**
 * A job store's LISTEN connection: one client of the pool, held only while its owner wants a
 * channel, listening to exactly those (LISTEN and UNLISTEN as they change). A connection that drops
 * is opened again in the background, with a growing delay, as long as a channel is wanted; the
 * owner hears of it once it listens again.
 */
export class ListenConnection {
  readonly #pool: Pool;
  readonly #owner: ListenOwner;
  #client: PoolClient | undefined;
  /** Releases and destroys `#client`, exactly once whichever of a drop or a disconnect comes first. */
  #drop: (() => void) | undefined;
  readonly #listening = new Set<string>();
  /** Connects, listens and disconnects one after another. */
  #syncing: Promise<void> = RESOLVED;
  #syncs = 0;
  /** Set when a connection that listened dropped; cleared once a new one listens. */
  #lostAt: number | undefined;
  #retry: Timer | undefined;
  #failures = 0;
  #closed = false;

  constructor(pool: Pool, owner: ListenOwner) {
    this.#pool = pool;
    this.#owner = owner;
  }

  /**
   * Resolves once the connection listens to every channel wanted now (and to no other); rejects if
   * it cannot connect. At once when it already does.
   */
  sync(): Promise<void> {
    if (this.#syncs === 0 && this.#current()) return RESOLVED;
    this.#syncs++;
    const run = this.#syncing.then(() => this.#reconcile());
    this.#syncing = run.then(
      () => {
        this.#syncs--;
      },
      () => {
        this.#syncs--;
      },
    );
    return run;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#retry?.cancel();
    await this.#syncing;
    this.#disconnect();
  }

  #current(): boolean {
    const wanted = this.#owner.wanted();
    if (wanted.length === 0) return this.#client === undefined;
    return (
      this.#client !== undefined &&
      wanted.length === this.#listening.size &&
      wanted.every((channel) => this.#listening.has(channel))
    );
  }

  async #reconcile(): Promise<void> {
    const wanted = this.#closed ? [] : this.#owner.wanted();
    if (wanted.length === 0) return this.#disconnect();
    const fresh = this.#client === undefined;
    const client = this.#client ?? (await this.#connect());
    const changes = [
      ...wanted
        .filter((channel) => !this.#listening.has(channel))
        .map((channel) => `LISTEN ${quoteIdentifier(channel)}`),
      ...[...this.#listening]
        .filter((channel) => !wanted.includes(channel))
        .map((channel) => `UNLISTEN ${quoteIdentifier(channel)}`),
    ];
    if (changes.length > 0) {
      await client.query(changes.join('; '));
      this.#listening.clear();
      for (const channel of wanted) this.#listening.add(channel);
    }
    if (fresh && this.#lostAt !== undefined) {
      const lostAt = this.#lostAt;
      this.#lostAt = undefined;
      this.#owner.reconnected(lostAt);
    }
  }

  async #connect(): Promise<PoolClient> {
    const client = await this.#pool.connect();
    let dropped = false;
    const drop = () => {
      if (dropped) return;
      dropped = true;
      client.release(true); // a LISTENing connection never goes back to the pool
      if (this.#client !== client) return; // let go on purpose
      this.#client = undefined;
      this.#drop = undefined;
      if (this.#listening.size > 0) this.#lostAt ??= Date.now();
      this.#listening.clear();
      this.#reconnectLater();
    };
    client.on('error', drop);
    client.on('end', drop);
    client.on('notification', (notification: Notification) => {
      if (this.#client === client) this.#owner.notified(notification.channel, notification.payload ?? '');
    });
    this.#client = client;
    this.#drop = drop;
    return client;
  }

  #disconnect(): void {
    const drop = this.#drop;
    this.#client = undefined;
    this.#drop = undefined;
    this.#listening.clear();
    drop?.();
  }

  #reconnectLater(): void {
    if (this.#closed || this.#retry !== undefined || this.#owner.wanted().length === 0) return;
    const delay = Math.min(RETRY_FIRST * 2 ** this.#failures, RETRY_MAX);
    this.#retry = new Timer(delay, () => {
      this.#retry = undefined;
      this.sync().then(
        () => {
          this.#failures = 0;
        },
        () => {
          this.#failures++;
          this.#reconnectLater();
        },
      );
    });
  }
}
