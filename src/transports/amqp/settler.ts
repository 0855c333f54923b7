import type { Channel, MessagePropertyHeaders } from 'amqplib';
import { SluiceError } from '../../errors.js';
import { backoffDelay } from '../../queuing/backoff.js';
import { RESOLVED } from '../../queuing/settled.js';
import type { NackOptions } from '../../queuing/types.js';
import { nackReason, unsettledReason } from '../shared/reasons.js';
import type { Connection, Session } from './connection.js';
import type { KeyMarkers } from './key-markers.js';
import type { ResolvedOptions } from './options.js';
import type { Producer } from './producer.js';
import { copyBody, copyProperties, type Held, type Received, retryBody } from './received.js';
import { declareQueue, KEY_HEADER, REASON_HEADER } from './topology.js';

/** Why a message handed out before and never settled is dead-lettered once its attempts are spent. */

/**
 * Settles received messages. Retrying publishes a copy with `attempt + 1` (into a delay queue when
 * there is a backoff) and then acks the original; dead-lettering publishes it to the dead-letter
 * queue with the reason, then acks. Each copy is confirmed before the original is acked, so a
 * failure in between duplicates a message, never loses one.
 */
export class Settler {
  constructor(
    private readonly config: ResolvedOptions<unknown>,
    private readonly connection: Connection,
    private readonly producer: Producer,
    private readonly keys: KeyMarkers,
  ) {}

  ack(held: Held): Promise<void> {
    const { key } = held;
    if (key === undefined) {
      held.subscription.ack(held.raw);
      return RESOLVED;
    }
    return this.#settle(held, (session) => this.keys.release(session, key));
  }

  /** `options` are already checked. */
  nack(received: Received, options: NackOptions): Promise<void> {
    const { requeue, delay } = options;
    const { attempt } = received.envelope;
    const { maxAttempts } = this.config;
    if (requeue === false || (requeue !== true && attempt >= maxAttempts)) {
      return this.#deadLetterReceived(received, nackReason(options, attempt, maxAttempts));
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
    const { maxAttempts } = this.config;
    if (attempt >= maxAttempts) {
      return this.#deadLetterReceived(received, unsettledReason(attempt, maxAttempts));
    }
    return this.#retry(received, 0);
  }

  /** Puts back a message that was received but never handed out; it keeps its attempt. */
  release(received: Received): Promise<void> {
    const { raw, envelope, ownId } = received;
    const body = copyBody(raw.content, envelope.id, ownId);
    return this.#settle(received, (session) =>
      this.producer.publish(session, this.config.name, body, copyProperties(raw)),
    );
  }

  /**
   * Moves a message to the dead-letter queue as `body` (which carries its id), with `reason` in its
   * `x-sluice-reason` header.
   */
  deadLetter(held: Held, reason: string, body: Buffer): Promise<void> {
    const { raw, key } = held;
    const { deadLetter, priorities } = this.config;
    return this.#settle(held, async (session) => {
      const declare = (channel: Channel) => declareQueue(channel, deadLetter, priorities);
      if (!session.declared.has(deadLetter)) {
        await declare(session.publisher);
        session.declared.add(deadLetter);
      }
      const headers: MessagePropertyHeaders = { ...raw.properties.headers, [REASON_HEADER]: reason };
      delete headers[KEY_HEADER]; // the key belongs to this queue, not to the dead-letter queue
      await this.producer.publish(session, deadLetter, body, { ...copyProperties(raw), headers }, declare);
      if (key !== undefined) await this.keys.release(session, key);
    });
  }

  #deadLetterReceived(received: Received, reason: string): Promise<void> {
    const { raw, envelope, ownId } = received;
    return this.deadLetter(received, reason, copyBody(raw.content, envelope.id, ownId));
  }

  #retry(received: Received, wait: number): Promise<void> {
    const body = retryBody(received.envelope);
    const properties = copyProperties(received.raw);
    return this.#settle(received, (session) => this.producer.publishIn(session, body, properties, wait));
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
      await this.#guard(async () => work(await this.connection.ready('settle a delivery')));
    } catch (error) {
      if (!subscription.open) return;
      subscription.requeue(raw);
      throw error;
    }
    subscription.ack(raw);
  }

  /** Runs a broker operation; its failures become BrokerUnavailableError unless already explained. */
  async #guard(run: () => Promise<void>): Promise<void> {
    try {
      await run();
    } catch (error) {
      throw error instanceof SluiceError ? error : this.connection.unavailable('settle a delivery', error);
    }
  }
}
