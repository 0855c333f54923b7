import { type DeliveryOwner, GuardedDelivery } from '../shared/delivery.js';
import { FLOW_BAND } from './keys.js';

/**
 * A delivery from a RedisQueue: the shared settle guard, plus where its entry sits in Redis (for
 * settling it) and its place in the handle's buffer.
 */
export class RedisDelivery<T> extends GuardedDelivery<T, RedisDelivery<T>> {
  /**
   * Order in the handle's buffer: priority, then fetch order. The flow stream's deliveries come in
   * the order the fetch took them (round-robin across groups), so they keep fetch order.
   */
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
    group: string | undefined,
    /** On the flow stream: the group whose slot it holds ('' the default group), freed when it settles. */
    readonly slot: string,
  ) {
    super(owner, message, attempt, id, headers, deadLetterReason, group);
    this.priority = band === '0' || band === FLOW_BAND ? 0 : Number(band);
  }
}
