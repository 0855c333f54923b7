import { backoffDelay } from '../../queuing/backoff.js';
import { Fifo } from '../../queuing/memory/buffers.js';
import { DONE, DONE_PROMISE } from '../../queuing/settled.js';
import type { NackOptions } from '../../queuing/types.js';
import { atMost } from '../shared/at-most.js';
import { decodeEnvelope, type ReceivedEnvelope, wrapUndecodable } from '../shared/envelope.js';
import type { MessageCheck } from '../shared/message-schema.js';
import { ClaimedDelivery, type SqliteDelivery } from './delivery.js';
import type { ResolvedOptions } from './options.js';
import type { Claimer, Store } from './store.js';
import type { ClaimedRow } from './tables.js';

interface Waiter<T> {
  readonly iterator: SqliteIterator<T>;
  resolve(result: IteratorResult<SqliteDelivery<T>>): void;
}

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
export class ConsumerCore<T> implements Claimer {
  readonly #waiters = new Fifo<Waiter<T>>();
  /** Claimed and checked, not handed out yet (prefetched for a settling loop, or its waiter left). */
  readonly #ready = new Fifo<ClaimedDelivery<T>>();
  /** Handed out and not settled: what close() waits for. */
  readonly #inFlight = new Set<ClaimedDelivery<T>>();
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
    private readonly store: Store,
    private readonly options: ResolvedOptions<T>,
  ) {
    this.#holdReady = Math.min(options.pollInterval, options.visibilityTimeout / 2);
    store.subscribe(this);
  }

  get name(): string {
    return this.queue;
  }

  next(iterator: SqliteIterator<T>): Promise<IteratorResult<SqliteDelivery<T>>> {
    if (this.#closed || iterator.returned) return DONE_PROMISE;
    const delivery = this.take();
    if (delivery !== undefined) return Promise.resolve({ value: delivery, done: false });
    return new Promise((resolve) => {
      this.#waiters.push({ iterator, resolve });
      this.#claim();
    });
  }

  /** A prefetched delivery, handed out synchronously. */
  take(): ClaimedDelivery<T> | undefined {
    const delivery = this.#ready.shift();
    if (delivery !== undefined) this.#inFlight.add(delivery);
    return delivery;
  }

  opened(): void {
    this.#iterators++;
  }

  /** Ends the pending `next()` calls of a returned iterator; gives back what nobody waits for now. */
  forget(iterator: SqliteIterator<T>): void {
    this.#iterators--;
    const waiters = this.#drainWaiters();
    for (const waiter of waiters) {
      if (waiter.iterator === iterator) waiter.resolve(DONE);
      else this.#waiters.push(waiter);
    }
    if (this.#waiters.size === 0) this.#releaseReady();
  }

  // --- Claimer (called by the store) ---

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
    else this.#sleep(this.store.nextDue(this.queue));
  }

  claimFailed(): void {
    this.#claiming = false;
    if (!this.#closed && this.#waiters.size > 0) this.#sleep(undefined); // resume by itself later
  }

  wake(): void {
    if (!this.#closed && this.#waiters.size > 0) this.#claim();
  }

  // --- settling (called by deliveries) ---

  ack(delivery: ClaimedDelivery<T>): Promise<void> {
    this.#settle(delivery);
    this.#anticipate();
    return this.store.write({ kind: 'ack', id: delivery.rowId, attempt: delivery.attempt });
  }

  nack(delivery: ClaimedDelivery<T>, options: NackOptions): Promise<void> {
    this.#settle(delivery);
    this.#anticipate();
    const { maxAttempts, backoff } = this.options;
    const spent = delivery.attempt >= maxAttempts;
    if (options.requeue === false || (options.requeue !== true && spent)) {
      return this.#bury(delivery.rowId, delivery.attempt, reasonOf(options, delivery.attempt), null);
    }
    const delay = options.delay ?? (options.requeue ? 0 : backoffDelay(backoff, delivery.attempt));
    const { rowId: id, attempt } = delivery;
    return this.store.write({ kind: 'retry', queue: this.queue, id, attempt, runAt: Date.now() + delay });
  }

  /**
   * Stops claiming, ends waiting `next()` calls, gives back what was not handed out, then waits up to
   * `closeTimeout` for handed-out deliveries to settle and gives back those that did not.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.store.cancelClaim(this);
    this.store.unsubscribe(this);
    for (const waiter of this.#drainWaiters()) waiter.resolve(DONE);
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
      writes.push(this.store.write({ kind: 'retry', queue: this.queue, id, attempt, runAt: 0 }));
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
    this.store.requestClaim(this);
  }

  #sleep(due: number | undefined): void {
    const { pollInterval } = this.options;
    const wait = due === undefined ? pollInterval : Math.min(pollInterval, Math.max(0, due - Date.now()));
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#claim(), wait);
  }

  #admit(row: ClaimedRow): void {
    let envelope: ReceivedEnvelope;
    try {
      envelope = decodeEnvelope(row.body);
    } catch (error) {
      const body = JSON.stringify(wrapUndecodable(row.body));
      void this.#bury(row.id, row.attempt, (error as Error).message, body).catch(() => {});
      return;
    }
    const id = envelope.id ?? String(row.id);
    const make = (checked: Checked<T>): void => {
      if (!checked.ok) {
        void this.#bury(row.id, row.attempt, checked.reason, null).catch(() => {});
        return;
      }
      const reason = row.reason ?? undefined;
      this.#handOut(new ClaimedDelivery(this, row.id, id, row.attempt, checked.message, reason));
    };
    const checked = checkPayload(this.options.check, envelope.payload);
    if (!(checked instanceof Promise)) {
      make(checked);
      return;
    }
    this.#checking++;
    void checked.then((result) => {
      this.#checking--;
      make(result);
      this.#settledCheck();
      if (this.#unmet()) this.#claim(); // it was dead-lettered: its waiter still needs a message
    });
  }

  #handOut(delivery: ClaimedDelivery<T>): void {
    if (this.#closed) {
      this.#release(delivery);
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter === undefined) {
      this.#ready.push(delivery);
      this.#readyTimer ??= setTimeout(this.#releaseReady, this.#holdReady);
      return;
    }
    this.#inFlight.add(delivery);
    waiter.resolve({ value: delivery, done: false });
  }

  /** Whether waiting `next()` calls outnumber the deliveries on their way to them. */
  #unmet(): boolean {
    return !this.#closed && this.#waiters.size > this.#ready.size + this.#checking;
  }

  #settle(delivery: ClaimedDelivery<T>): void {
    this.#inFlight.delete(delivery);
    this.#settledCheck();
  }

  #settledCheck(): void {
    if (this.#inFlight.size === 0 && this.#checking === 0) this.#onSettled?.();
  }

  #bury(id: number, attempt: number, reason: string, body: string | null): Promise<void> {
    const { deadLetter } = this.options;
    return this.store.write({ kind: 'bury', deadLetter, id, attempt, reason, body });
  }

  readonly #releaseReady = (): void => {
    clearTimeout(this.#readyTimer);
    this.#readyTimer = undefined;
    for (let d = this.#ready.shift(); d !== undefined; d = this.#ready.shift()) this.#release(d);
  };

  /** Gives back a message that was claimed but never handed out: that claim is not an attempt. */
  #release(delivery: ClaimedDelivery<T>): void {
    delivery.takeBack();
    const { rowId: id, attempt } = delivery;
    void this.store.write({ kind: 'release', queue: this.queue, id, attempt }).catch(() => {});
  }

  #drainWaiters(): Waiter<T>[] {
    const waiters: Waiter<T>[] = [];
    for (let w = this.#waiters.shift(); w !== undefined; w = this.#waiters.shift()) waiters.push(w);
    return waiters;
  }
}

