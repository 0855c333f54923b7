import { setTimeout as sleep } from 'node:timers/promises';
import { Fifo } from '../../queuing/memory/buffers.js';
import { DONE, DONE_PROMISE, RESOLVED } from '../../queuing/settled.js';
import type { Delivery, NackOptions } from '../../queuing/types.js';
import { atMost } from '../shared/at-most.js';
import { decodeEnvelope, type ReceivedEnvelope, wrapUndecodable } from '../shared/envelope.js';
import { PostgresDelivery } from './delivery.js';
import { failure, isTransient } from './errors.js';
import { Listener } from './listener.js';
import type { Context } from './options.js';
import type { Settler } from './settler.js';

/**
 * Milliseconds an idle consumer waits at most before looking at the table again. Wake-ups come
 * from NOTIFY and from a timer set to the earliest `run_at`; this only bounds how long a missed
 * notification (say, from a foreign producer that inserted without the trigger) can go unseen.
 */
const FALLBACK_POLL = 5_000;
/** Delay before retrying after a failure: doubles from 100 ms up to 5 s while the server is away. */
const RETRY_FIRST = 100;
const RETRY_MAX = 5_000;

interface Waiter<T> {
  readonly iterator: PostgresIterator<T>;
  resolve(result: IteratorResult<Delivery<T>>): void;
  reject(error: unknown): void;
}

interface ClaimedRow {
  id: string;
  attempt: number;
  body: string;
  ready_at: string;
}

/**
 * The consuming side of one queue handle, shared by all its iterators.
 *
 * Claimed rows go straight to waiting `next()` calls, the rest into a prefetch buffer refilled when
 * it falls below half of its target size. One claim runs at a time; anything that may have made rows
 * ready meanwhile (a notification, a refill request) sets `#recheck` so the loop claims again
 * instead of going idle. Idle means: waiters remain and the last claim came back short; the loop
 * then sleeps until a notification or until the earliest row becomes ready.
 */
export class Consumer<T> {
  readonly name: string;
  readonly #context: Context<T>;
  readonly #settler: Settler;
  readonly #ready: () => Promise<void>;
  readonly #listener: Listener;
  readonly #buffer = new Fifo<PostgresDelivery<T>>();
  /** Rows to keep buffered: `prefetch`, doubled while consumers outrun the claims (see #adapt). */
  #target: number;
  #waiters = new Fifo<Waiter<T>>();
  /** Handed out and not yet settled (or nacked and still being written): `close()` waits for them. */
  readonly #handedOut = new Set<PostgresDelivery<T>>();
  #iterators = 0;
  #claiming = false;
  #claimRun: Promise<void> | undefined;
  #recheck = false;
  #timer: NodeJS.Timeout | undefined;
  /** Claim loops started so far: tells a pending #sleep() whether its reading is still current. */
  #claimLoops = 0;
  #failures = 0;
  #closed = false;
  readonly #stop = new AbortController();
  #onDrained: (() => void) | undefined;
  readonly #writes = new Set<Promise<void>>();

