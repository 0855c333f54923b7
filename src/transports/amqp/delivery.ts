import type { ConsumeMessage } from 'amqplib';
import { type DeliveryOwner, GuardedDelivery } from '../shared/delivery.js';
import type { Envelope } from '../shared/envelope.js';
import type { Received } from './received.js';
import type { Subscription } from './subscription.js';
import { REASON_HEADER } from './topology.js';

/** One message handed out by an AmqpQueue consumer, on the consumer channel that received it. */
export class AmqpDelivery<T> extends GuardedDelivery<T, AmqpDelivery<T>> implements Received {
  constructor(
    owner: DeliveryOwner<AmqpDelivery<T>>,
    readonly subscription: Subscription,
    readonly raw: ConsumeMessage,
    readonly envelope: Envelope,
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
