import type { ConsumeMessage } from 'amqplib';
import { DeliverySettledError } from '../../errors.js';
import { assertNackOptions } from '../../queuing/send-options.js';
import { RESOLVED } from '../../queuing/settled.js';
import type { Delivery, NackOptions } from '../../queuing/types.js';
import type { Envelope } from '../shared/envelope.js';
import { REASON_HEADER, type Received } from './core.js';
import type { Subscription } from './subscription.js';

/** Where a delivery reports its settlement: the consumer that handed it out. */
export interface Settler {
  readonly queueName: string;
  ack(delivery: AmqpDelivery<unknown>): Promise<void>;
  nack(delivery: AmqpDelivery<unknown>, options: NackOptions): Promise<void>;
}

export class AmqpDelivery<T> implements Delivery<T>, Received {
  #settled = false;

  constructor(
    private readonly settler: Settler,
    readonly subscription: Subscription,
    readonly raw: ConsumeMessage,
    readonly envelope: Envelope,
    readonly key: string | undefined,
    readonly message: T,
  ) {}

  get attempt(): number {
    return this.envelope.attempt;
  }

  /** The envelope's id: the same on every retry and redelivery of one message. */
  get id(): string {
    return this.envelope.id;
  }

  /** The envelope's headers (e.g. a trace parent), as the producer set them. */
  get headers(): Readonly<Record<string, unknown>> {
    return this.envelope.headers;
  }

  /** Why the message was dead-lettered, when this queue is a dead-letter queue. */
  get deadLetterReason(): string | undefined {
    const reason = this.raw.properties.headers?.[REASON_HEADER];
    return typeof reason === 'string' ? reason : undefined;
  }

  ack(): Promise<void> {
    if (this.#settled) return Promise.reject(new DeliverySettledError(this.settler.queueName));
    this.#settled = true;
    return this.settler.ack(this);
  }

  nack(options: NackOptions = {}): Promise<void> {
    if (this.#settled) return Promise.reject(new DeliverySettledError(this.settler.queueName));
    try {
      assertNackOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    this.#settled = true;
    return this.settler.nack(this, options);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.#settled ? RESOLVED : this.nack();
  }
}
