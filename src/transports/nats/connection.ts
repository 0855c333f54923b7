import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection, type Status } from '@nats-io/transport-node';
import { BrokerUnavailableError } from '../../errors.js';
import { isAccessRefused, NatsAccessError, NatsTopologyError } from './errors.js';
import { serverOptions, withoutCredentials } from './servers.js';

/**
 * One NATS connection as a queue handle sees it: the clients on it, whether it is up now, and who
 * to tell when it comes back. An opened connection reconnects forever (every 500 ms); a borrowed
 * one keeps the caller's settings and is never closed here.
 * An opened connection sets `noAsyncTraces`: otherwise the client builds two errors with stack
 * traces for every publish and request, in case it times out, a large share of what a `send` costs.
 * A failure still arrives as a BrokerUnavailableError naming the operation and the queue.
 */
export class Connection {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly owned: boolean;
  /** False between a disconnect and the next reconnect. */
  up = true;
  readonly #onReconnect = new Set<() => void>();
  readonly #statuses: AsyncIterable<Status> & { stop?(): void };

  private constructor(nc: NatsConnection, jsm: JetStreamManager, owned: boolean) {
    this.nc = nc;
    this.jsm = jsm;
    this.js = jetstream(nc);
    this.owned = owned;
    this.#statuses = nc.status();
    void this.#watch();
  }

  /**
   * Connects to `url` (one server or several, comma-separated) or borrows `connection`, for queue
   * `queue`. A server without JetStream is a NatsTopologyError: waiting would not enable it.
   */
  static async open(
    queue: string,
    url: string | undefined,
    connection: NatsConnection | undefined,
  ): Promise<Connection> {
    try {
      if (connection !== undefined)
        return new Connection(connection, await jetstreamManager(connection), false);
      const nc = await connect({
        ...serverOptions(url ?? 'nats://127.0.0.1:4222'),
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        noAsyncTraces: true,
      });
      try {
        return new Connection(nc, await jetstreamManager(nc), true);
      } catch (error) {
        await nc.close();
        throw error;
      }
    } catch (error) {
      const server = url === undefined ? 'the given connection' : withoutCredentials(url);
      if ((error as Error | null)?.name === 'JetStreamNotEnabled') {
        throw new NatsTopologyError(queue, server, 'JetStream is not enabled there (nats-server -js)');
      }
      const operation = `connecting to ${server}`;
      if (isAccessRefused(error)) throw new NatsAccessError(operation, { cause: error });
      throw new BrokerUnavailableError('NATS', operation, { cause: error });
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

  async close(): Promise<void> {
    this.#statuses.stop?.();
    if (this.owned && !this.nc.isClosed()) await this.nc.close();
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

/** nats-server's own default `max_payload`, for the moment before the server said its own. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
