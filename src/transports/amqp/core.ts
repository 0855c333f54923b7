import type { Channel, ConsumeMessage, MessagePropertyHeaders } from 'amqplib';
import { InvalidOptionError, QueueClosedError, SluiceError } from '../../errors.js';
import { backoffDelay } from '../../queuing/backoff.js';
import { assertSendOptions } from '../../queuing/send-options.js';
import { RESOLVED } from '../../queuing/settled.js';
import type { Backoff, NackOptions, SendOptions } from '../../queuing/types.js';
import { type Envelope, encodeEnvelope } from '../shared/envelope.js';
import type { MessageCheck } from '../shared/message-schema.js';
import { UnderWay } from '../shared/under-way.js';
import { encodeRetry } from './attempt.js';
import { KeyMarkers } from './dedup.js';
import type { Link, MessageProperties, Session } from './link.js';
import type { Subscription } from './subscription.js';
import { DEFAULT_AMQP_PRIORITY, declareQueue, toAmqpPriority } from './topology.js';

/** AMQP header of a keyed message: its dedup key, released when the message leaves the queue. */
export const KEY_HEADER = 'x-sluice-key';
/** AMQP header of a dead-lettered message: why it was dead-lettered. */
export const REASON_HEADER = 'x-sluice-reason';

const CONTENT_TYPE = 'application/json';
/** What a message sent without options carries, on a priority queue and on a plain one. */
const DEFAULT_PRIORITY: MessageProperties = { contentType: CONTENT_TYPE, priority: DEFAULT_AMQP_PRIORITY };
const NO_PRIORITY: MessageProperties = { contentType: CONTENT_TYPE };

/** A message held by a consumer, as the settling operations need it. */
export interface Held {
  readonly subscription: Subscription;
  readonly raw: ConsumeMessage;
  readonly key: string | undefined;
}

/** A held message whose body is a valid envelope. */
export interface Received extends Held {
  readonly envelope: Envelope;
}

export interface CoreConfig {
  readonly name: string;
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  readonly deadLetter: string;
  readonly check: MessageCheck<unknown> | undefined;
  readonly prefetch: number;
  readonly closeTimeout: number;
  /** `false`: a plain classic queue; sends with a priority other than 0 are refused. */
  readonly priorities: boolean;
  readonly maxMessageSize: number;
}

/**
 * What a queue handle, its consumers and their deliveries share: sending, and settling received
 * messages. Retrying publishes a copy with `attempt + 1` (into a delay queue when there is a
 * backoff) and then acks the original; dead-lettering publishes it to the dead-letter queue with the
 * reason, then acks. Each copy is confirmed before the original is acked, so a failure in between
 * duplicates a message, never loses one.
 */
export class Core {
  closed = false;
  readonly keys: KeyMarkers;
  /**
   * Sends of more than one step (connect, take a key, then publish) under way: close() waits for
   * them, since closing the link in between would fail them and strand their dedup key. A send that
   * is one publish needs no entry: the link waits for what it published.
   */
  readonly #sending = new UnderWay();
  readonly #declareMain = (channel: Channel) =>
    declareQueue(channel, this.config.name, this.config.priorities);
  readonly #defaultProperties: MessageProperties;

  constructor(
    readonly config: CoreConfig,
    readonly link: Link,
  ) {
    this.keys = new KeyMarkers(config.name);
    this.#defaultProperties = config.priorities ? DEFAULT_PRIORITY : NO_PRIORITY;
  }

  send(message: unknown, options: SendOptions | undefined): Promise<void> {
    const { name } = this.config;
    if (this.closed) return Promise.reject(new QueueClosedError(name));
    let body: Buffer;
    try {
      if (options !== undefined) this.#assertSendOptions(options);
      body = Buffer.from(encodeEnvelope(message, name, this.config.maxMessageSize));
    } catch (error) {
      return Promise.reject(error);
    }
    const session = this.link.session;
    if (options === undefined && session !== undefined) {
      return this.link.publish(session, name, body, this.#defaultProperties, this.#declareMain);
    }
    return this.#sending.add(this.#sendWith(body, options ?? {}));
  }

  /** Resolves once the sends under way stored their message or failed; call once `closed` is set. */
  sendsEnded(): Promise<void> {
    return this.#sending.ended();
  }

  #assertSendOptions(options: SendOptions): void {
    assertSendOptions(options);
    const { priority = 0 } = options;
    if (!this.config.priorities && priority !== 0) {
      const expected = `none: queue ${this.config.name} was opened with priorities: false`;
      throw new InvalidOptionError('priority', priority, expected);
    }
  }

