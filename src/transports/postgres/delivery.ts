import { DeliverySettledError } from '../../errors.js';
import { assertNackOptions } from '../../queuing/send-options.js';
import { RESOLVED } from '../../queuing/settled.js';
import type { Delivery, NackOptions } from '../../queuing/types.js';
import { assertDelayFits } from './limits.js';
import type { Claim } from './settler.js';

/** What a delivery reports to: the consumer that handed it out. */
export interface DeliveryOwner {
  readonly name: string;
  ack(delivery: PostgresDelivery<unknown>): Promise<void>;
  nack(delivery: PostgresDelivery<unknown>, options: NackOptions): Promise<void>;
}

export class PostgresDelivery<T> implements Delivery<T>, Claim {
  /** Set once acked, nacked, or released by `close()` after its `closeTimeout`. */
  settled = false;

  constructor(
    private readonly owner: DeliveryOwner,
    readonly message: T,
    readonly id: string,
    readonly attempt: number,
    readonly readyAt: string,
    /** `performance.now()` when the row was claimed: its lease started then. */
    readonly claimedAt: number,
  ) {}

  ack(): Promise<void> {
    if (this.settled) return Promise.reject(new DeliverySettledError(this.owner.name));
    this.settled = true;
    return this.owner.ack(this);
  }

  nack(options: NackOptions = {}): Promise<void> {
    if (this.settled) return Promise.reject(new DeliverySettledError(this.owner.name));
    try {
      assertNackOptions(options);
      if (options.delay !== undefined) assertDelayFits(options.delay, this.owner.name);
    } catch (error) {
      return Promise.reject(error);
    }
    this.settled = true;
    return this.owner.nack(this, options);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.settled ? RESOLVED : this.nack();
  }
}
