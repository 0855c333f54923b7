import { limitsFlow } from '../../queuing/flow-options.js';
import { DONE_PROMISE } from '../../queuing/settled.js';
import type { FlowLimits, NackOptions } from '../../queuing/types.js';
import { type Admission, admit } from '../shared/admit.js';
import { atMost } from '../shared/at-most.js';
import type { DeliveryOwner } from '../shared/delivery.js';
import { HandedOut } from '../shared/handed-out.js';
import { BrokerIterator, type IteratorOwner, Waiters } from '../shared/iterator.js';
import { unsettledReason } from '../shared/reasons.js';
import { nackOutcome } from '../shared/retry-policy.js';
import { UnderWay } from '../shared/under-way.js';
import type { Claimer } from './claimer.js';
import { type Connection, isBusy } from './connection.js';
import { SqliteDelivery } from './delivery.js';
import type { ResolvedOptions } from './options.js';
import { Prefetched } from './prefetched.js';
import type { ClaimedRow } from './tables.js';
import type { Write } from './writes.js';

/**
 * The consuming side of one SqliteQueue: claims for its waiting `next()` calls, hands deliveries
 * out, settles them, and gives everything back on close.
 *
 * Claims follow demand: a claim asks for as many rows as there are `next()` calls waiting, plus one
 * per delivery settled since the last claim (its consumer loop is about to ask again), so a busy
 * consumer's acks and its next claim share one transaction. Nothing else is prefetched (see
 * Prefetched). While waiters remain and nothing is claimable, it sleeps until the queue's next due
 * row or `pollInterval`, whichever comes first; a send in this process wakes it at once.
 *
 * Under flow limits (`flow`) each claim applies them in the file (flow-claims.ts); under a rate limit
 * nothing is claimed ahead of the waiting `next()` calls, a row whose waiter left is given back at
 * once, and a full window is waited out before the next claim.
 */
