import type { Msg } from '@nats-io/transport-node';
import { BrokerUnavailableError } from '../../errors.js';
import { DONE_PROMISE, RESOLVED } from '../../queuing/settled.js';
import type { FlowLimits, NackOptions } from '../../queuing/types.js';
import type { DeliveryOwner } from '../shared/delivery.js';
import { HandedOut } from '../shared/handed-out.js';
import { BrokerIterator, type IteratorOwner, Waiters } from '../shared/iterator.js';
import { nackOutcome } from '../shared/retry-policy.js';
import type { UnderWay } from '../shared/under-way.js';
import { ACK, NAK, nakWithDelay, respond } from './ack-protocol.js';
import { type Admitted, NatsAdmission } from './admission.js';
import { type Band, Bands } from './bands.js';
import { PauseWatch } from './control.js';
import { DeadLetters } from './dead-letter.js';
import { DelayedMover } from './delayed.js';
import type { NatsDelivery } from './delivery.js';
import { FetchRun } from './fetch-run.js';
import { FlowControl } from './flow.js';
import { inOrder } from './in-order.js';
import { streamName } from './names.js';
import type { ResolvedOptions } from './options.js';
import { putBack } from './put-back.js';
import type { RunOwner } from './run-owner.js';
import type { LazySession, Session } from './session.js';

/**
 * The consuming side of a NatsQueue: pulls its bands (see FetchRun) into local buffers, hands
 * deliveries out highest band first (see Bands; once a group exists or `flow()` sets a limit,
 * flow.ts hands out), and settles them on their JetStream ack subjects.
 * - Every unsettled message it holds gets a `+WPI` heartbeat every visibilityTimeout / 3 or so.
 * - A topology it cannot use (NatsTopologyError) rejects the pending `next()` calls, and those made
 *   until the failed run wound down; a later `next()` looks again.
 * - Acks are not confirmed by the server, like the raw client's: one lost means a redelivery.
 * - While its queue is paused (control.ts) it pulls and hands out nothing, holding what it has.
 */
