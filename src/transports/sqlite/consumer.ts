import { backoffDelay } from '../../queuing/backoff.js';
import { Fifo } from '../../queuing/memory/buffers.js';
import { DONE_PROMISE } from '../../queuing/settled.js';
import type { NackOptions } from '../../queuing/types.js';
import { type Admission, admit } from '../shared/admit.js';
import { atMost } from '../shared/at-most.js';
import type { DeliveryOwner } from '../shared/delivery.js';
import { BrokerIterator, type IteratorOwner, Waiters } from '../shared/iterator.js';
import { nackReason } from '../shared/reasons.js';
import type { Claimer, Connection } from './connection.js';
import { SqliteDelivery } from './delivery.js';
import type { ResolvedOptions } from './options.js';
import type { ClaimedRow } from './tables.js';

/**
 * The consuming side of one SqliteQueue: claims for its waiting `next()` calls, hands deliveries
 * out, settles them, and gives everything back on close.
 *
 * Claims follow demand: a claim asks for as many rows as there are `next()` calls waiting, plus one
 * per delivery settled since the last claim (its consumer loop is about to ask again), so a busy
 * consumer's acks and its next claim share one transaction. Nothing else is prefetched, and what
 * was prefetched but not taken within `pollInterval` (or half the visibility timeout, if shorter) is
 * given back, so messages are not held by a process that does not get to them.
 * While waiters remain and nothing is claimable, it sleeps until the queue's next due row or
 * `pollInterval`, whichever comes first; a send in this process wakes it at once.
 */
