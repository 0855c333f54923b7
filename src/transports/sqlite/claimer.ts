import type Database from 'better-sqlite3';
import type { FlowLimits } from '../../queuing/types.js';
import type { ClaimedRow, SQL } from './tables.js';

/** A queue's consumer as the connection sees it: asks for claims, hears about changes to its queue. */
export interface Claimer {
  readonly queue: string;
  /** How many rows to claim now (asked at flush time, so waiters that arrived meanwhile count). */
  demand(): number;
  /** Lease end for rows claimed at `now`. */
  leaseUntil(now: number): number;
  /** Its flow limits (rate, group concurrency), undefined for none: read at each claim. */
  readonly limits: FlowLimits | undefined;
  /** `limitedUntil`: the rate limit lets nothing more out before then. */
  claimed(rows: readonly ClaimedRow[], limitedUntil: number | undefined): void;
  claimFailed(error: unknown): void;
  /** Something in its queue changed in this process (sent, requeued, dead-lettered into it). */
  wake(): void;
}

export type Statements = { [K in keyof typeof SQL]: Database.Statement };
