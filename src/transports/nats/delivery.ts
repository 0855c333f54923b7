import type { Msg } from '@nats-io/transport-node';
import { type DeliveryOwner, GuardedDelivery } from '../shared/delivery.js';
import { respond, WORKING } from './ack-protocol.js';

/**
 * One message handed out by a NatsQueue. Settling answers the message's JetStream ack subject
 * (see NatsConsumer): `ack` → `+ACK`, `nack` → `-NAK` with the backoff as delay, or a dead-letter
 * copy then `+ACK`; a heartbeat → `+WPI`.
 */
export class NatsDelivery<T> extends GuardedDelivery<T, NatsDelivery<T>> {
  constructor(
    owner: DeliveryOwner<NatsDelivery<T>>,
    readonly raw: Msg,
    /** The priority band it came from, kept when it is dead-lettered. */
    readonly priority: number,
    message: T,
    /** JetStream's delivery count of the message on its consumer. */
    attempt: number,
    id: string,
    headers: Readonly<Record<string, unknown>>,
    deadLetterReason: string | undefined,
    group: string | undefined,
  ) {
    super(owner, message, attempt, id, headers, deadLetterReason, group);
  }

  /** Tells JetStream the message is still being worked on, so ack_wait starts over. */
  heartbeat(): void {
    if (!this.settled) respond(this.raw, WORKING);
  }
}
