import type { SluiceError } from '../../errors.js';
import { limitsFlow } from '../../queuing/flow-options.js';
import { Fifo } from '../../queuing/memory/buffers.js';
import { DONE_PROMISE, RESOLVED } from '../../queuing/settled.js';
import type { FlowLimits, NackOptions } from '../../queuing/types.js';
import { admit } from '../shared/admit.js';
import type { DeliveryOwner } from '../shared/delivery.js';
import { HandedOut } from '../shared/handed-out.js';
import { BrokerIterator, type IteratorOwner, Waiters } from '../shared/iterator.js';
import { unsettledReason } from '../shared/reasons.js';
import { UnderWay } from '../shared/under-way.js';
import { type ClaimDemand, type ClaimedRow, ClaimLoop } from './claim-loop.js';
import type { Connection } from './connection.js';
import { PostgresDelivery } from './delivery.js';
import { isTransient } from './errors.js';
import type { ResolvedOptions } from './options.js';
import type { Settler } from './settler.js';

type Iterator<T> = BrokerIterator<PostgresDelivery<T>>;

/** How far the buffer's target grows past `prefetch` while consumers outrun the claims (see #adapt). */
const GROWTH = 16;
const GROUPED_GROWTH = 4;

/**
 * The consuming side of one queue handle, shared by all its iterators. Claimed rows (see ClaimLoop)
 * go straight to waiting `next()` calls, the rest into a prefetch buffer refilled when it falls below
 * half of its target size. Under flow limits the claims apply them in the database (flow-claim.ts);
 * under a rate limit nothing is claimed ahead, only for the `next()` calls waiting.
 */
