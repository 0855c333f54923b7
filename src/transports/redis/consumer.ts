import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { SluiceError } from '../../errors.js';
import { limitsFlow } from '../../queuing/flow-options.js';
import { PriorityHeap } from '../../queuing/memory/buffers.js';
import { DONE_PROMISE, RESOLVED } from '../../queuing/settled.js';
import type { FlowLimits, NackOptions } from '../../queuing/types.js';
import { atMost } from '../shared/at-most.js';
import type { DeliveryOwner } from '../shared/delivery.js';
import { HandedOut } from '../shared/handed-out.js';
import { BrokerIterator, type IteratorOwner, Waiters } from '../shared/iterator.js';
import { nackOutcome } from '../shared/retry-policy.js';
import { UnderWay } from '../shared/under-way.js';
import { AckBatcher } from './acker.js';
import { EntryAdmission } from './admission.js';
import type { Connection } from './connection.js';
import type { RedisDelivery } from './delivery.js';
import { failure, isAccessRefused } from './errors.js';
import { FetchLoop } from './fetch-loop.js';
import type { FetchTarget } from './fetch-target.js';
import { streamKey, wakeKey } from './keys.js';
import { Lease } from './lease.js';
import type { ResolvedOptions } from './options.js';
import { PauseState } from './pause-state.js';
import { deadLetterCall, retryCall } from './settle-calls.js';

/**
 * The consuming side of one queue handle, shared by its iterators: fetches (fetch-loop.ts) while
 * someone waits, holds what it fetched under a lease (lease.ts), settles deliveries.
 *
 * Close: waiters end, the buffer is released as is, handed-out deliveries get `closeTimeout` to
 * settle and are then released with attempt + 1. The last iterator returning releases the buffer
 * too: a stopped pump leaves nothing held while the handle stays open.
 */
