import type { ConsumeMessage } from 'amqplib';
import type { SluiceError } from '../../errors.js';
import { DONE_PROMISE, RESOLVED } from '../../queuing/settled.js';
import type { FlowLimits, NackOptions } from '../../queuing/types.js';
import type { DeliveryOwner } from '../shared/delivery.js';
import { HandedOut } from '../shared/handed-out.js';
import { type BrokerIterator, type IteratorOwner, Waiters } from '../shared/iterator.js';
import { UnderWay } from '../shared/under-way.js';
import { Admissions, type Admitted } from './admission.js';
import type { Connection, Session } from './connection.js';
import { Consumption } from './consumption.js';
import { AmqpDelivery } from './delivery.js';
import { refusal } from './errors.js';
import { FlowLimiter } from './flow-limiter.js';
import type { GroupRegistry } from './group-registry.js';
import type { ResolvedOptions } from './options.js';
import { watchPaused } from './pause.js';
import { Prefetched } from './prefetched.js';
import type { Publisher } from './publisher.js';
import type { Settler } from './settler.js';
import { Subscription } from './subscription.js';
import { declareQueue } from './topology.js';

/** Wait before consuming again after the broker closed only our channel (not the connection). */
const RESUBSCRIBE_DELAY = 250;

/**
 * One iteration over the queue: its own channel and broker consumer, `prefetch` messages ahead.
 *
 * States: idle → starting (first connection) → running → ended. While running it (re)subscribes on
 * every connection made, waiting out any outage; losing the channel drops what was prefetched (the
 * broker requeues it). A refusal no retry changes (AmqpAccessError, AmqpTopologyError) rejects the
 * waiting `next()` calls and leaves it idle: the next `next()` tries again.
 * Once ended (returned, or the queue closing): waiting `next()` calls resolve done, prefetched
 * messages are put back, handed-out deliveries can still be settled, and the channel closes when
 * the last of them is (or, on the queue's close, at its close timeout: see `close`).
 * While the queue is paused (pause.ts) it runs with no broker consumer, holding nothing back.
 * Under flow limits (`flow`) every hand-out takes a rate token (rate-gate.ts) and a slot of its
 * group (group-slots.ts); without them, it hands out as it always did.
 */
export class AmqpConsumer<T> implements IteratorOwner<AmqpDelivery<T>>, DeliveryOwner<AmqpDelivery<T>> {
  readonly name: string;
  readonly #prefetched = new Prefetched<AmqpDelivery<T>>((d) => this.#run(this.settler.release(d)));
  readonly #waiters = new Waiters<AmqpDelivery<T>>();
  readonly #handedOut = new HandedOut<AmqpDelivery<T>>();
  /** Settlements under way (publishing a copy, then acking): a channel closed before they end duplicates. */
  readonly #settling = new UnderWay();
  readonly #admissions: Admissions<T>;
  readonly #limiter: FlowLimiter<AmqpDelivery<T>>;
  #state: 'idle' | 'starting' | 'running' | 'ended' = 'idle';
  #subscription: Subscription | undefined;
  #consumption: Consumption | undefined;
  #unsubscribe: (() => void) | undefined;
  /** Ended, and the broker confirmed the cancel: no message arrives any more. */
  #cancelled = false;
  #cancelling: Promise<void> = RESOLVED;
  #pausing: Promise<void> = RESOLVED;
  #closed: Promise<void> | undefined;
  readonly #drained: () => void;
  /** Resolves once the consumer ended and its channel closed. */
  readonly drained: Promise<void>;

