import { DeliverySettledError } from '../../errors.js';
import { assertNackOptions } from '../../queuing/send-options.js';
import { RESOLVED } from '../../queuing/settled.js';
import type { Delivery, NackOptions } from '../../queuing/types.js';

/**
 * What every broker adapter's delivery offers on top of {@link sluice!Delivery | Delivery}, the
 * same on each broker: the envelope's id and headers, the message's group, and on a dead-letter
 * queue why it got there.
 */
export interface BrokerDelivery<T> extends Delivery<T> {
  /** The envelope's id: the same on every redelivery, retry and dead-lettered copy of one message. */
  readonly id: string;
  /** The envelope's headers as the producer set them (e.g. a `traceparent`). */
  readonly headers: Readonly<Record<string, unknown>>;
  /** The message's group (`SendOptions.group`); undefined for the default group. */
  readonly group?: string | undefined;
  /**
   * On a dead-letter queue: why the message was dead-lettered, worded the same on every broker
   * (docs/wire-protocol.md, "Dead-letter reasons"). Undefined on any other queue.
   */
  readonly deadLetterReason: string | undefined;
}

/**
 * What a delivery settles through: the consumer that handed it out.
 * @internal
 */
export interface DeliveryOwner<D> {
  /** The queue's name, for errors. */
  readonly name: string;
  /** Settles the delivery as processed on the broker. */
  ack(delivery: D): Promise<void>;
  /** Called with options already checked; throws (synchronously) to refuse them. */
  nack(delivery: D, options: NackOptions): Promise<void>;
}

/**
 * The settle guard every broker delivery shares: a delivery settles once (a second `ack` or `nack`
 * rejects with DeliverySettledError), `nack` options are checked before anything is sent, leaving an
 * `await using` block unsettled nacks, and a closing consumer can take an unsettled delivery back.
 */
export class GuardedDelivery<T, D extends GuardedDelivery<T, D>> implements BrokerDelivery<T> {
  #settled = false;

  /** @internal Deliveries are made by their queue's consumer, never by users. */
  constructor(
    private readonly owner: DeliveryOwner<D>,
    /** The message, as decoded from the envelope's `payload` and checked by the queue's `schema`. */
    readonly message: T,
    /** 1 on first delivery, +1 on each redelivery (a crashed consumer's included). */
    readonly attempt: number,
    /** The envelope's id: the same on every redelivery, retry and dead-lettered copy of one message. */
    readonly id: string,
    /** The envelope's headers as the producer set them (e.g. a `traceparent`); empty when none. */
    readonly headers: Readonly<Record<string, unknown>>,
    /** On a dead-letter queue: why the message was dead-lettered; undefined on any other queue. */
    readonly deadLetterReason: string | undefined,
    /** The message's group (`SendOptions.group`); undefined for the default group. */
    readonly group?: string | undefined,
  ) {}

  /** True once `ack` or `nack` was called (or the closing consumer took the delivery back). */
  get settled(): boolean {
    return this.#settled;
  }

  /**
   * Processed: the message is removed from the broker for good.
   * @throws {@link sluice!DeliverySettledError | DeliverySettledError} (as a rejection) when the
   * delivery was already settled.
   */
  ack(): Promise<void> {
    if (this.#settled) return Promise.reject(new DeliverySettledError(this.owner.name));
    this.#settled = true;
    return this.owner.ack(this as unknown as D);
  }

  /**
   * Failed: redelivered after the queue's backoff while attempts remain, then dead-lettered.
   * `{ requeue: false }` dead-letters now; `{ requeue: true }` puts it back now whatever the attempts.
   * @throws {@link sluice!DeliverySettledError | DeliverySettledError} (as a rejection) when the
   * delivery was already settled.
   * @throws {@link sluice!InvalidOptionError | InvalidOptionError} (as a rejection) for an invalid
   * option; the delivery then stays unsettled.
   */
  nack(options: NackOptions = {}): Promise<void> {
    if (this.#settled) return Promise.reject(new DeliverySettledError(this.owner.name));
    try {
      assertNackOptions(options);
      this.#settled = true;
      return this.owner.nack(this as unknown as D, options);
    } catch (error) {
      this.#settled = false; // refused: nothing was settled
      return Promise.reject(error);
    }
  }

  /** Leaving an `await using` block without `ack` or `nack` nacks the delivery. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.#settled ? RESOLVED : this.nack();
  }

  /**
   * Marks it settled for a consumer that takes it back (close, release); false if it already was.
   * @internal
   */
  takeBack(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    return true;
  }
}
