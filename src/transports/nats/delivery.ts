import type { Msg } from '@nats-io/transport-node';
import { type DeliveryOwner, GuardedDelivery } from '../shared/delivery.js';
import { respond, WORKING } from './ack-protocol.js';

/**
 * One message handed out by a {@link NatsQueue}. Settling answers the message's JetStream ack
 * subject: `ack` with `+ACK`; `nack` with `-NAK` and the backoff as delay, or, when the message is
 * dead-lettered, a dead-letter copy then `+ACK`. While it is out, the consumer sends `+WPI` so
 * JetStream does not redeliver it.
 */
export class NatsDelivery<T> extends GuardedDelivery<T, NatsDelivery<T>> {
  /** @internal Made by the queue's consumer. */
  constructor(
    owner: DeliveryOwner<NatsDelivery<T>>,
    /**
     * The JetStream message as received, for what the envelope does not carry (its subject,
     * `info`). Settle through `ack` and `nack`, never through its own ack methods.
     */
    readonly raw: Msg,
    /** @internal The priority band it came from, kept when it is dead-lettered. */
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

  /** @internal Tells JetStream the message is still being worked on, so ack_wait starts over. */
  heartbeat(): void {
    if (!this.settled) respond(this.raw, WORKING);
  }
}