export class RedisConsumer<T>
  implements DeliveryOwner<RedisDelivery<T>>, IteratorOwner<RedisDelivery<T>>, FetchTarget<T>
{
  readonly name: string;
  readonly #options: ResolvedOptions<T>;
  readonly #connection: Connection;
  /** The queue's stream and the dead-letter queue's. */
  readonly #stream: string;
  readonly #deadLetterStream: string;
  readonly #acks: AckBatcher;
  readonly #fetcher: FetchLoop<T>;
  readonly #lease: Lease;
  /** Fetched, not handed out: by priority, then fetch order (a later round may bring higher ones). */
  readonly #buffer = new PriorityHeap<RedisDelivery<T>>();
  /** Priority-0 deliveries fetched while higher priorities were left in Redis: handed out after those. */
  #parked: RedisDelivery<T>[] = [];
  readonly #waiters = new Waiters<RedisDelivery<T>>();
  /**
   * Fetched and not settled, handed out or not: what the lease claims as this handle's. Kept
   * besides `#handedOut` (what close waits for) since the lease must also keep the buffered ones.
   */
  readonly #held = new Set<RedisDelivery<T>>();
  readonly #handedOut = new HandedOut<RedisDelivery<T>>();
  readonly #settling = new UnderWay();
  /** Nothing is handed out unless a fetch round found the queue running lately. */
  readonly #pause = new PauseState();
  #seq = 0;
  #iterators = 0;
  #closed = false;

  constructor(name: string, options: ResolvedOptions<T>, connection: Connection) {
    this.name = name;
    this.#options = options;
    this.#connection = connection;
    const stream = streamKey(name);
    const deadLetter = streamKey(options.deadLetter);
    this.#stream = stream;
    this.#deadLetterStream = deadLetter;
    const consumer = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.#acks = new AckBatcher(connection, stream, name);
    const admission = new EntryAdmission<T>(
      this,
      options.check,
      // Should this fail, the entry's lease runs out and it is admitted (and dead-lettered) again.
      (band, entryId, reason, body) => this.#deadLetter(band, entryId, reason, body).catch(() => {}),
    );
    const source = { connection, stream, wake: wakeKey(name), name, consumer };
    this.#fetcher = new FetchLoop(source, this, admission);
    const { visibilityTimeout, maxAttempts } = options;
    const terms = { connection, stream, deadLetter, consumer, visibilityTimeout, maxAttempts };
    this.#lease = new Lease(terms, this.#held);
  }

  get closed(): boolean {
    return this.#closed;
  }

  get waiting(): number {
    return this.#waiters.size;
  }

  get iterating(): boolean {
    return this.#iterators > 0;
  }

  get buffered(): number {
    return this.#buffer.size;
  }

  get parked(): number {
    return this.#parked.length;
  }

  iterator(): BrokerIterator<RedisDelivery<T>> {
    this.#iterators++;
    return new BrokerIterator(this);
  }

  next(iterator: BrokerIterator<RedisDelivery<T>>): Promise<IteratorResult<RedisDelivery<T>>> {
    if (this.#closed) return DONE_PROMISE;
    const delivery = this.take();
    if (delivery !== undefined) return Promise.resolve({ value: delivery, done: false });
    const waiting = this.#waiters.wait(iterator);
    this.#fetcher.pull();
    return waiting;
  }

  /**
   * A buffered delivery, synchronously (the pump's fast path); refills the buffer when it runs low.
   * None while the queue is paused or not known to be running lately: a fetch round finds out.
   */
  take(): RedisDelivery<T> | undefined {
    if (this.#closed) return undefined;
    if (!this.#pause.running) {
      this.#fetcher.pull();
      return undefined;
    }
    const delivery = this.#buffer.shift();
    this.#fetcher.pull(); // when the buffer runs low
    if (delivery !== undefined) {
      this.#fetcher.handed++;
      this.#handedOut.add(delivery);
    }
    return delivery;
  }

  /** Limits from the next fetch round on (fetch-loop.ts), for every iterator: the last given wins. */
  flow(limits: FlowLimits): void {
    this.#fetcher.flow(limitsFlow(limits) ? limits : undefined);
  }

  /**
   * An iterator was returned: its pending `next()` calls end. With the last one the buffer goes
   * back, and the limits with it (a later iteration sets its own), else its deliveries stay held
   * (and leased) for as long as the handle lives.
   */
  returned(iterator: BrokerIterator<RedisDelivery<T>>): void {
    this.#iterators--;
    this.#waiters.end(iterator);
    if (this.#iterators > 0) return;
    this.#releaseBuffer();
    this.#fetcher.flow(undefined);
  }

  receive(delivery: RedisDelivery<T>, park: boolean): void {
    delivery.seq = this.#seq++;
    this.#held.add(delivery);
    if (park) this.#parked.push(delivery);
    else this.#place(delivery);
  }

  failed(error: SluiceError): void {
    this.#waiters.end(undefined, error);
  }

  pauseChecked(paused: boolean, at: number): void {
    this.#pause.checked(paused, at);
    // Fetched, not handed out: back to Redis (as they were) for whichever consumer runs after resume.
    if (paused) {
      this.#releaseBuffer();
      return;
    }
    while (this.#waiters.size > 0) {
      const delivery = this.#buffer.shift();
      if (delivery === undefined) return;
      this.#handOut(delivery);
    }
  }

  unpark(): number {
    const parked = this.#parked;
    if (parked.length === 0) return 0;
    this.#parked = [];
    for (const delivery of parked) this.#place(delivery);
    return parked.length;
  }

  #place(delivery: RedisDelivery<T>): void {
    // Fetched as the handle closed, its last iterator returned or the queue was paused: nobody will take it.
    if (this.#closed || this.#iterators === 0 || this.#pause.paused)
      this.#release(delivery, delivery.attempt);
    else if (this.#waiters.size === 0 || !this.#pause.running) this.#buffer.push(delivery);
    else this.#handOut(delivery);
  }

  #handOut(delivery: RedisDelivery<T>): void {
    this.#fetcher.handed++;
    this.#handedOut.add(delivery);
    this.#waiters.hand(delivery);
  }

  /**
   * Resolves at once: the acks of one tick go to Redis together, and close() waits for them. An ack
   * that never reaches Redis means a redelivery after the visibility timeout, never a loss, so the
   * pump need not wait a round trip per message (as with AMQP and JetStream acks).
   */
  ack(delivery: RedisDelivery<T>): Promise<void> {
    this.#forget(delivery);
    this.#acks.ack(delivery).catch(() => {});
    return RESOLVED;
  }

  /**
   * Resolves once Redis applied the nack, or once it could not (as an ack, see `#settled`). Throws
   * before forgetting the delivery when the policy refuses the options: it stays held and leased.
   */
  nack(delivery: RedisDelivery<T>, options: NackOptions): Promise<void> {
    const { attempt, band, entryId } = delivery;
    const outcome = nackOutcome(options, attempt, this.#options);
    this.#forget(delivery);
    if (outcome.deadLetter !== undefined) return this.#deadLetter(band, entryId, outcome.deadLetter);
    return this.#retry(band, entryId, outcome.retryAfter, attempt + 1);
  }

  /**
   * Each wait is bounded by `closeTimeout`, so a Redis that cannot be reached does not hold it up:
   * the fetch in flight and the handed-out deliveries share one such window from the call on, the
   * writes of the releases get another. What is not written by then is reclaimed after the
   * visibility timeout; what a late fetch brings is released (see receive).
   */
  async close(closeTimeout: number): Promise<void> {
    const settleBy = performance.now() + closeTimeout;
    this.#closed = true;
    this.#pause.stop();
    this.#waiters.end();
    await atMost(this.#fetcher.stop(), settleBy - performance.now());
    this.#releaseBuffer();
    const unsettled = await this.#handedOut.settleWithin(settleBy - performance.now());
    for (const delivery of unsettled) this.#putBack(delivery, delivery.attempt + 1);
    this.#lease.stop();
    await atMost(Promise.allSettled([this.#acks.drain(), this.#settling.ended()]), closeTimeout);
  }

  #retry(band: string, entryId: string, delay: number, attempt: number): Promise<void> {
    const retried = retryCall(this.#connection.client, this.#stream, { band, entryId }, delay, attempt);
    return this.#settled(retried, `nack on queue ${this.name}`);
  }

  #deadLetter(band: string, entryId: string, reason: string, body?: string): Promise<void> {
    const streams: [string, string] = [this.#stream, this.#deadLetterStream];
    const written = deadLetterCall(this.#connection.client, streams, { band, entryId }, reason, body);
    return this.#settled(written, `dead-letter on queue ${this.name}`);
  }

  /**
   * A settle write that failed (Redis unreachable past ioredis' replay after reconnecting) is not an
   * error of the delivery's handler: rejecting would stop a pump, whatever its `failSilently`. The
   * entry stays pending without a heartbeat, so the lease of any handle puts it back (or
   * dead-letters it after its last attempt) once its visibility timeout ran out, as after a lost ack.
   * Only Redis refusing the queue's user rejects: no retry fixes that.
   */
  #settled(written: Promise<number>, operation: string): Promise<void> {
    return this.#settling.add(
      written.then(
        () => {},
        (error) => {
          if (isAccessRefused(error)) throw failure(operation, error);
        },
      ),
    );
  }

  /** Prefetched deliveries go back as they were: never handed out, they were no attempt. */
  #releaseBuffer(): void {
    for (let d = this.#buffer.shift(); d !== undefined; d = this.#buffer.shift()) this.#release(d, d.attempt);
    for (const d of this.#parked.splice(0)) this.#release(d, d.attempt);
  }

  /** Puts a delivery this handle will not finish back as ready; at worst it is reclaimed later. */
  #release(delivery: RedisDelivery<T>, attempt: number): void {
    if (delivery.takeBack()) this.#putBack(delivery, attempt);
  }

  /** `#release` of a delivery already taken back. */
  #putBack(delivery: RedisDelivery<T>, attempt: number): void {
    this.#forget(delivery);
    this.#retry(delivery.band, delivery.entryId, 0, attempt).catch(() => {});
  }

  #forget(delivery: RedisDelivery<T>): void {
    this.#held.delete(delivery);
    this.#handedOut.delete(delivery);
  }
}
