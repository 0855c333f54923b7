import { setTimeout as sleep } from 'node:timers/promises';
import type { SluiceError } from '../../errors.js';
import type { FlowLimits } from '../../queuing/types.js';
import type { Connection } from './connection.js';
import { failure, isTransient } from './errors.js';
import { Listener } from './listener.js';
import type { ResolvedOptions } from './options.js';

/**
 * Milliseconds an idle consumer waits at most before looking at the table again. Wake-ups come
 * from NOTIFY and from a timer set to the earliest `run_at`; this only bounds how long a missed
 * notification (say, a foreign nack that sent none) can go unseen.
 */
const FALLBACK_POLL = 5_000;
/** Delay before retrying after a failure: doubles from 100 ms up to 5 s while the server is away. */
const RETRY_FIRST = 100;
const RETRY_MAX = 5_000;

/** A row as `<dbSchema>.claim()` returns it. */
export interface ClaimedRow {
  readonly id: string;
  readonly attempt: number;
  readonly body: string;
  readonly ready_at: string;
  /** Why it was dead-lettered, on a dead-letter queue. */
  readonly reason: string | null;
  /** Its previous lease ran out unsettled: the consumer that held it died or stalled. */
  readonly lease_expired: boolean;
}

/** A row as `<dbSchema>.claim_flow()` returns it: a claimed row, or (no id) how long the rate limit holds. */
interface FlowRow extends Omit<ClaimedRow, 'id'> {
  readonly id: string | null;
  readonly wait_ms: number | null;
}

/** What one claim brought: the rows, and the milliseconds the rate limit holds further claims, if it does. */
interface Claimed {
  readonly rows: ClaimedRow[];
  readonly rateWait: number | undefined;
}

/** What the claim loop serves: the consumer handing the rows out. */
export interface ClaimDemand {
  /** Rows to claim now; 0 when none are wanted. */
  wanted(): number;
  /** Whether a `next()` waits: a short claim then sleeps until the earliest row is due. */
  waiting(): boolean;
  /** Takes the rows of a claim that asked for `limit`. */
  accept(rows: ClaimedRow[], limit: number): Promise<void>;
  /** A claim failed for a reason other than the connection: the iteration's error. */
  failed(error: SluiceError): void;
  /** Whether the queue is paused, as last read; while it is, `wanted()` is 0. */
  paused(paused: boolean): void;
  /** The flow limits claims apply (see flow-claim.ts), or undefined for none. */
  limits(): FlowLimits | undefined;
}

/**
 * Claims rows for a consumer while it wants them. One claim runs at a time; anything that may have
 * made rows ready meanwhile (a notification, a refill request) sets `#recheck` so the loop claims
 * again instead of going idle. Idle means: a `next()` waits and the last claim came back short; the
 * loop then sleeps until a notification or until the earliest row becomes ready.
 */
export class ClaimLoop {
  readonly #options: ResolvedOptions<unknown>;
  readonly #connection: Connection;
  readonly #demand: ClaimDemand;
  readonly #listener: Listener;
  #claiming = false;
  #run: Promise<void> | undefined;
  #recheck = false;
  #timer: NodeJS.Timeout | undefined;
  /** While paused: when to read the pause row again, should the resume's notification be missed. */
  #pauseTimer: NodeJS.Timeout | undefined;
  /** While the rate limit's window is full: when it has room again. Nothing is claimed meanwhile. */
  #rateTimer: NodeJS.Timeout | undefined;
  /** Claim loops started so far: tells a pending #sleep() whether its reading is still current. */
  #loops = 0;
  #failures = 0;
  #closed = false;
  readonly #stop = new AbortController();

