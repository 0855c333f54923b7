import { Redis } from 'ioredis';
import { atMost } from '../shared/at-most.js';
import { failure } from './errors.js';
import { type ScriptCommands, withScripts } from './scripts.js';

/**
 * The command connection of a queue handle: the adapter's own (from `url`) or the caller's `client`.
 * Before its first connection, commands wait for it; once it has been ready, a send during an
 * outage fails at once (`ready()` rejects) instead of waiting in ioredis' offline queue, so a caller
 * learns that the message was not stored. Settling and fetching do wait: ioredis replays them after
 * reconnecting.
 */
export class Connection {
  readonly client: Redis & ScriptCommands;
  readonly owned: boolean;
  #everReady: boolean;
  #lastError: unknown;
  #firstConnection: Promise<void> | undefined;
  readonly #onReady = () => {
    this.#everReady = true;
  };

  /** `pipelined`: commands issued in one tick leave in one write (many small independent writes: a job store's). */
  constructor(
    source: { url: string | undefined; client: Redis | undefined },
    name: string,
    pipelined = false,
  ) {
    this.owned = source.client === undefined;
    const client =
      source.client ??
      new Redis(source.url ?? 'redis://127.0.0.1:6379', {
        connectionName: `sluice:${name}`,
        enableAutoPipelining: pipelined,
      });
    // Without a listener ioredis prints every connection error; the cause is reported with the
    // BrokerUnavailableError of the operation that needed the connection.
    if (this.owned) client.on('error', (error) => this.#remember(error));
    this.#everReady = client.status === 'ready';
    // Removed by close(): a caller's client outlives its queues.
    if (!this.#everReady) client.once('ready', this.#onReady);
    this.client = withScripts(client);
  }

  /** undefined when commands can go out now (the hot path), else a promise of that moment. */
  ready(operation: string): Promise<void> | undefined {
    const client = this.client;
    if (client.status === 'ready') return undefined;
    if (this.#everReady || client.status === 'end') {
      return Promise.reject(
        failure(operation, this.#lastError ?? new Error(`connection is ${client.status}`)),
      );
    }
    if (client.status === 'wait') client.connect().catch(() => {});
    this.#firstConnection ??= this.#untilReady();
    return this.#firstConnection.catch((error: unknown) => {
      throw failure(operation, error);
    });
  }

  /** One wait for every operation issued before the first connection: one set of listeners. */
  #untilReady(): Promise<void> {
    const client = this.client;
    const waiting = new Promise<void>((resolve, reject) => {
      const onReady = () => {
        cleanup();
        resolve();
      };
      const onError = (error: unknown) => {
        cleanup();
        reject(error);
      };
      const onEnd = () => onError(new Error('connection ended'));
      const cleanup = () => {
        client.off('ready', onReady);
        client.off('error', onError);
        client.off('end', onEnd);
      };
      client.on('ready', onReady);
      client.on('error', onError);
      client.on('end', onEnd);
    });
    // The next wait after a failed first attempt listens again.
    waiting.catch(() => {
      this.#firstConnection = undefined;
    });
    return waiting;
  }

  /** A second connection for blocking reads (a blocked connection serves nothing else). */
  duplicate(name: string): Redis {
    const blocking = this.client.duplicate({
      connectionName: `sluice:${name}:reader`,
      maxRetriesPerRequest: null,
    });
    blocking.on('error', (error) => this.#remember(error));
    return blocking;
  }

  /** `timeout`: how long QUIT may take; a server that stopped answering is then dropped. */
  async close(timeout: number): Promise<void> {
    this.client.off('ready', this.#onReady);
    if (!this.owned) return;
    // Not connected: QUIT would wait behind the commands queued for a reconnection, which the
    // queue's close() stopped waiting for. Dropping them rejects their callers.
    if (this.client.status !== 'ready') return this.client.disconnect();
    await atMost(this.client.quit(), timeout);
    this.client.disconnect(); // nothing left to do once QUIT answered; else stops waiting for it
  }

  #remember(error: unknown): void {
    this.#lastError = error;
  }
}
