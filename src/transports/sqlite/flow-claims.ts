import type Database from 'better-sqlite3';
import type { FlowLimits, RateLimit } from '../../queuing/types.js';
import { FLOW_SQL, type RateWindow, type Turns } from './flow-tables.js';
import type { ClaimedRow } from './tables.js';

type Statements = { [K in keyof typeof FLOW_SQL]: Database.Statement };

/** A claimed row of a queue that serves groups. */
interface GroupRow extends ClaimedRow {
  readonly group_name: string;
}

/** What a claim under flow control took, and until when the rate limit lets nothing more out. */
export interface FlowClaim {
  readonly rows: ClaimedRow[];
  readonly limitedUntil: number | undefined;
}

/** Leases a selected row: see the connection's plain claim. */
export type Lease = (row: ClaimedRow) => void;

/**
 * The claims of queues that serve groups or are claimed under limits (see flow-tables.ts), run in
 * the connection's write transaction, which makes them atomic across processes: the rotation, the
 * leases each group holds and the rate window are all read and updated under the file's write lock.
 */
export class FlowClaims {
  readonly #statements: Statements;

  constructor(prepare: (sql: string) => Database.Statement) {
    const statements = Object.fromEntries(
      Object.entries(FLOW_SQL).map(([name, sql]) => [name, prepare(sql)]),
    ) as Statements;
    statements.lastId.pluck();
    statements.inFlight.pluck();
    statements.paused.pluck();
    this.#statements = statements;
  }

  /** The queue's rotation, or undefined when it serves no groups: the one check of the plain claim. */
  turns(queue: string): Turns | undefined {
    return this.#statements.turns.get(queue) as Turns | undefined;
  }

  /** Makes `queue` serve groups (a send with a group, or a claim with `groupConcurrency`). */
  serveGroups(queue: string): void {
    this.#statements.startTurns.run(queue);
  }

  /**
   * Claims up to `demand` rows within `limits`: no more than the rate window has room for, and
   * round-robin across groups below their cap when the queue serves groups; else as `plain` does.
   * The window is read and written with the clock read under the file's write lock, so that it
   * orders the hand-outs of every process as they happen.
   */
  claim(
    queue: string,
    demand: number,
    now: number,
    limits: FlowLimits | undefined,
    turns: Turns | undefined,
    plain: (wanted: number) => ClaimedRow[],
    lease: Lease,
  ): FlowClaim {
    const rate = limits?.rateLimit;
    let wanted = demand;
    let window: RateWindow | undefined;
    if (rate !== undefined) {
      const clock = Date.now();
      window = this.#window(queue, rate, clock);
      if (window.used >= rate.limit)
        return { rows: [], limitedUntil: (window.oldest ?? clock) + rate.interval };
      wanted = Math.min(wanted, rate.limit - window.used);
    }
    const cap = limits?.groupConcurrency;
    let rotation = turns;
    if (rotation === undefined && cap !== undefined) {
      this.serveGroups(queue);
      rotation = { last_group: null, grouped_to: 0 };
    }
    const rows =
      rotation === undefined ? plain(wanted) : this.#rotate(queue, rotation, wanted, now, cap, lease);
    if (rate === undefined || window === undefined || rows.length === 0)
      return { rows, limitedUntil: undefined };
    const handedOut = Date.now(); // as late as it can be read: the window keeps them no shorter
    this.#statements.record.run(queue, handedOut, rows.length);
    const full = window.used + rows.length >= rate.limit;
    return { rows, limitedUntil: full ? (window.oldest ?? handedOut) + rate.interval : undefined };
  }

  /** The hand-outs still in the window, once those that left it are forgotten. */
  #window(queue: string, rate: RateLimit, clock: number): RateWindow {
    this.#statements.forget.run(queue, clock - rate.interval);
    return this.#statements.window.get(queue) as RateWindow;
  }

  /**
   * Takes the head of each group in turn, after the group served last, skipping the groups at
   * their cap, until `wanted` rows are taken or a whole round took nothing. Each row is leased as it
   * is taken, so its group's next head and its count of deliveries out see it.
   */
  #rotate(
    queue: string,
    turns: Turns,
    wanted: number,
    now: number,
    cap: number | undefined,
    lease: Lease,
  ): ClaimedRow[] {
    const s = this.#statements;
    if (s.paused.get(queue) === 1) return [];
    const lastId = (s.lastId.get() as number | null) ?? 0;
    if (lastId > turns.grouped_to) s.joinDefault.run(turns.grouped_to, queue);
    const rows: ClaimedRow[] = [];
    let cursor = turns.last_group;
    let served = cursor;
    const passed = new Set<string>(); // groups at their cap since the last row taken
    while (rows.length < wanted) {
      const head = (cursor === null ? s.headFirst.get(queue, now) : s.headAfter.get(queue, cursor, now)) as
        | GroupRow
        | undefined;
      if (head === undefined) {
        if (cursor === null) break;
        cursor = null; // past the last group: round again from the first
        continue;
      }
      const group = head.group_name;
      if (passed.has(group)) break;
      cursor = group;
      if (cap !== undefined && (s.inFlight.get(queue, group, now, cap) as number) >= cap) {
        passed.add(group);
        continue;
      }
      passed.clear();
      lease(head);
      rows.push(head);
      served = group;
    }
    if (served !== turns.last_group || lastId > turns.grouped_to) {
      s.saveTurns.run(served, Math.max(lastId, turns.grouped_to), queue);
    }
    return rows;
  }
}
