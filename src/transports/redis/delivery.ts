import { type DeliveryOwner, GuardedDelivery } from '../shared/delivery.js';

/**
 * A delivery from a RedisQueue: the shared settle guard, plus where its entry sits in Redis (for
 * settling it) and its place in the handle's buffer.
 */
export class RedisDelivery<T> extends GuardedDelivery<T, RedisDelivery<T>> {
  /** Order in the handle's buffer: priority, then fetch order. */
  readonly priority: number;
  seq = 0;

  constructor(
    owner: DeliveryOwner<RedisDelivery<T>>,
    message: T,
    attempt: number,
    id: string,
    headers: Readonly<Record<string, unknown>>,
    deadLetterReason: string | undefined,
    /** The priority of the stream the entry was read from, as written in its name ('0': the queue's stream). */
    readonly band: string,
    readonly entryId: string,
    /** The dedup key the message holds, '' when none. */
    readonly key: string,
  ) {
    super(owner, message, attempt, id, headers, deadLetterReason);
    this.priority = band === '0' ? 0 : Number(band);
  }
}
