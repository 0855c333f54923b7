import type { Msg } from '@nats-io/transport-node';
import { BrokerUnavailableError, DeliverySettledError } from '../../errors.js';
import { backoffDelay } from '../../queuing/backoff.js';
import { assertNackOptions } from '../../queuing/send-options.js';
import { RESOLVED } from '../../queuing/settled.js';
import type { Backoff, Delivery, NackOptions } from '../../queuing/types.js';
import type { Envelope } from '../shared/envelope.js';
import { ACK, NAK, nakWithDelay, respond, WORKING } from './ack-protocol.js';

/** What a delivery needs from its queue. */
export interface DeliveryOwner {
  readonly name: string;
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  /** The delivery was acked, nacked or released: stop heartbeating it. */
  forget(delivery: NatsDelivery<unknown>): void;
  /** Stores a copy on the dead-letter queue with the reason, then removes the original. */
  deadLetter(delivery: NatsDelivery<unknown>, reason: string): Promise<void>;
}

/**
 * One message handed out by a NatsQueue. Settling answers the message's JetStream ack subject:
 * `ack` → `+ACK`, `nack` → `-NAK` with the backoff as delay (or dead-letters), a heartbeat → `+WPI`.
 * Acks are sent without waiting for the server's confirmation, like the raw client: an ack lost to a
 * crash or an outage means the message is delivered again (at least once).
 */
export class NatsDelivery<T> implements Delivery<T> {
  /** The message's envelope headers (e.g. a trace parent, or the reason on a dead-letter queue). */
  readonly headers: Readonly<Record<string, string>>;
  #settled = false;

  constructor(
    private readonly owner: DeliveryOwner,
    readonly raw: Msg,
    readonly envelope: Envelope,
    readonly message: T,
    /** JetStream's delivery count of the message on its consumer. */
    readonly attempt: number,
    /** The priority band it came from, kept when it is dead-lettered. */
    readonly priority: number,
  ) {
    this.headers = envelope.headers as Readonly<Record<string, string>>;
  }

  ack(): Promise<void> {
    return this.#settle(ACK);
  }

  nack(options: NackOptions = {}): Promise<void> {
    if (this.#settled) return Promise.reject(new DeliverySettledError(this.owner.name));
    try {
      assertNackOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (options.requeue === true) return this.#settle(NAK);
    if (options.requeue === false || this.attempt >= this.owner.maxAttempts) {
      this.#settled = true;
      this.owner.forget(this);
      return this.owner.deadLetter(this, reasonOf(options, this.attempt));
    }
    const delay = options.delay ?? backoffDelay(this.owner.backoff, this.attempt);
    return this.#settle(delay > 0 ? nakWithDelay(delay) : NAK);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.#settled ? RESOLVED : this.nack();
  }

  get settled(): boolean {
    return this.#settled;
  }

  /** Tells JetStream the message is still being worked on, so ack_wait starts over. */
  heartbeat(): void {
    if (!this.#settled) respond(this.raw, WORKING);
  }

  /** Puts an unsettled message back now (close, or a consumer that stopped before handing it out). */
  release(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.owner.forget(this);
    respond(this.raw, NAK);
  }

  /** Removes the message for good, once it was stored elsewhere (dead-letter queue, delayed move). */
  remove(): void {
    respond(this.raw, ACK);
  }

  #settle(payload: Uint8Array): Promise<void> {
    if (this.#settled) return Promise.reject(new DeliverySettledError(this.owner.name));
    this.#settled = true;
    this.owner.forget(this);
    return respond(this.raw, payload) ? RESOLVED : Promise.reject(this.#unavailable());
  }

  #unavailable(): BrokerUnavailableError {
    return new BrokerUnavailableError('NATS', `settling a delivery from queue ${this.owner.name}`);
  }
}

function reasonOf(options: NackOptions, attempt: number): string {
  const { error } = options;
  if (error !== undefined) return error instanceof Error ? error.message : String(error);
  return options.requeue === false ? 'rejected (nack with requeue: false)' : `failed ${attempt} attempts`;
}
