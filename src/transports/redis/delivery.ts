import { type DeliveryOwner, GuardedDelivery } from '../shared/delivery.js';
import { FLOW_BAND } from './keys.js';

/**
 * One message handed out by a {@link RedisQueue}, read from the queue's stream. Settling it
 * acknowledges its stream entry; the fields beyond {@link BrokerDelivery}'s are the consumer's own.
 */
export class RedisDelivery<T> extends GuardedDelivery<T, RedisDelivery<T>> {
  /**
   * Order in the handle's buffer: priority, then fetch order. The flow stream's deliveries come in
   * the order the fetch took them (round-robin across groups), so they keep fetch order.
   * @internal
   */
  readonly priority: number;
  /** @internal Fetch order in the handle's buffer, among deliveries of one priority. */
  seq = 0;

  /** @internal Made by the queue's consumer. */
  constructor(
    owner: DeliveryOwner<RedisDelivery<T>>,
    message: T,
    attempt: number,
    id: string,
    headers: Readonly<Record<string, unknown>>,
    deadLetterReason: string | undefined,
    /** @internal The priority of the stream the entry was read from, as written in its name ('0': the queue's stream). */
    readonly band: string,
    /** @internal The stream entry's id, which settling acknowledges. */
    readonly entryId: string,
    /** @internal The dedup key the message holds, '' when none. */
    readonly key: string,
    group: string | undefined,
    /** @internal On the flow stream: the group whose slot it holds ('' the default group), freed when it settles. */
    readonly slot: string,
  ) {
    super(owner, message, attempt, id, headers, deadLetterReason, group);
    this.priority = band === '0' || band === FLOW_BAND ? 0 : Number(band);
  }
}