/** A class, not an async generator: several `next()` may be pending and `return()` ends them. */
export class SqliteIterator<T> implements AsyncIterator<SqliteDelivery<T>> {
  returned = false;

  constructor(private readonly core: ConsumerCore<T>) {
    core.opened();
  }

  next(): Promise<IteratorResult<SqliteDelivery<T>>> {
    return this.core.next(this);
  }

  return(): Promise<IteratorResult<SqliteDelivery<T>>> {
    if (this.returned) return DONE_PROMISE;
    this.returned = true;
    this.core.forget(this);
    return DONE_PROMISE;
  }
}

function reasonOf(options: NackOptions, attempt: number): string {
  const { error, requeue } = options;
  if (error !== undefined) return error instanceof Error ? error.message : String(error);
  return requeue === false ? 'rejected with nack({ requeue: false })' : `failed ${attempt} attempts`;
}

type Checked<T> = { ok: true; message: T } | { ok: false; reason: string };

/** Runs the schema check without throwing: a failure carries the dead-letter reason. */
function checkPayload<T>(
  check: MessageCheck<T> | undefined,
  payload: unknown,
): Checked<T> | Promise<Checked<T>> {
  if (check === undefined) return { ok: true, message: payload as T };
  try {
    const message = check(payload);
    return message instanceof Promise ? message.then(passed, failed) : passed(message);
  } catch (error) {
    return failed(error);
  }
}

function passed<T>(message: T): Checked<T> {
  return { ok: true, message };
}

function failed(error: unknown): { ok: false; reason: string } {
  return { ok: false, reason: `invalid message: ${error instanceof Error ? error.message : String(error)}` };
}