  constructor(
    private readonly options: ResolvedOptions<T>,
    private readonly connection: Connection,
    private readonly settler: Settler,
    publisher: Publisher,
    private readonly registry: GroupRegistry,
  ) {
    this.name = options.name;
    this.#admissions = new Admissions(options, settler, {
      run: (settlement) => this.#run(settlement),
      deliver: (admitted) => this.#deliver(admitted),
      checked: () => this.#finishIfIdle(),
      capped: () => this.#limiter.capped,
    });
    const held = { waiters: this.#waiters, prefetched: this.#prefetched, handedOut: this.#handedOut };
    this.#limiter = new FlowLimiter(connection, publisher, this.name, held);
    let drained!: () => void;
    this.drained = new Promise((resolve) => {
      drained = resolve;
    });
    this.#drained = drained;
  }

  next(iterator: BrokerIterator<AmqpDelivery<T>>): Promise<IteratorResult<AmqpDelivery<T>>> {
    if (this.#state === 'ended') return DONE_PROMISE;
    if (this.#state === 'idle') this.#start();
    if (this.#limiter.limited) {
      const waiting = this.#waiters.wait(iterator);
      this.#limiter.dispatch();
      return waiting;
    }
    const delivery = this.#prefetched.take();
    if (delivery !== undefined) {
      this.#handedOut.add(delivery);
      return Promise.resolve({ value: delivery, done: false });
    }
    return this.#waiters.wait(iterator);
  }

  /** Limits given by any iterator replace the previous ones; the next hand-out follows them. */
  flow(limits: FlowLimits): void {
    if (this.#state === 'ended') return;
    this.#limiter.set(limits);
    this.#limiter.dispatch();
  }

  /** One iterator per consumer: its return ends the consumer. */
  returned(): void {
    this.end();
  }

  ack(delivery: AmqpDelivery<T>): Promise<void> {
    return this.#settled(delivery, this.settler.ack(delivery));
  }

  nack(delivery: AmqpDelivery<T>, options: NackOptions): Promise<void> {
    return this.#settled(delivery, this.settler.nack(delivery, options));
  }

  /** Deliveries this consumer holds: handed out, prefetched, or being checked. */
  get held(): number {
    return this.#handedOut.size + this.#prefetched.size + this.#admissions.checking;
  }

  /** Stops consuming; see the class comment. */
  end(): void {
    if (this.#state === 'ended') return;
    this.#state = 'ended';
    this.#unsubscribe?.();
    this.#limiter.close();
    this.#waiters.end();
    const consumption = this.#subscription?.open ? this.#consumption : undefined;
    const cancelled = this.#pausing.then(() => consumption?.cancel());
    this.#cancelling = this.#prefetched.cancelledAfter(cancelled).then(() => {
      this.#cancelled = true;
      this.#finishIfIdle();
    });
  }

  /**
   * The queue's close: ends, lets the handed-out deliveries be settled for up to `ms`, takes back
   * those that were not (a late ack or nack of one is refused), lets the settlements under way end,
   * then closes the channel, which gives what it still held back to the broker (a redelivery).
   */
  async close(ms: number): Promise<void> {
    this.end();
    await this.#handedOut.settleWithin(ms);
    await this.#cancelling;
    await this.#settling.ended();
    await this.#finish();
  }

  #start(): void {
    this.#state = 'starting';
    const { connection } = this;
    connection.ready('consume').then(
      () => this.#resume(),
      (error: unknown) => {
        if (this.#state !== 'starting') return;
        if (connection.recovering) {
          this.#resume(); // an outage after a first connection: wait it out
          return;
        }
        this.#state = 'idle';
        this.#waiters.end(undefined, error);
      },
    );
  }

  #resume(): void {
    if (this.#state !== 'starting') return;
    this.#state = 'running';
    this.#unsubscribe = this.connection.onSession({
      up: (session) => void this.#subscribe(session),
      refused: (error) => this.#refused(error),
    });
  }

  #refused(error: SluiceError): void {
    if (this.#state !== 'running') return;
    this.#state = 'idle';
    this.#unsubscribe?.();
    this.#waiters.end(undefined, error);
  }

  async #subscribe(session: Session): Promise<void> {
    let subscription: Subscription;
    try {
      subscription = new Subscription(await session.connection.createChannel());
    } catch {
      // Once the connection closed, we are subscribed again when it reconnects.
      this.#resubscribeLater(session);
      return;
    }
    const { channel } = subscription;
    channel.on('error', () => {}); // a 'close' always follows
    channel.once('close', () => this.#lost(subscription, session));
    if (this.#state !== 'running') return void channel.close().catch(() => {});
    this.#subscription = subscription;
    const receive = (raw: ConsumeMessage | null, fromQueue: boolean) =>
      this.#receive(subscription, raw, fromQueue);
    this.#consumption = new Consumption(session, subscription, this.options, this.registry, receive);
    try {
      await channel.prefetch(this.options.prefetch);
      await declareQueue(channel, this.name, this.options.priorities); // deleted since we connected?
      await watchPaused(channel, this.name, (paused) => this.#pausedChanged(subscription, paused));
    } catch (error) {
      const refused = refusal(error, this.name, 'consume');
      if (refused !== undefined) this.#refused(refused);
      subscription.close().catch(() => {}); // its 'close' resubscribes unless refused
    }
  }

  /** Consumes while the queue is not paused (pause.ts); a pause cancels the broker consumer. */
  async #pausedChanged(subscription: Subscription, paused: boolean): Promise<void> {
    if (this.#subscription !== subscription || this.#state !== 'running') return;
    const consumption = this.#consumption!;
    if (paused) {
      this.#pausing = this.#prefetched.pause(consumption.cancel());
      return this.#pausing;
    }
    this.#prefetched.resume();
    await consumption.start();
    this.#prefetched.opened();
    this.#limiter.dispatch();
  }

  #lost(subscription: Subscription, session: Session): void {
    subscription.open = false;
    if (this.#subscription !== subscription) return;
    this.#subscription = undefined;
    this.#consumption = undefined;
    this.#prefetched.dropped(); // the broker requeued them with the channel
    if (this.#state === 'ended') {
      void this.#finish();
      return;
    }
    // Only the channel closed (e.g. the broker's consumer_timeout, the queue deleted): consume again.
    // When the connection closed, we are subscribed again once it reconnects.
    this.#resubscribeLater(session);
  }

  #resubscribeLater(session: Session): void {
    setTimeout(() => {
      if (this.#state === 'running' && this.connection.session === session) void this.#subscribe(session);
    }, RESUBSCRIBE_DELAY);
  }

  #receive(subscription: Subscription, raw: ConsumeMessage | null, fromQueue: boolean): void {
    if (raw === null) {
      subscription.close().catch(() => {}); // cancelled by the broker: its 'close' resubscribes
      return;
    }
    this.#admissions.receive(subscription, raw, fromQueue);
  }

  #deliver({ subscription, raw, envelope, key, message }: Admitted<T>): void {
    const delivery = new AmqpDelivery(this, subscription, raw, envelope, key, message);
    if (this.#limiter.limited) {
      this.#prefetched.hold(delivery);
      this.#limiter.dispatch();
    } else if (this.#prefetched.open && this.#waiters.hand(delivery)) this.#handedOut.add(delivery);
    else this.#prefetched.hold(delivery);
  }

  /** A settlement the consumer runs itself; a failure already handed the message back to the broker. */
  #run(settlement: Promise<void>): void {
    this.#settling.add(settlement).catch(() => {});
  }

  /** A handed-out delivery is being settled: tracked as a settlement before it leaves `#handedOut`. */
  #settled(delivery: AmqpDelivery<T>, settlement: Promise<void>): Promise<void> {
    if (settlement !== RESOLVED) this.#settling.add(settlement);
    this.#handedOut.delete(delivery);
    if (this.#limiter.settled(delivery)) this.#limiter.dispatch();
    this.#finishIfIdle();
    return settlement;
  }

  /** Once nothing is left to settle on an ended consumer's channel, closes it. */
  #finishIfIdle(): void {
    if (this.#cancelled && this.#admissions.checking === 0 && this.#handedOut.size === 0) {
      void this.#settling.ended().then(() => this.#finish());
    }
  }

  /** Closes the channel (once); `drained` resolves when it is closed, its acks flushed. */
  #finish(): Promise<void> {
    if (this.#closed === undefined) {
      const subscription = this.#subscription;
      this.#closed = subscription?.open ? subscription.close().catch(() => {}) : RESOLVED;
      void this.#closed.then(this.#drained);
    }
    return this.#closed;
  }
}
