import { type DeliveryOwner, GuardedDelivery } from '../shared/delivery.js';
import type { Claim } from './settler.js';

/**
 * A delivery from a PostgresQueue: the shared settle guard, plus the claim of the row it came from.
 * `id` is the envelope's (the row id only for an envelope that has none); `rowId` is the row's.
 */
export class PostgresDelivery<T> extends GuardedDelivery<T, PostgresDelivery<T>> implements Claim {
  constructor(
    owner: DeliveryOwner<PostgresDelivery<T>>,
    message: T,
    attempt: number,
    id: string,
    headers: Readonly<Record<string, unknown>>,
    deadLetterReason: string | undefined,
    readonly rowId: string,
    readonly readyAt: string,
    /** `performance.now()` when the row was claimed: its lease started then. */
    readonly claimedAt: number,
    group: string | undefined,
  ) {
    super(owner, message, attempt, id, headers, deadLetterReason, group);
  }
}
