import { type DeliveryOwner, GuardedDelivery } from '../shared/delivery.js';
import type { Claim } from './settler.js';

/**
 * One message handed out by a {@link PostgresQueue}: a claim of one row of the queue's table.
 * `id` is the envelope's (the row id only for an envelope that has none).
 */
export class PostgresDelivery<T> extends GuardedDelivery<T, PostgresDelivery<T>> implements Claim {
  /** @internal Made by the queue's consumer. */
  constructor(
    owner: DeliveryOwner<PostgresDelivery<T>>,
    message: T,
    attempt: number,
    id: string,
    headers: Readonly<Record<string, unknown>>,
    deadLetterReason: string | undefined,
    /** @internal The claimed row's id. */
    readonly rowId: string,
    /** @internal The row's `run_at` before the claim, to put a prefetched row back where it was. */
    readonly readyAt: string,
    /** @internal `performance.now()` when the row was claimed: its lease started then. */
    readonly claimedAt: number,
    group: string | undefined,
  ) {
    super(owner, message, attempt, id, headers, deadLetterReason, group);
  }
}