export class SqliteConsumer<T>
  implements Claimer, DeliveryOwner<SqliteDelivery<T>>, IteratorOwner<SqliteDelivery<T>>
{
  readonly #waiters = new Waiters<SqliteDelivery<T>>();
  /** Claimed and checked, not handed out yet (prefetched for a settling loop, or its waiter left). */
  readonly #ready = new Fifo<SqliteDelivery<T>>();
  /** Handed out and not settled: what close() waits for. */
  readonly #inFlight = new Set<SqliteDelivery<T>>();
  #claiming = false;
  #asked = 0;
  /** Deliveries settled since the last claim whose loops are expected back. */
  #anticipated = 0;
  #iterators = 0;
  /** Rows whose asynchronous schema check is running. */
  #checking = 0;
  #timer: NodeJS.Timeout | undefined;
  #readyTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #onSettled: (() => void) | undefined;

  /** Milliseconds a prefetched delivery may wait in `#ready` before it is given back. */
  readonly #holdReady: number;

  constructor(
    readonly queue: string,
    private readonly connection: Connection,
    private readonly options: ResolvedOptions<T>,
  ) {
    this.#holdReady = Math.min(options.pollInterval, options.visibilityTimeout / 2);
    connection.subscribe(this);
  }

  get name(): string {
    return this.queue;
  }

  iterator(): BrokerIterator<SqliteDelivery<T>> {
    this.#iterators++;
    return new BrokerIterator(this);
  }

  // --- IteratorOwner ---

  next(iterator: BrokerIterator<SqliteDelivery<T>>): Promise<IteratorResult<SqliteDelivery<T>>> {
    if (this.#closed) return DONE_PROMISE;
    const delivery = this.take();
    if (delivery !== undefined) return Promise.resolve({ value: delivery, done: false });
    const waiting = this.#waiters.wait(iterator);
    this.#claim();
    return waiting;
  }

  /** Ends the pending `next()` calls of a returned iterator; gives back what nobody waits for now. */
  returned(iterator: BrokerIterator<SqliteDelivery<T>>): void {
    this.#iterators--;
    this.#waiters.end(iterator);
    if (this.#waiters.size === 0) this.#releaseReady();
  }

  /** A prefetched delivery, handed out synchronously. */
  take(): SqliteDelivery<T> | undefined {
    const delivery = this.#ready.shift();
    if (delivery !== undefined) this.#inFlight.add(delivery);
    return delivery;
  }

  // --- Claimer (called by the connection) ---

  demand(): number {
    const wanted = this.#waiters.size + this.#anticipated;
    this.#anticipated = 0;
    this.#asked = Math.max(0, wanted - this.#ready.size - this.#checking);
    return this.#asked;
  }

  leaseUntil(now: number): number {
    return now + this.options.visibilityTimeout;
  }

  claimed(rows: readonly ClaimedRow[]): void {
    this.#claiming = false;
    for (const row of rows) this.#admit(row);
    if (!this.#unmet()) return;
    if (rows.length > 0 && rows.length === this.#asked)
      this.#claim(); // there may be more
    else this.#sleep(this.connection.nextDue(this.queue));
  }

  claimFailed(): void {
    this.#claiming = false;
    if (!this.#closed && this.#waiters.size > 0) this.#sleep(undefined); // resume by itself later
  }

  wake(): void {
    if (!this.#closed && this.#waiters.size > 0) this.#claim();
  }

  // --- DeliveryOwner (called by deliveries) ---

  ack(delivery: SqliteDelivery<T>): Promise<void> {
    this.#settle(delivery);
    this.#anticipate();
    return this.connection.write({ kind: 'ack', id: delivery.rowId, attempt: delivery.attempt });
  }

  nack(delivery: SqliteDelivery<T>, options: NackOptions): Promise<void> {
    this.#settle(delivery);
    this.#anticipate();
    const { maxAttempts, backoff } = this.options;
    const { rowId: id, attempt } = delivery;
    if (options.requeue === false || (options.requeue !== true && attempt >= maxAttempts)) {
      return this.#bury(id, attempt, nackReason(options, attempt, maxAttempts), null);
    }
    const delay = options.delay ?? (options.requeue ? 0 : backoffDelay(backoff, attempt));
    return this.connection.write({
      kind: 'retry',
      queue: this.queue,
      id,
      attempt,
      runAt: Date.now() + delay,
    });
  }

  /**
   * Stops claiming, ends waiting `next()` calls, gives back what was not handed out, then waits up to
   * `closeTimeout` for handed-out deliveries to settle and gives back those that did not.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.connection.cancelClaim(this);
    this.connection.unsubscribe(this);
    this.#waiters.end();
    this.#releaseReady();
    if (this.#inFlight.size > 0 || this.#checking > 0) {
      const settled = new Promise<void>((resolve) => {
        this.#onSettled = resolve;
      });
      await atMost(settled, this.options.closeTimeout);
    }
    const writes: Promise<void>[] = [];
    for (const delivery of this.#inFlight) {
      if (!delivery.takeBack()) continue;
      const { rowId: id, attempt } = delivery;
      writes.push(this.connection.write({ kind: 'retry', queue: this.queue, id, attempt, runAt: 0 }));
    }
    this.#inFlight.clear();
    await Promise.all(writes);
  }

  #anticipate(): void {
    if (this.#closed || this.#iterators === 0) return;
    this.#anticipated++;
    this.#claim();
  }

  #claim(): void {
    if (this.#claiming || this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#claiming = true;
    this.connection.requestClaim(this);
  }

  #sleep(due: number | undefined): void {
    const { pollInterval } = this.options;
    const wait = due === undefined ? pollInterval : Math.min(pollInterval, Math.max(0, due - Date.now()));
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#claim(), wait);
  }

  /** Decodes and checks a claimed row; an envelope without id is named by its row id. */
  #admit(row: ClaimedRow): void {
    const admission = admit(row.body, this.options.check, () => String(row.id));
    if (!(admission instanceof Promise)) {
      this.#handOutOrBury(row, admission);
      return;
    }
    this.#checking++;
    void admission.then((checked) => {
      this.#checking--;
      this.#handOutOrBury(row, checked);
      this.#settledCheck();
      if (this.#unmet()) this.#claim(); // it was dead-lettered: its waiter still needs a message
    });
  }

  #handOutOrBury(row: ClaimedRow, admission: Admission<T>): void {
    if (!admission.admitted) {
      // The stored body is copied in SQL (its id added if it had none); only a wrapped one is sent.
      const body = admission.body === row.body ? null : admission.body;
      void this.#bury(row.id, row.attempt, admission.reason, body).catch(() => {});
      return;
    }
    const { envelope } = admission;
    const reason = row.reason ?? undefined;
    const { id, headers } = envelope;
    this.#handOut(new SqliteDelivery(this, row.id, admission.message, row.attempt, id, headers, reason));
  }

  #handOut(delivery: SqliteDelivery<T>): void {
    if (this.#closed) {
      this.#release(delivery);
      return;
    }
    if (this.#waiters.size === 0) {
      this.#ready.push(delivery);
      this.#readyTimer ??= setTimeout(this.#releaseReady, this.#holdReady);
      return;
    }
    this.#inFlight.add(delivery);
    this.#waiters.hand(delivery);
  }

  /** Whether waiting `next()` calls outnumber the deliveries on their way to them. */
  #unmet(): boolean {
    return !this.#closed && this.#waiters.size > this.#ready.size + this.#checking;
  }

  #settle(delivery: SqliteDelivery<T>): void {
    this.#inFlight.delete(delivery);
    this.#settledCheck();
  }

  #settledCheck(): void {
    if (this.#inFlight.size === 0 && this.#checking === 0) this.#onSettled?.();
  }

  #bury(id: number, attempt: number, reason: string, body: string | null): Promise<void> {
    const { deadLetter } = this.options;
    return this.connection.write({ kind: 'bury', deadLetter, id, attempt, reason, body });
  }

  readonly #releaseReady = (): void => {
    clearTimeout(this.#readyTimer);
    this.#readyTimer = undefined;
    for (let d = this.#ready.shift(); d !== undefined; d = this.#ready.shift()) this.#release(d);
  };

  /** Gives back a message that was claimed but never handed out: that claim is not an attempt. */
  #release(delivery: SqliteDelivery<T>): void {
    delivery.takeBack();
    const { rowId: id, attempt } = delivery;
    void this.connection.write({ kind: 'release', queue: this.queue, id, attempt }).catch(() => {});
  }
}
