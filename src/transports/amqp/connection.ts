import { type Channel, type ChannelModel, type ConfirmChannel, connect } from 'amqplib';
import { BrokerUnavailableError, QueueClosedError, type SluiceError } from '../../errors.js';
import { refusal } from './errors.js';
import { DelayDeclarations, declareQueue } from './topology.js';

/** One live connection with its publishing channel (in confirm mode) and what was declared on it. */
export interface Session {
  readonly connection: ChannelModel;
  /** Replaced when the broker closes it while the connection lives (e.g. after a refused declaration). */
  publisher: ConfirmChannel;
  readonly delays: DelayDeclarations;
  /** Queues declared on this connection, besides the main queue and the delay queues. */
  readonly declared: Set<string>;
  /** Message ids of mandatory publishes the broker returned as unroutable (see publisher.ts). */
  readonly returned: Set<string>;
  /** The confirm callbacks of the publishes on `publisher` that the broker has not answered yet. */
  readonly unconfirmed: Set<(error: unknown) => void>;
  /** The connection's 'close' listener, removed on close so that a given connection keeps none. */
  readonly lost: () => void;
}

/** Told of every (re)connection, and of a refusal that ends the retries. */
export interface SessionListener {
  up(session: Session): void;
  /** RabbitMQ answered what no retry changes (see `Connection`): nothing reconnects any more. */
  refused(error: SluiceError): void;
}

/**
 * Closes a channel or connection; resolves once it is closed. amqplib settles `close()` when the
 * broker answers it, so never when the connection drops first, but the 'close' event comes either way.
 */
export function closed(closeable: Channel | ChannelModel): Promise<void> {
  return new Promise((resolve) => {
    closeable.once('close', () => resolve());
    closeable.close().catch(() => resolve()); // already closed or closing
  });
}

const RECONNECT_FIRST_DELAY = 100;
const RECONNECT_MAX_DELAY = 5_000;
const CONNECT_TIMEOUT = 10_000;

/**
 * The connection of one AmqpQueue and its publishing channel. States: idle (nothing opened yet) →
 * connecting → up; connecting → reconnecting when an owned connection cannot be opened, and up →
 * reconnecting when it drops: retried in the background with a growing delay until it is up again,
 * so that a consumer started while RabbitMQ is down waits for it like one that was running.
 * A refusal no retry changes (credentials, permissions: AmqpAccessError; AmqpTopologyError) stops
 * the retries and leaves it idle. A connection the user passed in is never reopened: losing it
 * leaves it idle. Anything → closed.
 */