export class SqliteConsumer<T>
  implements Claimer, DeliveryOwner<SqliteDelivery<T>>, IteratorOwner<SqliteDelivery<T>>
{
  readonly #waiters = new Waiters<SqliteDelivery<T>>();
  /** Claimed and checked, not handed out yet; given back within `pollInterval` or half the lease. */
  readonly #ready: Prefetched<SqliteDelivery<T>>;
  /** Handed out and not settled: what close() waits for. */
  readonly #handedOut = new HandedOut<SqliteDelivery<T>>();
  #claiming = false;
  #asked = 0;
  /** Deliveries settled since the last claim whose loops are expected back. */
  #anticipated = 0;
  #iterators = 0;
  /** Rows whose asynchronous schema check is running: on their way to a waiter (see #unmet). */
  #checking = 0;
  /** Those checks, for close(): a row checked after close is given back (#handOut) before release. */
  readonly #checks = new UnderWay();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** The limits given last by any of its iterators (`flow`), read by each claim. */
  limits: FlowLimits | undefined;
  /** Epoch ms before which the rate limit lets nothing out: claims wait till then. */
  #limitedUntil = 0;

  constructor(
    readonly queue: string,
    private readonly connection: Connection,
    private readonly options: ResolvedOptions<T>,
  ) {
    const hold = Math.min(options.pollInterval, options.visibilityTimeout / 2);
    this.#ready = new Prefetched(hold, this.#release);
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
    if (this.#waiters.size === 0) this.#ready.giveBackAll();
  }

  /** The next claim applies `limits`. */
  flow(limits: FlowLimits): void {
    this.limits = limitsFlow(limits) ? limits : undefined;
    this.#anticipated = 0;
    this.#limitedUntil = 0;
    if (this.#waiters.size > 0) this.#claim();
  }

  /** A prefetched delivery, handed out synchronously. */
  take(): SqliteDelivery<T> | undefined {
    const delivery = this.#ready.shift();
    if (delivery !== undefined) this.#handedOut.add(delivery);
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

  claimed(rows: readonly ClaimedRow[], limitedUntil: number | undefined): void {
    this.#claiming = false;
    this.#limitedUntil = limitedUntil ?? 0;
    for (const row of rows) this.#admit(row);
    if (!this.#unmet()) return;
    if (limitedUntil !== undefined)
      this.#sleep(limitedUntil, false); // only time frees the window
    else if (rows.length > 0 && rows.length === this.#asked)
      this.#claim(); // there may be more
    else this.#sleep(this.connection.nextDue(this.queue));
  }

  claimFailed(): void {
    this.#claiming = false;
    if (!this.#closed && this.#waiters.size > 0) this.#sleep(); // resume by itself later
  }

  wake(): void {
    if (!this.#closed && this.#waiters.size > 0 && Date.now() >= this.#limitedUntil) this.#claim();
  }

  // --- DeliveryOwner (called by deliveries) ---

  ack(delivery: SqliteDelivery<T>): Promise<void> {
    this.#handedOut.delete(delivery);
    this.#anticipate();
    return this.#settle({ kind: 'ack', queue: this.queue, id: delivery.rowId, attempt: delivery.attempt });
  }

  /** Throws before anything changes when the policy refuses the options: the delivery stays handed out. */
  nack(delivery: SqliteDelivery<T>, options: NackOptions): Promise<void> {
    const { rowId: id, attempt } = delivery;
    const outcome = nackOutcome(options, attempt, this.options);
    this.#handedOut.delete(delivery);
    this.#anticipate();
    if (outcome.deadLetter !== undefined) return this.#deadLetter(id, attempt, outcome.deadLetter);
    const runAt = Date.now() + outcome.retryAfter;
    return this.#settle({ kind: 'retry', queue: this.queue, id, attempt, runAt });
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
    this.#ready.giveBackAll();
    const { closeTimeout } = this.options;
    const [unsettled] = await Promise.all([
      this.#handedOut.settleWithin(closeTimeout),
      atMost(this.#checks.ended(), closeTimeout),
    ]);
    await Promise.all(
      unsettled.map(({ rowId: id, attempt }) =>
        this.#settle({ kind: 'retry', queue: this.queue, id, attempt, runAt: 0 }),
      ),
    );
  }

  /**
   * A settle the file was too busy to take (another process held its write lock past the busy
   * timeout) is no error of the handler: rejecting would stop a pump, whatever its `failSilently`.
   * The row's lease runs out and it is claimed again (dead-lettered after its last attempt).
   */
  #settle(write: Write): Promise<void> {
    return this.connection.write(write).catch((error: unknown) => {
      if (!isBusy(error)) throw error;
    });
  }

  /** Not under a rate limit: a claim then fetches for the `next()` calls waiting, no more. */
  #anticipate(): void {
    if (this.#closed || this.#iterators === 0 || this.limits?.rateLimit !== undefined) return;
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

  /** Claims again at `due` (epoch ms), or after `pollInterval` when that comes first and `poll`. */
  #sleep(due = Number.POSITIVE_INFINITY, poll = true): void {
    const time = poll ? Math.min(Date.now() + this.options.pollInterval, due) : due;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#claim(), Math.max(0, time - Date.now()));
  }

  /**
   * Decodes and checks a claimed row (an envelope without id is named by its row id), unless its
   * last attempt's lease ran out unsettled: handing it out again would hold its key for ever.
   */
  #admit(row: ClaimedRow): void {
    const { check, maxAttempts } = this.options;
    if (row.lease_expired === 1 && row.attempt > maxAttempts) {
      const reason = unsettledReason(row.attempt - 1, maxAttempts);
      // Should this fail, the lease runs out again and the next claim dead-letters it.
      void this.#deadLetter(row.id, row.attempt, reason).catch(() => {});
      return;
    }
    // A thunk, not String(row.id): the row id is converted only for an envelope that has no id.
    const admission = admit(row.body, check, () => String(row.id));
    if (!(admission instanceof Promise)) {
      this.#handOutOrDeadLetter(row, admission);
      return;
    }
    this.#checking++;
    void this.#checks.add(
      admission.then((checked) => {
        this.#checking--;
        this.#handOutOrDeadLetter(row, checked);
        if (this.#unmet()) this.#claim(); // it was dead-lettered: its waiter still needs a message
      }),
    );
  }

  #handOutOrDeadLetter(row: ClaimedRow, admission: Admission<T>): void {
    if (!admission.admitted) {
      const { reason, replacement = null } = admission;
      void this.#deadLetter(row.id, row.attempt, reason, replacement).catch(() => {});
      return;
    }
    const { envelope } = admission;
    const reason = row.reason ?? undefined;
    const { id, headers, group } = envelope;
    this.#handOut(
      new SqliteDelivery(this, row.id, admission.message, row.attempt, id, headers, reason, group),
    );
  }

  #handOut(delivery: SqliteDelivery<T>): void {
    if (this.#closed) {
      this.#release(delivery);
      return;
    }
    if (this.#waiters.size === 0) {
      if (this.limits?.rateLimit !== undefined) {
        this.#release(delivery); // its hand-out would come later than the window counted it
        return;
      }
      this.#ready.push(delivery);
      return;
    }
    this.#handedOut.add(delivery);
    this.#waiters.hand(delivery);
  }

  /** Whether waiting `next()` calls outnumber the deliveries on their way to them. */
  #unmet(): boolean {
    return !this.#closed && this.#waiters.size > this.#ready.size + this.#checking;
  }

  /** `replacement` (see admit) is stored instead of the row's body; null copies it. */
  #deadLetter(id: number, attempt: number, reason: string, replacement: string | null = null): Promise<void> {
    const { queue, options } = this;
    const deadLetterQueue = options.deadLetter;
    return this.#settle({ kind: 'deadLetter', queue, deadLetterQueue, id, attempt, reason, replacement });
  }

  /** Gives back a message that was claimed but never handed out: that claim is not an attempt. */
  readonly #release = (delivery: SqliteDelivery<T>): void => {
    delivery.takeBack();
    const { rowId: id, attempt } = delivery;
    void this.connection.write({ kind: 'release', queue: this.queue, id, attempt }).catch(() => {});
  };
}
