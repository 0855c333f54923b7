import { type Channel, type ChannelModel, type ConfirmChannel, connect, type Options } from 'amqplib';
import { BrokerUnavailableError, QueueClosedError, SluiceError } from '../../errors.js';
import { UnderWay } from '../shared/under-way.js';
import { AmqpTopologyError, DelayDeclarations, declareQueue } from './topology.js';

/** What a publish carries besides its body; every publish is persistent and mandatory. */
export type MessageProperties = Pick<Options.Publish, 'contentType' | 'priority' | 'headers'>;

/** One live connection with its publishing channel (in confirm mode) and what was declared on it. */
export interface Session {
  readonly connection: ChannelModel;
  /** Replaced when the broker closes it while the connection lives (e.g. after a refused declaration). */
  publisher: ConfirmChannel;
  readonly delays: DelayDeclarations;
  /** Queues declared on this connection, besides the main queue and the delay queues. */
  readonly declared: Set<string>;
  /** Message ids of mandatory publishes the broker returned as unroutable. */
  readonly returned: Set<string>;
  /** The confirm callbacks of the publishes on `publisher` that the broker has not answered yet. */
  readonly unconfirmed: Set<(error: unknown) => void>;
  /** The connection's 'close' listener, removed on close so that a given connection keeps none. */
  readonly lost: () => void;
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

/**
 * Publishes on the session's confirm channel. `confirmed` is called once: with the broker's answer,
 * or with an error if the channel closed first (see `#watchPublisher`).
 */
export function publishConfirmed(
  session: Session,
  queue: string,
  body: Buffer,
  options: Options.Publish,
  confirmed: (error: unknown) => void,
): void {
  const { unconfirmed } = session;
  const settle = (error: unknown) => {
    if (unconfirmed.delete(settle)) confirmed(error);
  };
  unconfirmed.add(settle);
  try {
    session.publisher.sendToQueue(queue, body, options, settle);
  } catch (error) {
    settle(error);
  }
}

const RECONNECT_FIRST_DELAY = 100;
const RECONNECT_MAX_DELAY = 5_000;
const CONNECT_TIMEOUT = 10_000;

/**
 * The connection of one AmqpQueue. States: idle (nothing opened yet, or the first connection
 * failed) → connecting → up; up → reconnecting when an owned connection drops, retried in the
 * background with a growing delay until it is up again; anything → closed.
 * A connection the user passed in is never reopened: losing it leaves the link idle.
 */
export class Link {
  /** Set while up: the hot path reads it without awaiting. */
  session: Session | undefined;
  readonly #queue: string;
  readonly #priorities: boolean;
  readonly #url: string | undefined;
  readonly #given: ChannelModel | undefined;
  readonly #listeners = new Set<(session: Session) => void>();
  #connecting: Promise<Session> | undefined;
  #reconnecting = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #published = 0;
  /** Publishes returned as unroutable and being declared and sent again: close() waits for them. */
  readonly #republishing = new UnderWay();
  readonly #options: Options.Publish = { persistent: true, mandatory: true };

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

  /** True during an outage of a connection that was up: it is being reopened in the background. */
  get recovering(): boolean {
    return this.#reconnecting;
  }

  /** Calls `listener` on every (re)connection from now on, and now if up. Returns the unsubscriber. */
  onSession(listener: (session: Session) => void): () => void {
    this.#listeners.add(listener);
    if (this.session !== undefined) listener(this.session);
    return () => this.#listeners.delete(listener);
  }

  unavailable(operation: string, cause?: unknown): BrokerUnavailableError {
    return new BrokerUnavailableError('RabbitMQ', `${operation} on queue ${this.#queue}`, { cause });
  }

  /**
   * Publishes a persistent message and resolves once the broker confirmed it stored it. Publishes
   * are mandatory: when the target queue is gone (deleted by someone, or an expired delay queue) the
   * broker returns the message instead of dropping it, and it is published again after `redeclare`.
   */
  publish(
    session: Session,
    queue: string,
    body: Buffer,
    properties: MessageProperties,
    redeclare: (channel: ConfirmChannel) => Promise<unknown>,
  ): Promise<void> {
    // The hot path of every send: one promise and one confirm callback (tracked in `unconfirmed`)
    // per message, nothing else.
    return new Promise((resolve, reject) => {
      const id = this.#publishOnce(session, queue, body, properties, (error: unknown) => {
        if (error) reject(this.#explain(error));
        else if (!session.returned.delete(id)) resolve();
        else {
          const again = this.#republish(session, queue, body, properties, redeclare);
          this.#republishing.add(again).then(resolve, reject);
        }
      });
    });
  }

  /** The broker returned a publish as unroutable: declares the queue again, then publishes once more. */
  async #republish(
    session: Session,
    queue: string,
    body: Buffer,
    properties: MessageProperties,
    redeclare: (channel: ConfirmChannel) => Promise<unknown>,
  ): Promise<void> {
    try {
      await redeclare(session.publisher);
      await new Promise<void>((resolve, reject) => {
        const id = this.#publishOnce(session, queue, body, properties, (error: unknown) => {
          if (error) reject(error);
          else if (!session.returned.delete(id)) resolve();
          else reject(new Error(`queue ${queue} still does not exist after declaring it`));
        });
      });
    } catch (error) {
      throw this.#explain(error);
    }
  }

  /**
   * Sends one mandatory, persistent publish on the session's confirm channel; `confirmed` gets the
   * broker's answer, or the error when the channel is already closed. Returns the publish's
   * `messageId`, which a 'return' of it carries.
   */
  #publishOnce(
    session: Session,
    queue: string,
    body: Buffer,
    properties: MessageProperties,
    confirmed: (error: unknown) => void,
  ): string {
    const id = String(++this.#published);
    // amqplib copies the options into the frame before sendToQueue returns: one object serves all.
    const options = this.#options;
    options.contentType = properties.contentType;
    options.priority = properties.priority;
    options.headers = properties.headers;
    options.messageId = id;
    publishConfirmed(session, queue, body, options, confirmed);
    return id;
  }

  #explain(error: unknown): SluiceError {
    return error instanceof SluiceError ? error : this.unavailable('publish', error);
  }

  /**
   * Closes the connection if this link opened it, after the broker confirmed what was published
   * (publishing again what it returned).
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    const session = this.session ?? (await this.#connecting?.catch(() => undefined));
    this.session = undefined;
    this.#listeners.clear();
    if (session === undefined) return;
    // A confirm of a returned publish starts its republish before waitForConfirms resolves.
    await session.publisher.waitForConfirms().catch(() => {});
    await this.#republishing.ended();
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
        for (const listener of this.#listeners) listener(session);
        return session;
      },
      (error: unknown) => {
        this.#connecting = undefined;
        throw error instanceof AmqpTopologyError ? error : this.unavailable('connect', error);
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
        if (!this.#closed) this.#retry(Math.min(delay * 2, RECONNECT_MAX_DELAY));
      });
    }, delay);
  }

  async #dispose(session: Session): Promise<void> {
    session.connection.off('close', session.lost);
    await closed(this.#given === undefined ? session.connection : session.publisher);
  }
}