export class Connection {
  /** Set while up: the hot path reads it without awaiting. */
  session: Session | undefined;
  readonly #queue: string;
  readonly #priorities: boolean;
  readonly #url: string | undefined;
  readonly #given: ChannelModel | undefined;
  readonly #listeners = new Set<SessionListener>();
  #connecting: Promise<Session> | undefined;
  #reconnecting = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(queue: string, priorities: boolean, target: { url: string } | { connection: ChannelModel }) {
    this.#queue = queue;
    this.#priorities = priorities;
    this.#url = 'url' in target ? target.url : undefined;
    this.#given = 'connection' in target ? target.connection : undefined;
  }

  /** The live session, after the connection attempt under way if any; rejects during an outage. */
  ready(operation: string): Promise<Session> {
    if (this.session !== undefined) return Promise.resolve(this.session);
    if (this.#connecting !== undefined) return this.#connecting;
    if (this.#closed) return Promise.reject(new QueueClosedError(this.#queue));
    if (this.#reconnecting) return Promise.reject(this.unavailable(operation));
    return this.#connect();
  }

  /** True during an outage of an owned connection: it is being (re)opened in the background. */
  get recovering(): boolean {
    return this.#reconnecting;
  }

  /** Calls `listener` on every (re)connection from now on, and now if up. Returns the unsubscriber. */
  onSession(listener: SessionListener): () => void {
    this.#listeners.add(listener);
    if (this.session !== undefined) listener.up(this.session);
    return () => this.#listeners.delete(listener);
  }

  unavailable(operation: string, cause?: unknown): BrokerUnavailableError {
    return new BrokerUnavailableError('RabbitMQ', `${operation} on queue ${this.#queue}`, { cause });
  }

  /**
   * Closes the connection if it was opened here (only the publishing channel of a given one), once
   * `flush` let what was published on the live session end.
   */
  async close(flush: (session: Session) => Promise<void>): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    const session = this.session ?? (await this.#connecting?.catch(() => undefined));
    this.session = undefined;
    this.#listeners.clear();
    if (session === undefined) return;
    await flush(session);
    await this.#dispose(session);
  }

  #connect(): Promise<Session> {
    this.#connecting = this.#open().then(
      (session) => {
        this.#connecting = undefined;
        if (this.#closed) {
          void this.#dispose(session);
          throw new QueueClosedError(this.#queue);
        }
        this.#reconnecting = false;
        this.session = session;
        for (const listener of this.#listeners) listener.up(session);
        return session;
      },
      (error: unknown) => {
        this.#connecting = undefined;
        const refused = refusal(error, this.#queue, 'connect');
        if (refused !== undefined) {
          this.#reconnecting = false;
          for (const listener of this.#listeners) listener.refused(refused);
          throw refused;
        }
        if (this.#given === undefined && !this.#closed && !this.#reconnecting) {
          this.#reconnecting = true;
          this.#retry(RECONNECT_FIRST_DELAY);
        }
        throw this.unavailable('connect', error);
      },
    );
    return this.#connecting;
  }

  async #open(): Promise<Session> {
    const connection = this.#given ?? (await connect(this.#url!, { timeout: CONNECT_TIMEOUT }));
    const owned = this.#given === undefined;
    if (owned) connection.on('error', () => {}); // a 'close' always follows, handled below
    try {
      const session: Session = {
        connection,
        publisher: await this.#openPublisher(connection),
        delays: new DelayDeclarations(this.#queue),
        declared: new Set(),
        returned: new Set(),
        unconfirmed: new Set(),
        lost: () => this.#lost(session),
      };
      this.#watchPublisher(session);
      await declareQueue(session.publisher, this.#queue, this.#priorities);
      connection.once('close', session.lost);
      return session;
    } catch (error) {
      if (owned) await closed(connection);
      throw error;
    }
  }

  async #openPublisher(connection: ChannelModel): Promise<ConfirmChannel> {
    const publisher = await connection.createConfirmChannel();
    publisher.on('error', () => {}); // a 'close' always follows
    return publisher;
  }

  #watchPublisher(session: Session): void {
    const { publisher } = session;
    publisher.on('return', (message) => session.returned.add(message.properties.messageId));
    publisher.once('close', () => {
      // amqplib fails the publishes it holds unconfirmed, but stops at the first one confirmed out of
      // order (RabbitMQ confirms each queue's publishes on its own): the rest would wait for ever.
      for (const settle of session.unconfirmed) settle(new Error('channel closed'));
      if (this.session !== session) return;
      this.#openPublisher(session.connection).then(
        (replacement) => {
          session.publisher = replacement;
          this.#watchPublisher(session);
        },
        () => {}, // the connection itself is closing: #lost takes over
      );
    });
  }

  #lost(session: Session): void {
    if (this.session !== session) return;
    this.session = undefined;
    if (this.#closed || this.#given !== undefined) return;
    this.#reconnecting = true;
    this.#retry(RECONNECT_FIRST_DELAY);
  }

  #retry(delay: number): void {
    this.#retryTimer = setTimeout(() => {
      this.#connect().catch(() => {
        if (this.#reconnecting && !this.#closed) this.#retry(Math.min(delay * 2, RECONNECT_MAX_DELAY));
      });
    }, delay);
  }

  async #dispose(session: Session): Promise<void> {
    session.connection.off('close', session.lost);
    await closed(this.#given === undefined ? session.connection : session.publisher);
  }
}
