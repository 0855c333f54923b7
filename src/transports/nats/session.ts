import type { NatsConnection } from '@nats-io/transport-node';
import { Connection } from './connection.js';
import { Topology } from './topology.js';

/** A queue handle's connection and what it created on it. */
export interface Session {
  readonly connection: Connection;
  readonly topology: Topology;
}

/**
 * Opens a queue handle's session on first use, and again after a first connection failed (the next
 * operation tries again). Shared by the handle's producer, consumer, dead-lettering and delayed mover.
 */
export class LazySession {
  /** The session once connected, so the hot path need not await it. */
  ready: Session | undefined;
  #opening: Promise<Session> | undefined;

  constructor(
    private readonly queue: string,
    private readonly source: {
      readonly url: string | undefined;
      readonly connection: NatsConnection | undefined;
    },
    private readonly visibilityTimeout: number,
  ) {}

  get(): Promise<Session> {
    this.#opening ??= Connection.open(this.queue, this.source.url, this.source.connection).then(
      (connection) => {
        const session = { connection, topology: new Topology(connection, this.visibilityTimeout) };
        // Given up by the client: the next operation opens a connection again (and meets the refusal).
        connection.onLost(() => {
          if (this.ready !== session) return;
          this.ready = undefined;
          this.#opening = undefined;
        });
        this.ready = session;
        return session;
      },
      (error) => {
        this.#opening = undefined;
        throw error;
      },
    );
    return this.#opening;
  }

  /** Closes the connection if the handle opened it, once it is no longer needed. */
  async close(): Promise<void> {
    const session = await this.#opening?.catch(() => undefined);
    await session?.connection.close();
  }
}