  async #sendWith(body: Buffer, { priority, delay = 0, key }: SendOptions): Promise<void> {
    const session = await this.link.ready('send');
    const properties: MessageProperties =
      priority === undefined || !this.config.priorities
        ? { ...this.#defaultProperties }
        : { contentType: CONTENT_TYPE, priority: toAmqpPriority(priority) };
    if (key !== undefined) {
      properties.headers = { [KEY_HEADER]: key };
      if (!(await this.#guard('send', () => this.keys.take(session, key)))) return;
    }
    try {
      await this.#guard('send', () => this.#publishIn(session, body, properties, delay));
    } catch (error) {
      if (key !== undefined) await this.keys.abandon(session, key);
      throw error;
    }
  }

  ack(held: Held): Promise<void> {
    const { key } = held;
    if (key === undefined) {
      held.subscription.ack(held.raw);
      return RESOLVED;
    }
    return this.#settle(held, (session) => this.keys.release(session, key));
  }

  nack(received: Received, options: NackOptions): Promise<void> {
    const { requeue, delay, error } = options;
    const { attempt } = received.envelope;
    if (requeue === false) return this.deadLetter(received, reasonOf(error, 'nacked without requeue'));
    if (requeue !== true && attempt >= this.config.maxAttempts) {
      return this.deadLetter(received, reasonOf(error, `failed ${attempt} attempts`));
    }
    const wait = delay ?? (requeue ? 0 : backoffDelay(this.config.backoff, attempt));
    return this.#retry(received, wait);
  }

  /**
   * The broker handed the message out before and it was not settled (a consumer died, a channel or
   * the connection closed): that delivery counts as an attempt. A copy with `attempt + 1` goes to the
   * back of the queue, or to the dead-letter queue once attempts are spent.
   */
  redelivered(received: Received): Promise<void> {
    const { attempt } = received.envelope;
    if (attempt >= this.config.maxAttempts) {
      return this.deadLetter(received, `not settled after ${attempt} deliveries (consumer lost)`);
    }
    return this.#retry(received, 0);
  }

  /** Puts back a message that was received but never handed out; it keeps its attempt. */
  release(held: Held): Promise<void> {
    const { raw } = held;
    return this.#settle(held, (session) =>
      this.link.publish(session, this.config.name, raw.content, copyProperties(raw), this.#declareMain),
    );
  }

  /**
   * Moves a message to the dead-letter queue, with `reason` in its `x-sluice-reason` header. `body`
   * defaults to the message as received.
   */
  deadLetter(held: Held, reason: string, body = held.raw.content): Promise<void> {
    const { raw, key } = held;
    const { deadLetter } = this.config;
    return this.#settle(held, async (session) => {
      const declare = (channel: Channel) => declareQueue(channel, deadLetter, this.config.priorities);
      if (!session.declared.has(deadLetter)) {
        await declare(session.publisher);
        session.declared.add(deadLetter);
      }
      const headers: MessagePropertyHeaders = { ...raw.properties.headers, [REASON_HEADER]: reason };
      delete headers[KEY_HEADER]; // the key belongs to this queue, not to the dead-letter queue
      await this.link.publish(session, deadLetter, body, { ...copyProperties(raw), headers }, declare);
      if (key !== undefined) await this.keys.release(session, key);
    });
  }

  #retry(received: Received, wait: number): Promise<void> {
    const { raw, envelope } = received;
    const body = encodeRetry(envelope);
    return this.#settle(received, (session) => this.#publishIn(session, body, copyProperties(raw), wait));
  }

  /** Publishes to the queue now, or after `delay` ms through the delay queue of that delay. */
  async #publishIn(
    session: Session,
    body: Buffer,
    properties: MessageProperties,
    delay: number,
  ): Promise<void> {
    if (delay <= 0) return this.link.publish(session, this.config.name, body, properties, this.#declareMain);
    const ms = Math.ceil(delay);
    const queue = await session.delays.ensure(session.publisher, ms);
    const redeclare = (channel: Channel) => session.delays.ensure(channel, ms, true);
    await this.link.publish(session, queue, body, properties, redeclare);
  }

  /**
   * Runs `work` (confirmed publishes), then acks the original. When the consumer channel is gone the
   * broker has already requeued the original: nothing to do, it comes back as a redelivery. That is
   * also so when the channel died while `work` ran (a lost connection fails both). When `work` fails
   * otherwise, the original is handed back to the broker now rather than held.
   */
  async #settle(held: Held, work: (session: Session) => Promise<void>): Promise<void> {
    const { subscription, raw } = held;
    if (!subscription.open) return;
    try {
      await this.#guard('settle a delivery', async () => work(await this.link.ready('settle a delivery')));
    } catch (error) {
      if (!subscription.open) return;
      subscription.requeue(raw);
      throw error;
    }
    subscription.ack(raw);
  }

  /** Runs a broker operation; its failures become BrokerUnavailableError unless already explained. */
  async #guard<R>(operation: string, run: () => Promise<R>): Promise<R> {
    try {
      return await run();
    } catch (error) {
      throw error instanceof SluiceError ? error : this.link.unavailable(operation, error);
    }
  }
}

function copyProperties(raw: ConsumeMessage): MessageProperties {
  const { contentType, priority, headers } = raw.properties;
  return { contentType, priority, headers };
}

function reasonOf(error: unknown, fallback: string): string {
  if (error === undefined) return fallback;
  return error instanceof Error ? error.message : String(error);
}
