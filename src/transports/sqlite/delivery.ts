import { DeliverySettledError } from '../../errors.js';
import { assertNackOptions } from '../../queuing/send-options.js';
import { RESOLVED } from '../../queuing/settled.js';
import type { Delivery, NackOptions } from '../../queuing/types.js';

/**
 * What a SqliteQueue hands out. `ack`/`nack` resolve once the change is committed. A settlement
 * that comes after the claim's lease ended and another consumer claimed the message changes
 * nothing (that consumer now owns it): at-least-once delivery.
 */
export interface SqliteDelivery<T> extends Delivery<T> {
  /** The envelope's id. */
  readonly id: string;
  /** On a dead-letter queue: why the message was dead-lettered (the error message, or what happened). */
  readonly reason: string | undefined;
}

/** What a delivery needs from its queue to settle. */
export interface Settler<T> {
  readonly name: string;
  ack(delivery: ClaimedDelivery<T>): Promise<void>;
  nack(delivery: ClaimedDelivery<T>, options: NackOptions): Promise<void>;
}

/** One claim of one stored message. */
export class ClaimedDelivery<T> implements SqliteDelivery<T> {
  #settled = false;

  constructor(
    private readonly queue: Settler<T>,
    /** Row id in the table; with `attempt`, names this claim. */
    readonly rowId: number,
    readonly id: string,
    readonly attempt: number,
    readonly message: T,
    readonly reason: string | undefined,
  ) {}

  ack(): Promise<void> {
    if (this.#settled) return Promise.reject(new DeliverySettledError(this.queue.name));
    this.#settled = true;
    return this.queue.ack(this);
  }

  nack(options: NackOptions = {}): Promise<void> {
    if (this.#settled) return Promise.reject(new DeliverySettledError(this.queue.name));
    try {
      assertNackOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    this.#settled = true;
    return this.queue.nack(this, options);
  }

  /** Marks it settled for the queue that takes it back on close; false if it already was. */
  takeBack(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    return true;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.#settled ? RESOLVED : this.nack();
  }
}
