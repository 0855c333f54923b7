import { type DeliveryOwner, GuardedDelivery } from '../shared/delivery.js';

/**
 * One claim of one stored message, as a {@link SqliteQueue} hands it out. `ack`/`nack` resolve once the
 * change is committed. A settlement that comes after the claim's lease ended and another consumer
 * claimed the message changes nothing (that consumer now owns it): at-least-once delivery.
 */
export class SqliteDelivery<T> extends GuardedDelivery<T, SqliteDelivery<T>> {
  /** @internal Made by the queue's consumer. */
  constructor(
    owner: DeliveryOwner<SqliteDelivery<T>>,
    /** @internal Row id in the table; with `attempt`, names this claim. */
    readonly rowId: number,
    message: T,
    attempt: number,
    id: string,
    headers: Readonly<Record<string, unknown>>,
    deadLetterReason: string | undefined,
    group: string | undefined,
  ) {
    super(owner, message, attempt, id, headers, deadLetterReason, group);
  }
}
