import type { ConsumeMessage } from 'amqplib';
import { DeliverySettledError } from '../../errors.js';
import { Fifo } from '../../queuing/memory/buffers.js';
import { DONE_PROMISE, RESOLVED } from '../../queuing/settled.js';
import type { NackOptions } from '../../queuing/types.js';
import { type Admission, admit } from '../shared/admit.js';
import type { DeliveryOwner } from '../shared/delivery.js';
import { type BrokerIterator, type IteratorOwner, Waiters } from '../shared/iterator.js';
import type { Connection, Session } from './connection.js';
import { AmqpDelivery } from './delivery.js';
import type { ResolvedOptions } from './options.js';
import { copyBody, storedId } from './received.js';
import type { Settler } from './settler.js';
import { Subscription } from './subscription.js';
import { declareQueue, KEY_HEADER } from './topology.js';

/** Wait before consuming again after the broker closed only our channel (not the connection). */
const RESUBSCRIBE_DELAY = 250;

/**
 * One iteration over the queue: its own channel and broker consumer, `prefetch` messages ahead.
 *
 * States: idle → starting (first connection) → running → ended. While running it (re)subscribes on
 * every connection made; losing the channel drops what was prefetched (the broker requeues it).
 * Once ended (returned, or the queue closed): waiting `next()` calls resolve done, prefetched
 * messages are put back, handed-out deliveries can still be settled, and the channel closes when
 * the last of them is (or when the queue's close timeout forces it).
 */
export class AmqpConsumer<T> implements IteratorOwner<AmqpDelivery<T>>, DeliveryOwner<AmqpDelivery<T>> {
  readonly name: string;
  #ready = new Fifo<AmqpDelivery<T>>();
  readonly #waiters = new Waiters<AmqpDelivery<T>>();
  #state: 'idle' | 'starting' | 'running' | 'ended' = 'idle';
  #subscription: Subscription | undefined;
  #consumerTag: string | undefined;
  #cancelled = false;
  #cancelling: Promise<void> = RESOLVED;
  #unsubscribe: (() => void) | undefined;
  /** Messages held: handed out and not settled yet, or being checked against the schema. */
  #busy = 0;
  /** Settlements under way (publishing a copy, then acking): a channel closed before they end duplicates. */
  readonly #settling = new Set<Promise<void>>();
  readonly #drained: () => void;
  #closed: Promise<void> | undefined;
  /** The queue's close stopped waiting for handed-out deliveries: they go back to the queue. */
  #abandoned = false;
  /** Resolves once the consumer ended and its channel closed. */
  readonly drained: Promise<void>;
  /**
   * The message being admitted, and whether its body had an id: `admit` asks for a stored id
   * synchronously, so one function made here serves every message instead of one per message.
   */
  #admitting: ConsumeMessage | undefined;
  #ownId = true;
  readonly #storedId = () => {
    this.#ownId = false;
    return storedId(this.#admitting!);
  };

  constructor(
    private readonly config: ResolvedOptions<T>,
    private readonly connection: Connection,
    private readonly settler: Settler,
  ) {
    this.name = config.name;
    let drained!: () => void;
    this.drained = new Promise((resolve) => {
      drained = resolve;
    });
    this.#drained = drained;
  }