export class NatsConsumer<T>
  implements
    DeliveryOwner<NatsDelivery<T>>,
    IteratorOwner<NatsDelivery<T>>,
    RunOwner<NatsDelivery<T>, FetchRun<NatsDelivery<T>>>
{
  readonly name: string;
  readonly stream: string;
  readonly prefetch: number;
  readonly bands = new Bands<NatsDelivery<T>>();
  readonly flowControl: FlowControl<NatsDelivery<T>>;
  readonly #options: ResolvedOptions<T>;
  readonly #session: LazySession;
  readonly #admission: NatsAdmission<T>;
  readonly #deadLetters: DeadLetters;
  readonly #mover: DelayedMover;
  readonly #pause: PauseWatch;
  readonly #busy: UnderWay;
  readonly #waiters = new Waiters<NatsDelivery<T>>();
  /** Received and not settled, buffered or handed out (HandedOut cannot be walked): what is heartbeated. */
  readonly #held = new Set<NatsDelivery<T>>();
  readonly #handedOut = new HandedOut<NatsDelivery<T>>();
  readonly #iterators = new Set<BrokerIterator<NatsDelivery<T>>>();
  #run: FetchRun<NatsDelivery<T>> | undefined;
  closed = false;
  #tick: NodeJS.Timeout | undefined;
  #lastBeat = Date.now();

  constructor(name: string, options: ResolvedOptions<T>, session: LazySession, busy: UnderWay) {
    this.name = name;
    this.stream = streamName(name);
    this.prefetch = options.prefetch;
    this.#options = options;
    this.#session = session;
    this.#deadLetters = new DeadLetters(options.deadLetter, session, busy);
    this.#admission = new NatsAdmission(this, this.stream, options.check, this.#deadLetters);
    this.#mover = new DelayedMover(name, this.stream, session, busy, this.#deadLetters);
    this.#pause = new PauseWatch(name, (paused) => this.#pauseChanged(paused));
    this.#busy = busy;
    this.flowControl = new FlowControl(this, options.visibilityTimeout);
  }

  get paused(): boolean {
    return this.#pause.paused;
  }

  get run(): FetchRun<NatsDelivery<T>> | undefined {
    return this.#run;
  }

  get waiting(): number {
    return this.#waiters.size;
  }

  iterator(): BrokerIterator<NatsDelivery<T>> {
    const iterator = new BrokerIterator<NatsDelivery<T>>(this);
    if (!this.closed) {
      this.#iterators.add(iterator);
      this.#ensureRunning();
    }
    return iterator;
  }

  next(iterator: BrokerIterator<NatsDelivery<T>>): Promise<IteratorResult<NatsDelivery<T>>> {
    if (this.closed || !this.#iterators.has(iterator)) return DONE_PROMISE;
    const delivery = this.take();
    if (delivery !== undefined) return Promise.resolve({ value: delivery, done: false });
    if (this.#run?.failure !== undefined) return Promise.reject(this.#run.failure);
    this.#ensureRunning();
    const waiting = this.#waiters.wait(iterator);
    if (this.flowControl.active) this.flowControl.serve();
    return waiting;
  }

  flow(limits: FlowLimits): void {
    this.flowControl.setLimits(limits);
  }

  /** The iterator was returned: its pending `next()` calls end; the last one out winds the run down. */
  returned(iterator: BrokerIterator<NatsDelivery<T>>): void {
    if (!this.#iterators.delete(iterator)) return;
    this.#waiters.end(iterator);
    if (this.#iterators.size === 0) this.#run?.windDown();
  }

  /** A buffered delivery, synchronously, when nobody is waiting before the caller. */
  take(): NatsDelivery<T> | undefined {
    if (this.closed) return undefined; // what is buffered goes back to the stream
    return this.#waiters.size === 0 && this.bands.primed && !this.#pause.paused ? this.#pick() : undefined;
  }

  ack(delivery: NatsDelivery<T>): Promise<void> {
    return this.#answer(delivery, ACK);
  }

  nack(delivery: NatsDelivery<T>, options: NackOptions): Promise<void> {
    const { retryAfter, deadLetter } = nackOutcome(options, delivery.attempt, this.#options);
    if (deadLetter === undefined) {
      this.flowControl.retry(delivery, retryAfter);
      return this.#answer(delivery, retryAfter > 0 ? nakWithDelay(retryAfter) : NAK);
    }
    this.#forget(delivery);
    return this.#deadLetters.nacked(delivery, deadLetter);
  }

  /** Puts a delivery a run fetched but did not hand out back on the stream now (see putBack). */
  release(delivery: NatsDelivery<T>): void {
    if (!delivery.takeBack()) return;
    this.#forget(delivery);
    this.putBack(delivery.raw);
  }

  putBack(raw: Msg): void {
    putBack(this.#session, this.#busy, this.name, raw);
  }

  /**
   * Stops fetching for good: pending `next()` calls end, buffered messages go back, handed-out
   * deliveries may still be settled for `closeTimeout` ms, then they go back too.
   */
  async close(): Promise<void> {
    const deadline = Date.now() + this.#options.closeTimeout;
    this.closed = true;
    this.#iterators.clear();
    this.#waiters.end();
    const run = this.#run;
    if (run !== undefined) {
      run.windDown();
      await run.ended;
    }
    // The run put back what was buffered: what is left was handed out.
    for (const delivery of await this.#handedOut.settleWithin(deadline - Date.now())) {
      this.#forget(delivery);
      respond(delivery.raw, NAK);
    }
    clearInterval(this.#tick);
    this.#pause.stop();
    this.flowControl.stop();
  }

  /** The session, once this consumer knows whether its queue is paused on it. */
  async session(): Promise<Session> {
    const session = await this.#session.get();
    await this.#pause.follow(session.connection);
    this.flowControl.follow(session.connection);
    return session;
  }

  received(run: FetchRun<NatsDelivery<T>>, band: Band<NatsDelivery<T>>, msg: Msg, attempt: number): void {
    const admitted = this.#admission.admit(msg, band.priority, attempt);
    inOrder(band, admitted, (delivery) => delivery && this.#buffer(run, band, delivery));
  }

  schedule(msg: Msg): void {
    this.#mover.schedule(msg);
  }

  /** Hands buffered deliveries to waiting `next()` calls (once every band is primed). */
  serve(): void {
    if (this.flowControl.active) {
      this.flowControl.serve();
      return;
    }
    if (this.#pause.paused) return;
    while (this.#waiters.size > 0) {
      const delivery = this.#pick();
      if (delivery === undefined) return;
      this.#waiters.hand(delivery);
    }
  }

  failed(run: FetchRun<NatsDelivery<T>>, error: unknown): void {
    run.failure = error;
    this.#waiters.end(undefined, error);
    run.windDown();
  }

  ended(run: FetchRun<NatsDelivery<T>>): void {
    this.flowControl.ended();
    if (this.#run === run) this.#run = undefined;
  }

  admit(msg: Msg, priority: number, attempt: number): Admitted<T> {
    return this.#admission.admit(msg, priority, attempt);
  }

  hand(delivery: NatsDelivery<T>): boolean {
    if (!this.#waiters.hand(delivery)) return false;
    this.#handedOut.add(delivery);
    return true;
  }

  hold(delivery: NatsDelivery<T>): void {
    this.#held.add(delivery);
  }

  #ensureRunning(): void {
    if (this.closed || this.#iterators.size === 0) return;
    const current = this.#run;
    if (current !== undefined) {
      if (current.winding && current.failure === undefined) current.revive();
      return;
    }
    const run = new FetchRun<NatsDelivery<T>>(this);
    this.#run = run;
    const every = Math.min(this.#options.visibilityTimeout / 2, 1_000);
    this.#tick ??= setInterval(() => this.#onTick(), every);
    this.#tick.unref();
    void run.start();
  }

  /** Resumed: pull again now, and hand out what was held meanwhile. */
  #pauseChanged(paused: boolean): void {
    if (paused) return; // the run stops pulling: see FetchRun.pull
    this.#run?.pullAll();
    if (this.bands.primed) this.serve();
  }

  #answer(delivery: NatsDelivery<T>, answer: Uint8Array): Promise<void> {
    this.#forget(delivery);
    if (respond(delivery.raw, answer)) return RESOLVED;
    return Promise.reject(new BrokerUnavailableError('NATS', `settling a delivery from queue ${this.name}`));
  }

  /** Settled or taken back: stop heartbeating it, and close no longer waits for it. */
  #forget(delivery: NatsDelivery<T>): void {
    this.flowControl.settled(delivery);
    this.#held.delete(delivery);
    this.#handedOut.delete(delivery);
  }

  #buffer(run: FetchRun<NatsDelivery<T>>, band: Band<NatsDelivery<T>>, delivery: NatsDelivery<T>): void {
    if (run.stopped) {
      this.release(delivery);
      return;
    }
    this.#held.add(delivery);
    // Someone waits only while every buffer is empty, so once all bands are primed this is the best.
    if (this.bands.primed && !this.#pause.paused && !this.flowControl.limited && this.hand(delivery)) return;
    band.buffer.push(delivery);
    if (this.flowControl.limited) this.flowControl.serve();
  }

  /** The delivery to hand out next, counted as handed out. */
  #pick(): NatsDelivery<T> | undefined {
    const band = this.flowControl.active ? undefined : this.bands.pick();
    const delivery = band === undefined ? this.flowControl.take() : band.buffer.shift()!;
    if (delivery !== undefined) this.#handedOut.add(delivery);
    if (band !== undefined) this.#run?.pull(band);
    return delivery;
  }

  #onTick(): void {
    const now = Date.now();
    // Ticks come at most visibilityTimeout / 2 apart, so a beat every third of it is never late.
    if (now - this.#lastBeat >= this.#options.visibilityTimeout / 3) {
      this.#lastBeat = now;
      for (const delivery of this.#held) delivery.heartbeat();
      this.flowControl.renew();
    }
    this.#run?.tick(now);
    if (this.flowControl.active) this.flowControl.tick(now);
  }
}
