import { DeliverySettledError } from '../../errors.js';
import { assertNackOptions } from '../../queuing/send-options.js';
import { RESOLVED } from '../../queuing/settled.js';
import type { Delivery, NackOptions } from '../../queuing/types.js';

/** A delivery from a RedisQueue: the contract plus what the envelope and the stream entry say. */
export interface RedisDelivery<T> extends Delivery<T> {
  /** The envelope's id (the stream entry id for a foreign body without one). */
  readonly id: string;
  readonly headers: Readonly<Record<string, unknown>>;
  /** On a dead-letter queue: why the message was dead-lettered. */
  readonly reason: string | undefined;
}

/** Where a delivery sits in Redis, for settling it. */
export interface Entry {
  /** 's': the stream of priority 0; 'p': the priority stream. */
  readonly stream: 's' | 'p';
  readonly entryId: string;
  /** The body exactly as stored, put back as is on a retry. */
  readonly body: string;
  readonly priority: string;
  /** Dedup key, '' when none. */
  readonly key: string;
}

export interface Settler<T> {
  readonly queueName: string;
  ack(delivery: StreamDelivery<T>): Promise<void>;
  nack(delivery: StreamDelivery<T>, options: NackOptions): Promise<void>;
}

export class StreamDelivery<T> implements RedisDelivery<T> {
  /** Acked, nacked, or released by a closing handle. */
  settled = false;
  /** Given to an iterator or a pump (not just prefetched). */
  handedOut = false;
  /** Order in the handle's buffer: priority, then fetch order. */
  priority = 0;
  seq = 0;

  constructor(
    private readonly settler: Settler<T>,
    readonly entry: Entry,
    readonly message: T,
    readonly attempt: number,
    readonly id: string,
    readonly headers: Readonly<Record<string, unknown>>,
    readonly reason: string | undefined,
  ) {}

  ack(): Promise<void> {
    if (this.settled) return Promise.reject(new DeliverySettledError(this.settler.queueName));
    this.settled = true;
    return this.settler.ack(this);
  }

  nack(options: NackOptions = {}): Promise<void> {
    if (this.settled) return Promise.reject(new DeliverySettledError(this.settler.queueName));
    try {
      assertNackOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    this.settled = true;
    return this.settler.nack(this, options);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.settled ? RESOLVED : this.nack();
  }
}