  constructor(context: Context<T>, settler: Settler, ready: () => Promise<void>) {
    this.name = context.name;
    this.#context = context;
    this.#settler = settler;
    this.#ready = ready;
    this.#target = context.prefetch;
    this.#listener = new Listener(
      context.pool,
      context.sql,
      (queue) => {
        if (queue === this.name) this.#pull();
      },
      () => this.#pull(),
    );
  }

  iterator(): AsyncIterator<Delivery<T>> {
    this.#iterators++;
    return new PostgresIterator(this);
  }

  /** A prefetched delivery, if one is buffered; Pump calls this to skip `next()` when it can. */
  take(): PostgresDelivery<T> | undefined {
    if (this.#closed) return undefined; // what is buffered goes back to the table
    const delivery = this.#buffer.shift();
    if (delivery === undefined) return undefined;
    if (performance.now() - delivery.claimedAt > this.#context.visibilityTimeout / 2) {
      // Consumers slowed down since this was claimed: rather than hand out a row whose lease may run
      // out mid-processing (and be claimed again elsewhere), give back everything buffered.
      this.#background(this.#releaseBuffer(delivery));
      return undefined;
    }
    this.#handedOut.add(delivery);
    if (this.#buffer.size < this.#target >> 1) this.#pull();
    return delivery;
  }

  next(iterator: PostgresIterator<T>): Promise<IteratorResult<Delivery<T>>> {
    if (this.#closed) return DONE_PROMISE;
    const delivery = this.take();
    if (delivery !== undefined) return Promise.resolve({ value: delivery, done: false });
    return new Promise((resolve, reject) => {
      this.#waiters.push({ iterator, resolve, reject });
      this.#pull();
    });
  }

  /** An iterator was returned: its pending `next()` calls end, and with the last one the buffer goes back. */
  return(iterator: PostgresIterator<T>): void {
    this.#endWaiters((waiter) => waiter.iterator === iterator);
    this.#iterators--;
    if (this.#iterators === 0) this.#background(this.#releaseBuffer());
  }

  ack(delivery: PostgresDelivery<T>): Promise<void> {
    this.#settler.ack(delivery);
    this.#settledNow(delivery);
    return RESOLVED;
  }

  nack(delivery: PostgresDelivery<T>, options: NackOptions): Promise<void> {
    return this.#tracked(delivery, this.#settler.nack(delivery, options));
  }

  /**
   * Stops claiming; pending `next()` calls end; prefetched rows go back untouched; handed-out
   * deliveries get `closeTimeout` to settle, then go back too (that delivery counted as an attempt).
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#stop.abort();
    this.#endWaiters(() => true);
    await this.#claimRun;
    await this.#releaseBuffer();
    await this.#drain();
    await Promise.all(this.#writes);
    await this.#listener.close();
  }

  #wantsMore(): boolean {
    return this.#waiters.size > 0 || (this.#iterators > 0 && this.#buffer.size < this.#target >> 1);
  }

  #pull(): void {
    if (this.#closed) return;
    if (this.#claiming) {
      this.#recheck = true;
      return;
    }
    if (!this.#wantsMore()) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#claimLoops++;
    this.#claimRun = this.#claimLoop();
  }

  async #claimLoop(): Promise<void> {
    this.#claiming = true;
    try {
      while (!this.#closed && this.#wantsMore()) {
        this.#recheck = false;
        const limit = this.#waiters.size + this.#target - this.#buffer.size;
        const rows = await this.#claim(limit);
        if (rows === undefined) continue;
        this.#adapt(rows.length === limit);
        await this.#accept(rows);
        if (rows.length === limit || this.#recheck) continue;
        // Nothing more is ready. With consumers waiting, sleep until a notification or the earliest row.
        if (this.#waiters.size > 0) void this.#sleep(this.#claimLoops);
        break;
      }
    } finally {
      this.#claiming = false; // synchronously after the last check, so no #pull() can fall in between
    }
  }

  /**
   * Sets the timer for the earliest row. Runs beside the claim loop, not in it, so a notification
   * arriving meanwhile claims at once; a claim started meanwhile makes this result stale.
   */
  async #sleep(loopsThen: number): Promise<void> {
    const wait = await this.#untilNextReady();
    if (loopsThen !== this.#claimLoops || this.#claiming || this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#pull();
    }, wait);
  }

  /**
   * A claim costs a round trip whatever its size. Consumers still waiting when a full claim comes
   * back emptied the buffer faster than claims refill it: claim twice as many next time (up to 16×
   * `prefetch`). Once the queue runs dry the buffer goes back to `prefetch`, so slow consumers never
   * hold more than that.
   */
  #adapt(full: boolean): void {
    const { prefetch } = this.#context;
    if (!full) this.#target = prefetch;
    else if (this.#waiters.size > 0) this.#target = Math.min(this.#target * 2, prefetch * 16);
  }

  /** Claimed rows in claim order, or undefined after a failure (once the retry delay has passed). */
  async #claim(limit: number): Promise<ClaimedRow[] | undefined> {
    const { pool, sql, name, visibilityTimeout } = this.#context;
    try {
      await this.#ready();
      await this.#listener.ready(); // before claiming, so nothing sent after this claim goes unnoticed
      const { rows } = await pool.query<ClaimedRow>(sql.claim, [name, limit, visibilityTimeout]);
      this.#failures = 0;
      return rows;
    } catch (error) {
      // A lost connection is waited out; anything else is the iteration's error (it stops a pump).
      if (!isTransient(error)) this.#endWaiters(() => true, failure(`claiming from queue ${name}`, error));
      const delay = Math.min(RETRY_FIRST * 2 ** this.#failures++, RETRY_MAX);
      await sleep(delay, undefined, { signal: this.#stop.signal }).catch(() => {});
      return undefined;
    }
  }

  async #accept(rows: ClaimedRow[]): Promise<void> {
    const late: PostgresDelivery<T>[] = [];
    const claimedAt = performance.now();
    const { check } = this.#context;
    for (const row of rows) {
      let envelope: ReceivedEnvelope;
      try {
        envelope = decodeEnvelope(row.body);
      } catch (error) {
        this.#deadLetter(row, (error as Error).message, JSON.stringify(wrapUndecodable(row.body)));
        continue;
      }
      let message: T;
      try {
        const checked = check === undefined ? (envelope.payload as T) : check(envelope.payload);
        message = checked instanceof Promise ? await checked : checked;
      } catch (error) {
        this.#deadLetter(row, `invalid message: ${(error as Error).message}`, null);
        continue;
      }
      const delivery = new PostgresDelivery<T>(this, message, row.id, row.attempt, row.ready_at, claimedAt);
      // Claimed as the handle closed or its last iterator returned: nobody will take it.
      if (this.#closed || this.#iterators === 0) late.push(delivery);
      else this.#handOut(delivery);
    }
    if (late.length > 0) await this.#settler.release(late).catch(() => {});
  }

  /** `body` replaces one that is not an envelope; `null` keeps the row's. */
  #deadLetter(row: ClaimedRow, reason: string, body: string | null): void {
    const claim = { id: row.id, attempt: row.attempt, readyAt: row.ready_at };
    // Should this fail, the lease runs out and the row is decoded (and dead-lettered) again.
    this.#background(this.#settler.deadLetter(claim, reason, body));
  }

  /** A write nobody waits for, except `close()`. */
  #background(write: Promise<void>): void {
    const tracked = write.catch(() => {}).finally(() => this.#writes.delete(tracked));
    this.#writes.add(tracked);
  }

  #handOut(delivery: PostgresDelivery<T>): void {
    const waiter = this.#waiters.shift();
    if (waiter === undefined) {
      this.#buffer.push(delivery);
      return;
    }
    this.#handedOut.add(delivery);
    waiter.resolve({ value: delivery, done: false });
  }

  /** Milliseconds until the earliest row (delayed, backing off, or leased) becomes ready, bounded. */
  async #untilNextReady(): Promise<number> {
    const { pool, sql, name } = this.#context;
    try {
      const { rows } = await pool.query<{ wait: number }>(sql.nextReady, [name]);
      const wait = rows[0]?.wait ?? FALLBACK_POLL;
      return Math.min(Math.max(Math.ceil(wait), 1), FALLBACK_POLL);
    } catch {
      return RETRY_FIRST; // the claim that follows meets the same failure and handles it
    }
  }

  #endWaiters(which: (waiter: Waiter<T>) => boolean, error?: unknown): void {
    const kept = new Fifo<Waiter<T>>();
    for (let waiter = this.#waiters.shift(); waiter !== undefined; waiter = this.#waiters.shift()) {
      if (!which(waiter)) kept.push(waiter);
      else if (error === undefined) waiter.resolve(DONE);
      else waiter.reject(error);
    }
    this.#waiters = kept;
  }

  async #releaseBuffer(...prefetched: PostgresDelivery<T>[]): Promise<void> {
    for (let d = this.#buffer.shift(); d !== undefined; d = this.#buffer.shift()) prefetched.push(d);
    // Should this fail, the leases run out and the rows are claimed again (one more attempt).
    await this.#settler.release(prefetched).catch(() => {});
  }

  #tracked(delivery: PostgresDelivery<T>, written: Promise<void>): Promise<void> {
    return written.finally(() => this.#settledNow(delivery));
  }

  #settledNow(delivery: PostgresDelivery<T>): void {
    this.#handedOut.delete(delivery);
    if (this.#handedOut.size === 0) this.#onDrained?.();
  }

  async #drain(): Promise<void> {
    if (this.#handedOut.size > 0) {
      const drained = new Promise<void>((resolve) => {
        this.#onDrained = resolve;
      });
      await atMost(drained, this.#context.closeTimeout);
    }
    const unsettled = [...this.#handedOut].filter((delivery) => !delivery.settled);
    for (const delivery of unsettled) delivery.settled = true;
    await Promise.all(unsettled.map((delivery) => this.#settler.retry(delivery, 0).catch(() => {})));
  }
}

class PostgresIterator<T> implements AsyncIterator<Delivery<T>> {
  #returned = false;

  constructor(private readonly consumer: Consumer<T>) {}

  next(): Promise<IteratorResult<Delivery<T>>> {
    return this.#returned ? DONE_PROMISE : this.consumer.next(this);
  }

  return(): Promise<IteratorResult<Delivery<T>>> {
    if (!this.#returned) {
      this.#returned = true;
      this.consumer.return(this);
    }
    return DONE_PROMISE;
  }
}