  constructor(options: ResolvedOptions<unknown>, connection: Connection, demand: ClaimDemand) {
    this.#options = options;
    this.#connection = connection;
    this.#demand = demand;
    this.#listener = new Listener(
      connection.pool,
      connection.sql,
      (queue) => {
        if (queue === options.name) this.pull();
      },
      (queue) => {
        if (queue === options.name) void this.checkPause();
      },
      () => {
        this.pull();
        void this.checkPause(); // a pause or resume may have gone unheard
      },
    );
  }

  /** Claims now if rows are wanted, or once the claim under way is back. */
  pull(): void {
    if (this.#closed || this.#rateTimer !== undefined) return;
    if (this.#claiming) {
      this.#recheck = true;
      return;
    }
    if (this.#demand.wanted() === 0) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#loops++;
    if (this.#demand.limits()?.rateLimit === undefined) {
      this.#run = this.#loop();
      return;
    }
    // Under a rate limit a claim takes rows only for the `next()` calls waiting: claimed from the
    // next turn of the event loop, those made in this one (a pump's loops coming back together) are
    // counted in one claim rather than claimed for one at a time.
    this.#claiming = true;
    this.#run = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#loop());
  }

  /**
   * Reads the pause row and tells the consumer; claims again once it is gone. While it is there,
   * nothing is claimed: the pause channel's notification of `resume` (or, failing that, a reading
   * every FALLBACK_POLL) ends the wait.
   */
  async checkPause(): Promise<void> {
    if (this.#closed) return;
    const { pool, sql } = this.#connection;
    let paused: boolean | undefined;
    try {
      const { rows } = await pool.query<{ paused: boolean }>(sql.paused, [this.#options.name]);
      paused = rows[0]?.paused === true;
    } catch {
      // Unknown for now (the claims meet the same failure and wait it out): read it again later.
    }
    if (this.#closed) return;
    clearTimeout(this.#pauseTimer);
    this.#pauseTimer = undefined;
    if (paused !== undefined) this.#demand.paused(paused);
    if (paused === false) this.pull();
    else this.#pauseTimer = setTimeout(() => void this.checkPause(), FALLBACK_POLL);
  }

  /** The flow limits changed: the next claim applies them, now rather than after a rate wait. */
  limitsChanged(): void {
    clearTimeout(this.#rateTimer);
    this.#rateTimer = undefined;
    this.pull();
  }

  /** Claims nothing more from now on; resolves once the claim under way was accepted. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#pauseTimer);
    clearTimeout(this.#rateTimer);
    this.#stop.abort();
    await this.#run;
    await this.#listener.close();
  }

  async #loop(): Promise<void> {
    this.#claiming = true;
    try {
      for (let limit = this.#demand.wanted(); !this.#closed && limit > 0; limit = this.#demand.wanted()) {
        this.#recheck = false;
        const claimed = await this.#claim(limit);
        if (claimed === undefined) continue;
        const { rows, rateWait } = claimed;
        await this.#demand.accept(rows, limit);
        if (rateWait !== undefined) {
          this.#holdForRate(rateWait);
          break;
        }
        if (rows.length === limit || this.#recheck) continue;
        // Nothing more is ready. With a next() waiting, sleep until a notification or the earliest row.
        if (this.#demand.waiting()) void this.#sleep(this.#loops);
        break;
      }
    } finally {
      this.#claiming = false; // synchronously after the last check, so no pull() can fall in between
    }
  }

  /**
   * Sets the timer for the earliest row. Runs beside the claim loop, not in it, so a notification
   * arriving meanwhile claims at once; a claim started meanwhile makes this result stale.
   */
  async #sleep(loopsThen: number): Promise<void> {
    const { wait, paused } = await this.#untilNextReady();
    if (paused) return void this.checkPause(); // claim() handed out nothing because of it
    if (loopsThen !== this.#loops || this.#claiming || this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.pull();
    }, wait);
  }

  /**
   * No claim until the rate limit's window has room again; notifications meanwhile are ignored, since
   * a claim could take nothing.
   */
  #holdForRate(wait: number): void {
    if (this.#closed) return;
    clearTimeout(this.#rateTimer);
    this.#rateTimer = setTimeout(() => {
      this.#rateTimer = undefined;
      this.pull();
    }, Math.ceil(wait));
  }

  /** Claimed rows in claim order, or undefined after a failure (once the retry delay has passed). */
  async #claim(limit: number): Promise<Claimed | undefined> {
    const connection = this.#connection;
    const { name, visibilityTimeout } = this.#options;
    const limits = this.#demand.limits();
    try {
      await connection.ready();
      await this.#listener.ready(); // before claiming, so nothing sent after this claim goes unnoticed
      if (limits === undefined) {
        const { rows } = await connection.pool.query<ClaimedRow>(connection.sql.claim, [
          name,
          limit,
          visibilityTimeout,
        ]);
        this.#failures = 0;
        return { rows, rateWait: undefined };
      }
      const { rateLimit, groupConcurrency } = limits;
      const { rows } = await connection.pool.query<FlowRow>(connection.sql.claimFlow, [
        name,
        limit,
        visibilityTimeout,
        rateLimit?.limit ?? null,
        rateLimit?.interval ?? null,
        groupConcurrency ?? null,
      ]);
      this.#failures = 0;
      const last = rows.at(-1);
      if (last?.id !== null) return { rows: rows as ClaimedRow[], rateWait: undefined };
      rows.pop();
      return { rows: rows as ClaimedRow[], rateWait: last.wait_ms ?? undefined };
    } catch (error) {
      // A lost connection is waited out; anything else is the iteration's error (it stops a pump).
      if (!isTransient(error)) this.#demand.failed(failure(`claiming from queue ${name}`, error));
      const delay = Math.min(RETRY_FIRST * 2 ** this.#failures++, RETRY_MAX);
      await sleep(delay, undefined, { signal: this.#stop.signal }).catch(() => {});
      return undefined;
    }
  }

  /** Milliseconds until the earliest row (delayed, backing off, or leased) becomes ready, bounded. */
  async #untilNextReady(): Promise<{ wait: number; paused: boolean }> {
    const { pool, sql } = this.#connection;
    // Under a group cap, the ready rows may be the capped groups': wait for what is not ready yet.
    const capped = this.#demand.limits()?.groupConcurrency !== undefined;
    try {
      const { rows } = await pool.query<{ wait: number | null; paused: boolean }>(
        capped ? sql.nextDue : sql.nextReady,
        [this.#options.name],
      );
      const wait = rows[0]?.wait ?? FALLBACK_POLL;
      return {
        wait: Math.min(Math.max(Math.ceil(wait), 1), FALLBACK_POLL),
        paused: rows[0]?.paused === true,
      };
    } catch {
      // The claim that follows meets the same failure and handles it.
      return { wait: RETRY_FIRST, paused: false };
    }
  }
}
