import type { ConsumeMessage } from 'amqplib';
import { type DeliveryOwner, GuardedDelivery } from '../shared/delivery.js';
import type { Envelope } from '../shared/envelope.js';
import type { Received } from './received.js';
import type { Subscription } from './subscription.js';
import { REASON_HEADER } from './topology.js';

/** One message handed out by an {@link AmqpQueue}, settled on the consumer channel that received it. */
export class AmqpDelivery<T> extends GuardedDelivery<T, AmqpDelivery<T>> implements Received {
  /** @internal Made by the queue's consumer. */
  constructor(
    owner: DeliveryOwner<AmqpDelivery<T>>,
    /** @internal The consumer channel's subscription the message came on, which settles it. */
    readonly subscription: Subscription,
    /**
     * The message as amqplib received it, for what the envelope does not carry (its properties,
     * `fields.redelivered`). Settle through `ack` and `nack`, never on a channel directly.
     */
    readonly raw: ConsumeMessage,
    /** @internal The decoded envelope, copied as it is on a retry or dead-letter. */
    readonly envelope: Envelope,
    /** @internal The dedup key the message holds, if any. */
    readonly key: string | undefined,
    message: T,
  ) {
    const reason = raw.properties.headers?.[REASON_HEADER];
    super(
      owner,
      message,
      envelope.attempt,
      envelope.id,
      envelope.headers,
      typeof reason === 'string' ? reason : undefined,
      envelope.group,
    );
  }
}
