import type { NatsConnection } from '@nats-io/transport-node';
import { Connection } from './connection.js';
import { Topology } from './topology.js';

/** A queue handle's connection and what it created on it. */
export interface Session {
  readonly connection: Connection;
  readonly topology: Topology;
}

/** Connects a queue handle and starts its topology. */
export async function openSession(
  queue: string,
  source: { readonly url: string | undefined; readonly connection: NatsConnection | undefined },
  visibilityTimeout: number,
): Promise<Session> {
  const connection = await Connection.open(queue, source.url, source.connection);
  return { connection, topology: new Topology(connection, visibilityTimeout) };
}

/**
 * Opens a handle's session on first use, and again after a first attempt failed or the client gave
 * the connection up: the next operation tries again (and meets the refusal). Shared by a queue
 * handle's producer, consumer, dead-lettering and delayed mover (a `Session`), and by a job store's
 * records, feed and cancels (a `JobSession`).
 */
export class LazySession<S extends { readonly connection: Connection } = Session> {
  /** The session once open, so the hot path need not await it. */
  ready: S | undefined;
  #opening: Promise<S> | undefined;
  readonly #open: () => Promise<S>;
  readonly #onOpen: ((session: S) => void) | undefined;

  /** `onOpen` is called with each session opened (to follow its reconnects). */
  constructor(open: () => Promise<S>, onOpen?: (session: S) => void) {
    this.#open = open;
    this.#onOpen = onOpen;
  }

  get(): Promise<S> {
    this.#opening ??= this.#open().then(
      (session) => {
        session.connection.onLost(() => {
          if (this.ready !== session) return;
          this.ready = undefined;
          this.#opening = undefined;
        });
        this.ready = session;
        this.#onOpen?.(session);
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
