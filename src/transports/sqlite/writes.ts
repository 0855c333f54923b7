import type { Counts } from './counts.js';

/** A change to apply in the next write transaction. `id` + `attempt` name one claim of one row. */
export type Write =
  | {
      kind: 'insert';
      queue: string;
      body: string;
      priority: number;
      runAt: number;
      key: string | null;
      /** The message's group, null for the default group. */
      group: string | null;
    }
  | { kind: 'ack'; queue: string; id: number; attempt: number }
  | { kind: 'retry'; queue: string; id: number; attempt: number; runAt: number }
  | { kind: 'release'; queue: string; id: number; attempt: number }
  | {
      kind: 'deadLetter';
      queue: string;
      deadLetterQueue: string;
      id: number;
      attempt: number;
      reason: string;
      /** Stored instead of the row's body (see admit), or null to copy it. */
      replacement: string | null;
    }
  | { kind: 'operate'; step: (transaction: Transaction) => void };

/** What an operator's step (see `operate`) gets inside the transaction. */
export interface Transaction {
  readonly now: number;
  /** Its changes to each queue's counts, which it must report (see tables.ts). */
  readonly counts: Counts;
  /** Wakes this process's consumers of `queue` once committed: it has new messages to hand out. */
  touch(queue: string): void;
}
