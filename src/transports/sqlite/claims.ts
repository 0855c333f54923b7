import type { Claimer, Statements } from './claimer.js';
import type { Counts } from './counts.js';
import type { FlowClaims } from './flow-claims.js';
import type { ClaimedRow } from './tables.js';

/** What one claim took for one consumer. */
export interface Claim {
  readonly rows: readonly ClaimedRow[];
  /** The rate limit lets nothing more out before then (epoch ms); undefined when it does. */
  readonly limitedUntil: number | undefined;
}

/**
 * The claim step of the connection's write transaction, for one consumer: promotes the queue's due
 * rows, then leases what the consumer asks for. A consumer with no limits claims as before: the
 * plain claim takes nothing from a queue that serves groups, which only an empty claim then looks
 * up. The others, and the queues that serve groups, go through FlowClaims.
 */
export class Claims {
  #leaseUntil = 0;

  constructor(
    private readonly statements: Pick<Statements, 'promote' | 'claim' | 'lease'>,
    private readonly counts: Counts,
    private readonly flow: FlowClaims,
  ) {}

  /** Undefined when the consumer wants nothing now. */
  claim(claimer: Claimer, now: number): Claim | undefined {
    const { queue, limits } = claimer;
    const promoted = this.statements.promote.run(queue, now).changes;
    if (promoted > 0) this.counts.add(queue, promoted, 0, -promoted);
    const demand = claimer.demand();
    if (demand === 0) return undefined;
    this.#leaseUntil = claimer.leaseUntil(now);
    let rows = limits === undefined ? this.#plain(queue, now, demand) : [];
    let limitedUntil: number | undefined;
    if (rows.length === 0) {
      const turns = this.flow.turns(queue);
      if (limits === undefined && turns === undefined) return undefined; // nothing ready
      const plain = (wanted: number) => this.#plain(queue, now, wanted);
      ({ rows, limitedUntil } = this.flow.claim(queue, demand, now, limits, turns, plain, this.#lease));
    }
    let fresh = 0;
    for (const row of rows) if (row.lease_expired === 0) fresh++;
    if (fresh > 0) this.counts.add(queue, -fresh, fresh, 0);
    return { rows, limitedUntil };
  }

  /** Makes `queue` serve groups (see flow-tables.ts). */
  serveGroups(queue: string): void {
    this.flow.serveGroups(queue);
  }

  /** The next ready rows in delivery order, leased. */
  #plain(queue: string, now: number, wanted: number): ClaimedRow[] {
    const rows = this.statements.claim.all(queue, now, queue, queue, wanted) as ClaimedRow[];
    for (const row of rows) this.#lease(row);
    return rows;
  }

  readonly #lease = (row: ClaimedRow): void => {
    this.statements.lease.run(this.#leaseUntil, row.id);
    row.attempt++;
  };
}