export class PostgresConsumer<T>
  implements DeliveryOwner<PostgresDelivery<T>>, IteratorOwner<PostgresDelivery<T>>, ClaimDemand
{
  readonly name: string;
  readonly #options: ResolvedOptions<T>;
  readonly #settler: Settler;
  readonly #claims: ClaimLoop;
  readonly #buffer = new Fifo<PostgresDelivery<T>>();
  /** Rows to keep buffered: `prefetch`, doubled while consumers outrun the claims (see #adapt). */
  #target: number;
  readonly #waiters = new Waiters<PostgresDelivery<T>>();
  /** Handed out and not yet settled (or nacked and still being written): `close()` waits for them. */
  readonly #handedOut = new HandedOut<PostgresDelivery<T>>();
  #iterators = 0;
  #closed = false;
  /** The queue's pause row, as last read (see ClaimLoop.checkPause): nothing is handed out meanwhile. */
  #paused = false;
  /** Writes nobody waits for (dead-lettering, giving back the buffer), except `close()`. */
  readonly #writes = new UnderWay();
  /** The limits given last by any iterator (see `flow`), or undefined while none applies. */
  #limits: FlowLimits | undefined;

  constructor(options: ResolvedOptions<T>, connection: Connection, settler: Settler) {
    this.name = options.name;
    this.#options = options;
    this.#settler = settler;
    this.#target = options.prefetch;
    this.#claims = new ClaimLoop(options, connection, this);
  }

  iterator(): Iterator<T> {
    this.#iterators++;
    return new BrokerIterator(this);
  }

  /** A prefetched delivery, if one is buffered; Pump calls this to skip `next()` when it can. */
  take(): PostgresDelivery<T> | undefined {
    if (this.#closed || this.#paused) return undefined; // what is buffered goes back to the table
    const delivery = this.#buffer.shift();
    if (delivery === undefined) return undefined;
    if (performance.now() - delivery.claimedAt > this.#options.visibilityTimeout / 2) {
      // Consumers slowed down since this was claimed: rather than hand out a row whose lease may run
      // out mid-processing (and be claimed again elsewhere), give back everything buffered.
      this.#writes.add(this.#releaseBuffer(delivery));
      return undefined;
    }
    this.#handedOut.add(delivery);
    if (this.#buffer.size < this.#target >> 1) this.#claims.pull();
    return delivery;
  }

  next(iterator: Iterator<T>): Promise<IteratorResult<PostgresDelivery<T>>> {
    if (this.#closed) return DONE_PROMISE;
    const delivery = this.take();
    if (delivery !== undefined) return Promise.resolve({ value: delivery, done: false });
    const waiting = this.#waiters.wait(iterator);
    this.#claims.pull();
    return waiting;
  }

  /** From the next claim on, claims apply `limits`, whichever iterator gave them. */
  flow(limits: FlowLimits): void {
    this.#limits = limitsFlow(limits) ? limits : undefined;
    this.#claims.limitsChanged();
  }

  limits(): FlowLimits | undefined {
    return this.#limits;
  }

  /** An iterator was returned: its pending `next()` calls end, and with the last one the buffer goes back. */
  returned(iterator: Iterator<T>): void {
    this.#waiters.end(iterator);
    this.#iterators--;
    if (this.#iterators === 0) this.#writes.add(this.#releaseBuffer());
  }

  /** Under a group cap, acks notify: a consumer waiting for the group's slot claims at once. */
  ack(delivery: PostgresDelivery<T>): Promise<void> {
    this.#settler.ack(delivery, this.#limits?.groupConcurrency !== undefined);
    this.#handedOut.delete(delivery);
    return RESOLVED;
  }

  /**
   * A nack lost with the connection is handled as a lost ack is: the row stays leased and comes back
   * when its lease ends (this delivery counted as an attempt), and the consumer carries on. Only an
   * error no retry can fix rejects (a pump stops on it).
   */
  nack(delivery: PostgresDelivery<T>, options: NackOptions): Promise<void> {
    return this.#settler
      .nack(delivery, options)
      .catch(unlessTransient)
      .finally(() => this.#handedOut.delete(delivery));
  }

  /**
   * Stops claiming; pending `next()` calls end; prefetched rows go back untouched; handed-out
   * deliveries get `closeTimeout` to settle, then go back too (that delivery counted as an attempt).
   */
  async close(): Promise<void> {
    this.#closed = true;
    const stopped = this.#claims.close();
    this.#waiters.end();
    await stopped;
    await this.#releaseBuffer();
    const unsettled = await this.#handedOut.settleWithin(this.#options.closeTimeout);
    await Promise.all(unsettled.map((delivery) => this.#settler.retry(delivery, 0).catch(() => {})));
    await this.#writes.ended();
  }

  wanted(): number {
    if (this.#paused) return 0;
    const waiting = this.#waiters.size;
    if (this.#limits?.rateLimit !== undefined) return waiting;
    if (waiting === 0 && (this.#iterators === 0 || this.#buffer.size >= this.#target >> 1)) return 0;
    return waiting + this.#target - this.#buffer.size;
  }

  waiting(): boolean {
    return this.#waiters.size > 0;
  }

  failed(error: SluiceError): void {
    this.#waiters.end(undefined, error);
  }

  /** Paused: what is buffered goes back to the table. Resumed: the waiting `next()` calls are served. */
  paused(paused: boolean): void {
    if (paused === this.#paused) return;
    this.#paused = paused;
    if (paused) {
      this.#writes.add(this.#releaseBuffer());
      return;
    }
    while (this.#waiters.size > 0) {
      const delivery = this.take();
      if (delivery === undefined) break;
      this.#waiters.hand(delivery);
    }
  }

  /** Admits each claimed row (decode, schema): handed out or buffered, else dead-lettered. */
  async accept(rows: ClaimedRow[], limit: number): Promise<void> {
    this.#adapt(rows.length === limit);
    const late: PostgresDelivery<T>[] = [];
    const claimedAt = performance.now();
    const { check, maxAttempts } = this.#options;
    for (const row of rows) {
      if (row.lease_expired && row.attempt > maxAttempts) {
        // Its last attempt's consumer died or stalled: handing it out again would hold its key for ever.
        this.#deadLetter(row, unsettledReason(row.attempt - 1, maxAttempts));
        continue;
      }
      let admission = admit<T>(row.body, check, row.id);
      if (admission instanceof Promise) admission = await admission;
      if (!admission.admitted) {
        this.#deadLetter(row, admission.reason, admission.replacement);
        continue;
      }
      const { envelope } = admission;
      const delivery = new PostgresDelivery<T>(
        this,
        admission.message,
        row.attempt,
        envelope.id,
        envelope.headers,
        row.reason ?? undefined,
        row.id,
        row.ready_at,
        claimedAt,
        envelope.group,
      );
      // Claimed as the handle closed or its last iterator returned: nobody will take it.
      if (this.#closed || this.#iterators === 0) late.push(delivery);
      else if (!this.#paused && this.#waiters.hand(delivery)) this.#handedOut.add(delivery);
      else this.#buffer.push(delivery);
    }
    if (late.length > 0) await this.#settler.release(late).catch(() => {});
    // Claimed while this consumer read the queue as paused: held until the pause row is read again.
    if (this.#paused && rows.length > 0) void this.#claims.checkPause();
  }

  /**
   * A claim costs a round trip whatever its size. Consumers still waiting when a full claim comes
   * back emptied the buffer faster than claims refill it: claim twice as many next time (up to
   * GROWTH× `prefetch`, GROUPED_GROWTH× under a group cap, since rows buffered hold their group's
   * slots that other consumers could use). Once the queue runs dry, or its groups at their cap leave
   * a claim short, the buffer goes back to `prefetch`, so slow consumers never hold more than that.
   * Nor under a rate limit, which claims only for the `next()` calls waiting.
   */
  #adapt(full: boolean): void {
    const { prefetch } = this.#options;
    const growth = this.#limits === undefined ? GROWTH : GROUPED_GROWTH;
    if (!full || this.#limits?.rateLimit !== undefined) this.#target = prefetch;
    else if (this.#waiters.size > 0) this.#target = Math.min(this.#target * 2, prefetch * growth);
  }

  /** `replacement` (see admit) is stored instead of the row's body. */
  #deadLetter(row: ClaimedRow, reason: string, replacement?: string): void {
    const claim = { rowId: row.id, attempt: row.attempt, readyAt: row.ready_at };
    // Should this fail, the lease runs out and the row is decoded (and dead-lettered) again.
    this.#writes.add(this.#settler.deadLetter(claim, reason, replacement).catch(() => {}));
  }

  async #releaseBuffer(...prefetched: PostgresDelivery<T>[]): Promise<void> {
    for (let d = this.#buffer.shift(); d !== undefined; d = this.#buffer.shift()) prefetched.push(d);
    // Should this fail, the leases run out and the rows are claimed again (one more attempt).
    await this.#settler.release(prefetched).catch(() => {});
  }
}

function unlessTransient(error: unknown): void {
  if (!isTransient(error)) throw error;
}