  next(iterator: BrokerIterator<AmqpDelivery<T>>): Promise<IteratorResult<AmqpDelivery<T>>> {
    if (this.#state === 'ended') return DONE_PROMISE;
    const delivery = this.#ready.shift();
    if (delivery !== undefined) {
      this.#busy++;
      return Promise.resolve({ value: delivery, done: false });
    }
    if (this.#state === 'idle') this.#start();
    return this.#waiters.wait(iterator);
  }

  /** One iterator per consumer: its return ends the consumer. */
  returned(): void {
    this.end();
  }

  ack(delivery: AmqpDelivery<T>): Promise<void> {
    if (this.#abandoned) return this.#released();
    return this.#settled(this.settler.ack(delivery));
  }

  nack(delivery: AmqpDelivery<T>, options: NackOptions): Promise<void> {
    if (this.#abandoned) return this.#released();
    return this.#settled(this.settler.nack(delivery, options));
  }

  /** The channel closed with the delivery unsettled (at the queue's close timeout): the broker has it back. */
  #released(): Promise<void> {
    return Promise.reject(new DeliverySettledError(this.name));
  }

  /** Stops consuming; see the class comment. */
  end(): void {
    if (this.#state === 'ended') return;
    this.#state = 'ended';
    this.#unsubscribe?.();
    this.#waiters.end();
    // Put back what was prefetched once the broker confirmed the cancel, so that the copies are not
    // pushed straight back to this consumer; until then what arrives joins the prefetched messages.
    this.#busy++;
    const subscription = this.#subscription;
    const cancelled =
      subscription?.open && this.#consumerTag !== undefined
        ? subscription.channel.cancel(this.#consumerTag).catch(() => {})
        : RESOLVED;
    this.#cancelling = cancelled.then(() => {
      this.#cancelled = true;
      for (let d = this.#ready.shift(); d !== undefined; d = this.#ready.shift()) {
        this.#run(this.settler.release(d));
      }
      this.#idle();
    });
  }

  /**
   * Closes the channel once the settlements under way ended: what is still unsettled goes back to
   * the queue (a redelivery).
   */
  async abandon(): Promise<void> {
    this.end();
    await this.#cancelling;
    while (this.#settling.size > 0) await Promise.allSettled(this.#settling);
    this.#abandoned = true;
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
    this.#unsubscribe = this.connection.onSession((session) => void this.#subscribe(session));
  }

  async #subscribe(session: Session): Promise<void> {
    let subscription: Subscription;
    try {
      subscription = new Subscription(await session.connection.createChannel());
    } catch {
      return; // the connection is closing: we are subscribed again once it reconnects
    }
    const { channel } = subscription;
    channel.on('error', () => {}); // a 'close' always follows
    channel.once('close', () => this.#lost(subscription, session));
    if (this.#state === 'ended') return void channel.close().catch(() => {});
    this.#subscription = subscription;
    try {
      await channel.prefetch(this.config.prefetch);
      // It may have been deleted since the connection declared it.
      await declareQueue(channel, this.name, this.config.priorities);
      const { consumerTag } = await channel.consume(this.name, (raw) => this.#receive(subscription, raw));
      this.#consumerTag = consumerTag;
    } catch {
      subscription.close().catch(() => {}); // its 'close' resubscribes
    }
  }

  #lost(subscription: Subscription, session: Session): void {
    subscription.open = false;
    if (this.#subscription !== subscription) return;
    this.#subscription = undefined;
    this.#consumerTag = undefined;
    this.#ready = new Fifo(); // the broker requeued them with the channel
    if (this.#state === 'ended') {
      void this.#finish();
      return;
    }
    // Only the channel closed (e.g. the broker's consumer_timeout, the queue deleted): consume again.
    // When the connection closed, we are subscribed again once it reconnects.
    setTimeout(() => {
      if (this.#state === 'running' && this.connection.session === session) void this.#subscribe(session);
    }, RESUBSCRIBE_DELAY);
  }

  #receive(subscription: Subscription, raw: ConsumeMessage | null): void {
    if (raw === null) {
      subscription.close().catch(() => {}); // cancelled by the broker: its 'close' resubscribes
      return;
    }
    subscription.received(raw);
    // A redelivery is copied back (or dead-lettered), not handed out: its schema is checked then.
    const { redelivered } = raw.fields;
    this.#admitting = raw;
    this.#ownId = true;
    const admission = admit<T>(
      raw.content.toString(),
      redelivered ? undefined : this.config.check,
      this.#storedId,
    );
    const ownId = this.#ownId;
    this.#admitting = undefined;
    if (!(admission instanceof Promise)) {
      this.#admitted(subscription, raw, ownId, admission);
      return;
    }
    this.#busy++; // the message is held while its schema runs
    admission.then((result) => this.#admitted(subscription, raw, ownId, result)).finally(() => this.#idle());
  }

  #admitted(subscription: Subscription, raw: ConsumeMessage, ownId: boolean, admission: Admission<T>): void {
    const key = raw.properties.headers?.[KEY_HEADER] as string | undefined;
    if (!admission.admitted) {
      const body = copyBody(admission.body, admission.id, ownId);
      this.#run(this.settler.deadLetter({ subscription, raw, key }, admission.reason, body));
      return;
    }
    const { envelope } = admission;
    if (raw.fields.redelivered) {
      this.#run(this.settler.redelivered({ subscription, raw, key, envelope, ownId }));
      return;
    }
    if (!subscription.open) return; // a schema check outlived the channel: the broker requeued it
    const delivery = new AmqpDelivery(this, subscription, raw, envelope, ownId, key, admission.message);
    if (this.#cancelled) this.#run(this.settler.release(delivery));
    else if (this.#waiters.hand(delivery)) this.#busy++;
    else this.#ready.push(delivery);
  }

  /** A settlement the consumer runs itself; a failure already handed the message back to the broker. */
  #run(settlement: Promise<void>): void {
    this.#track(settlement).catch(() => {});
  }

  /** A handed-out delivery is being settled: it is no longer held. */
  #settled(settlement: Promise<void>): Promise<void> {
    this.#busy--;
    return this.#track(settlement);
  }

  #track(settlement: Promise<void>): Promise<void> {
    if (settlement !== RESOLVED) {
      this.#settling.add(settlement);
      const done = () => {
        this.#settling.delete(settlement);
        this.#finishIfIdle();
      };
      settlement.then(done, done);
    }
    this.#finishIfIdle();
    return settlement;
  }

  #idle(): void {
    this.#busy--;
    this.#finishIfIdle();
  }

  #finishIfIdle(): void {
    if (this.#busy === 0 && this.#settling.size === 0 && this.#state === 'ended') void this.#finish();
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
