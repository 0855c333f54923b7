import { DeliverySettledError } from '../../errors.js';
import { assertNackOptions } from '../../queuing/send-options.js';
import { RESOLVED } from '../../queuing/settled.js';
import type { Delivery, NackOptions } from '../../queuing/types.js';

/** What every broker adapter's delivery offers on top of the contract, the same on each broker. */
export interface BrokerDelivery<T> extends Delivery<T> {
  /** The envelope's id: the same on every redelivery, retry and dead-lettered copy of one message. */
  readonly id: string;
  /** The envelope's headers as the producer set them (e.g. a `traceparent`). */
  readonly headers: Readonly<Record<string, unknown>>;
  /** The message's group (`SendOptions.group`); undefined for the default group. */
  readonly group?: string | undefined;
  /** On a dead-letter queue: why the message was dead-lettered (see reasons.ts for the wording). */
  readonly deadLetterReason: string | undefined;
}

/** What a delivery settles through: the consumer that handed it out. */
export interface DeliveryOwner<D> {
  /** The queue's name, for errors. */
  readonly name: string;
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

  constructor(
    private readonly owner: DeliveryOwner<D>,
    readonly message: T,
    readonly attempt: number,
    readonly id: string,
    readonly headers: Readonly<Record<string, unknown>>,
    readonly deadLetterReason: string | undefined,
    readonly group?: string | undefined,
  ) {}

  get settled(): boolean {
    return this.#settled;
  }

  ack(): Promise<void> {
    if (this.#settled) return Promise.reject(new DeliverySettledError(this.owner.name));
    this.#settled = true;
    return this.owner.ack(this as unknown as D);
  }

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

  [Symbol.asyncDispose](): Promise<void> {
    return this.#settled ? RESOLVED : this.nack();
  }

  /** Marks it settled for a consumer that takes it back (close, release); false if it already was. */
  takeBack(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    return true;
  }
}
