import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection, type Status } from '@nats-io/transport-node';
import type { SluiceError } from '../../errors.js';
import { failure, NatsTopologyError, type NatsTopologyUser } from './errors.js';
import { serverOptions, withoutCredentials } from './servers.js';

/**
 * One NATS connection as a queue handle sees it: the clients on it, whether it is up now, and who
 * to tell when it comes back. An opened connection reconnects forever (every 500 ms); a borrowed
 * one keeps the caller's settings and is never closed here.
 * An opened connection sets `noAsyncTraces`: otherwise the client builds two errors with stack
 * traces for every publish and request, in case it times out, a large share of what a `send` costs.
 * A failure still arrives as a BrokerUnavailableError naming the operation and the queue.
 * The client gives an opened connection up by itself only when the server refuses it again on a
 * reconnect (credentials revoked): `onLost` listeners are told, with a NatsAccessError.
 */
export class Connection {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly owned: boolean;
  /** False between a disconnect and the next reconnect. */
  up = true;
  readonly #onReconnect = new Set<() => void>();
  readonly #onLost = new Set<(error: SluiceError) => void>();
  readonly #statuses: AsyncIterable<Status> & { stop?(): void };
  #closing = false;

  private constructor(nc: NatsConnection, jsm: JetStreamManager, server: string | undefined) {
    this.nc = nc;
    this.jsm = jsm;
    this.js = jetstream(nc);
    this.owned = server !== undefined;
    this.#statuses = nc.status();
    void this.#watch();
    if (server !== undefined) void nc.closed().then((error) => this.#lost(server, error));
  }

  /**
   * Connects to `url` (one server or several, comma-separated) or borrows `connection`, for `user`
   * (a queue's name or a job store). A server without JetStream is a NatsTopologyError: waiting
   * would not enable it.
   */
  static async open(
    user: NatsTopologyUser,
    url: string | undefined,
    connection: NatsConnection | undefined,
  ): Promise<Connection> {
    try {
      if (connection !== undefined)
        return new Connection(connection, await jetstreamManager(connection), undefined);
      const nc = await connect({
        ...serverOptions(url ?? DEFAULT_URL),
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        noAsyncTraces: true,
      });
      try {
        return new Connection(nc, await jetstreamManager(nc), withoutCredentials(url ?? DEFAULT_URL));
      } catch (error) {
        await nc.close();
        throw error;
      }
    } catch (error) {
      const server = url === undefined ? 'the given connection' : withoutCredentials(url);
      if ((error as Error | null)?.name === 'JetStreamNotEnabled') {
        throw new NatsTopologyError(user, server, 'JetStream is not enabled there (nats-server -js)');
      }
      throw failure(`connecting to ${server}`, error);
    }
  }

  /** The largest message (body and NATS headers) the server in use accepts: its `max_payload`. */
  get maxPayload(): number {
    return this.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
  }

  onReconnect(listener: () => void): () => void {
    this.#onReconnect.add(listener);
    return () => this.#onReconnect.delete(listener);
  }

  /** Calls `listener` if the client gives the connection up by itself. Returns the unsubscriber. */
  onLost(listener: (error: SluiceError) => void): () => void {
    this.#onLost.add(listener);
    return () => this.#onLost.delete(listener);
  }

  async close(): Promise<void> {
    this.#closing = true;
    this.#statuses.stop?.();
    if (this.owned && !this.nc.isClosed()) await this.nc.close();
  }

  #lost(server: string, error: void | Error): void {
    if (this.#closing) return;
    this.up = false;
    const lost = failure(`reconnecting to ${server}`, error ?? new Error('the client closed the connection'));
    for (const listener of this.#onLost) listener(lost);
  }

  async #watch(): Promise<void> {
    for await (const status of this.#statuses) {
      if (status.type === 'disconnect') this.up = false;
      else if (status.type === 'reconnect') {
        this.up = true;
        for (const listener of this.#onReconnect) listener();
      }
    }
  }
}

const DEFAULT_URL = 'nats://127.0.0.1:4222';

/** nats-server's own default `max_payload`, for the moment before the server said its own. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
