import type { Channel, MessagePropertyHeaders } from 'amqplib';
import { RESOLVED } from '../../queuing/settled.js';
import type { NackOptions } from '../../queuing/types.js';
import { unsettledReason } from '../shared/reasons.js';
import { nackOutcome } from '../shared/retry-policy.js';
import type { Connection, Session } from './connection.js';
import { refusal } from './errors.js';
import { holdsMarker, type KeyMarkers } from './key-markers.js';
import type { ResolvedOptions } from './options.js';
import type { Publisher } from './publisher.js';
import { copyBody, copyProperties, type Held, type Received, retryBody } from './received.js';
import { DEAD_AT_HEADER, declareQueue, KEY_HEADER, KEY_UNTIL_HEADER, REASON_HEADER } from './topology.js';

/**
 * How long a message whose settle failed is held before it goes back to the broker: a settle that
 * fails every time (say, a policy keeps the dead-letter queue full) would otherwise bring the
 * message back at once, again and again.
 */
const HAND_BACK_DELAY = 1_000;

/**
 * Settles received messages. Retrying publishes a copy with `attempt + 1` (into a delay queue when
 * there is a backoff) and then acks the original; dead-lettering publishes it to the dead-letter
 * queue with the reason, then acks. Each copy is confirmed before the original is acked, so a
 * failure in between duplicates a message, never loses one.
 */
export class Settler {
  constructor(
    private readonly options: ResolvedOptions<unknown>,
    private readonly connection: Connection,
    private readonly publisher: Publisher,
    private readonly keys: KeyMarkers,
  ) {}

  ack(held: Held): Promise<void> {
    const { key } = held;
    if (key === undefined || !holdsMarker(held.raw.properties.headers)) {
      held.subscription.ack(held.raw);
      return RESOLVED;
    }
    return this.#settle(held, (session) => this.keys.release(session, key));
  }

  /** `options` are already checked. */
  nack(received: Received, options: NackOptions): Promise<void> {
    const outcome = nackOutcome(options, received.envelope.attempt, this.options);
    if (outcome.deadLetter !== undefined) return this.#deadLetterReceived(received, outcome.deadLetter);
    return this.#retry(received, outcome.retryAfter);
  }

  /**
   * The broker handed the message out before and it was not settled (a consumer died, a channel or
   * the connection closed): that delivery counts as an attempt. A copy with `attempt + 1` goes to the
   * back of the queue, or to the dead-letter queue once attempts are spent.
   */
  redelivered(received: Received): Promise<void> {
    const { attempt } = received.envelope;
    const { maxAttempts } = this.options;
    if (attempt >= maxAttempts) {
      return this.#deadLetterReceived(received, unsettledReason(attempt, maxAttempts));
    }
    return this.#retry(received, 0);
  }

  /**
   * Puts back a message that was received but never handed out, into its group's queue (or into
   * `group`'s: see Publisher.publishGrouped): it keeps its attempt. A message moved from the main
   * queue into its group's queue is released so too.
   */
  release(received: Received, group = received.envelope.group): Promise<void> {
    const { raw, envelope } = received;
    const body = copyBody(raw.content, envelope.id);
    return this.#settle(received, (session) =>
      this.publisher.publishGrouped(session, group, body, copyProperties(raw), 0),
    );
  }

  /**
   * Moves a message to the dead-letter queue as `body` (which carries its id), with `reason` in its
   * `x-sluice-reason` header.
   */
  deadLetter(held: Held, reason: string, body: Buffer): Promise<void> {
    const { raw, key } = held;
    const { deadLetter, priorities } = this.options;
    return this.#settle(held, async (session) => {
      const declare = (channel: Channel) => declareQueue(channel, deadLetter, priorities);
      if (!session.declared.has(deadLetter)) {
        await declare(session.publisher);
        session.declared.add(deadLetter);
      }
      const headers: MessagePropertyHeaders = {
        ...raw.properties.headers,
        [REASON_HEADER]: reason,
        [DEAD_AT_HEADER]: Date.now(),
      };
      // The key belongs to this queue, not to the dead-letter queue.
      delete headers[KEY_HEADER];
      delete headers[KEY_UNTIL_HEADER];
      await this.publisher.publish(session, deadLetter, body, { ...copyProperties(raw), headers }, declare);
      if (key !== undefined && holdsMarker(raw.properties.headers)) await this.keys.release(session, key);
    });
  }

  async #deadLetterReceived(received: Received, reason: string): Promise<void> {
    const { raw, envelope } = received;
    return this.deadLetter(received, reason, copyBody(raw.content, envelope.id));
  }

  #retry(received: Received, wait: number): Promise<void> {
    const properties = copyProperties(received.raw);
    const { envelope } = received;
    return this.#settle(received, (session) =>
      this.publisher.publishGrouped(session, envelope.group, retryBody(envelope), properties, wait),
    );
  }

  /**
   * Runs `work` (confirmed publishes), then acks the original. When the consumer channel is gone the
   * broker has already requeued the original: nothing to do, it comes back as a redelivery. That is
   * also so when the channel died while `work` ran (a lost connection fails both). When `work` fails
   * otherwise (the publishing channel lost, say), the original is handed back to the broker shortly
   * (HAND_BACK_DELAY) and comes back as a redelivery too: no consumer stops for an outage. It rejects
   * only on a refusal no retry changes.
   */
  async #settle(held: Held, work: (session: Session) => Promise<void>): Promise<void> {
    const { subscription, raw } = held;
    if (!subscription.open) return;
    try {
      await work(await this.connection.ready('settle a delivery'));
    } catch (error) {
      if (!subscription.open) return;
      setTimeout(() => subscription.requeue(raw), HAND_BACK_DELAY).unref();
      const refused = refusal(error, this.options.name, 'settle a delivery');
      if (refused !== undefined) throw refused;
      return;
    }
    subscription.ack(raw);
  }
}
