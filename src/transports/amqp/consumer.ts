import type { ConsumeMessage } from 'amqplib';
import { DeliverySettledError } from '../../errors.js';
import { Fifo } from '../../queuing/memory/buffers.js';
import { DONE, DONE_PROMISE, RESOLVED } from '../../queuing/settled.js';
import type { Delivery, NackOptions } from '../../queuing/types.js';
import { wrapUndecodable } from '../shared/envelope.js';
import type { MessageCheck } from '../shared/message-schema.js';
import { receiveEnvelope } from './attempt.js';
import { type Core, type Held, KEY_HEADER, type Received } from './core.js';
import { AmqpDelivery, type Settler } from './delivery.js';
import type { Session } from './link.js';
import { Subscription } from './subscription.js';
import { declareQueue } from './topology.js';

interface Waiter<T> {
  resolve(result: IteratorResult<Delivery<T>>): void;
  reject(error: unknown): void;
}

/** Wait before consuming again after the broker closed only our channel (not the connection). */
const RESUBSCRIBE_DELAY = 250;

/**
 * One iteration over the queue: its own channel and broker consumer, `prefetch` messages ahead.
 *
 * States: idle → starting (first connection) → running → ended. While running it (re)subscribes on
 * every connection the link makes; losing the channel drops what was prefetched (the broker requeues
 * it). Once ended (returned, or the queue closed): waiting `next()` calls resolve done, prefetched
 * messages are put back, handed-out deliveries can still be settled, and the channel closes when
 * the last of them is (or when the queue's close timeout forces it).
 */
export class AmqpConsumer<T> implements AsyncIterator<Delivery<T>>, Settler {
  readonly queueName: string;
  readonly #core: Core;
  #ready = new Fifo<AmqpDelivery<T>>();
  readonly #waiting = new Fifo<Waiter<T>>();
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

  constructor(core: Core) {
    this.#core = core;
    this.queueName = core.config.name;
    let drained!: () => void;
    this.drained = new Promise((resolve) => {
      drained = resolve;
    });
    this.#drained = drained;
  }

  next(): Promise<IteratorResult<Delivery<T>>> {
    if (this.#state === 'ended') return DONE_PROMISE;
    const delivery = this.#ready.shift();
    if (delivery !== undefined) {
      this.#busy++;
      return Promise.resolve({ value: delivery, done: false });
    }
    if (this.#state === 'idle') this.#start();
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<Delivery<T>>> {
    this.end();
    return DONE_PROMISE;
  }

  ack(delivery: AmqpDelivery<unknown>): Promise<void> {
    if (this.#abandoned) return this.#released();
    return this.#settled(this.#core.ack(delivery));
  }

  nack(delivery: AmqpDelivery<unknown>, options: NackOptions): Promise<void> {
    if (this.#abandoned) return this.#released();
    return this.#settled(this.#core.nack(delivery, options));
  }

  /** The channel closed with the delivery unsettled (at the queue's close timeout): the broker has it back. */
  #released(): Promise<void> {
    return Promise.reject(new DeliverySettledError(this.queueName));
  }

  /** Stops consuming; see the class comment. */
  end(): void {
    if (this.#state === 'ended') return;
    this.#state = 'ended';
    this.#unsubscribe?.();
    for (let w = this.#waiting.shift(); w !== undefined; w = this.#waiting.shift()) w.resolve(DONE);
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
      for (let d = this.#ready.shift(); d !== undefined; d = this.#ready.shift())
        this.#run(this.#core.release(d));
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
    const link = this.#core.link;
    link.ready('consume').then(
      () => this.#resume(),
      (error: unknown) => {
        if (this.#state !== 'starting') return;
        if (link.recovering) {
          this.#resume(); // an outage after a first connection: wait it out
          return;
        }
        this.#state = 'idle';
        for (let w = this.#waiting.shift(); w !== undefined; w = this.#waiting.shift()) w.reject(error);
      },
    );
  }

  #resume(): void {
    if (this.#state !== 'starting') return;
    this.#state = 'running';
    this.#unsubscribe = this.#core.link.onSession((session) => void this.#subscribe(session));
  }

  async #subscribe(session: Session): Promise<void> {
    let subscription: Subscription;
    try {
      subscription = new Subscription(await session.connection.createChannel());
    } catch {
      return; // the connection is closing: the link subscribes us again once it reconnects
    }
    const { channel } = subscription;
    channel.on('error', () => {}); // a 'close' always follows
    channel.once('close', () => this.#lost(subscription, session));
    if (this.#state === 'ended') return void channel.close().catch(() => {});
    this.#subscription = subscription;
    try {
      await channel.prefetch(this.#core.config.prefetch);
      await declareQueue(channel, this.queueName, this.#core.config.priorities); // it may have been deleted since the link declared it
      const { consumerTag } = await channel.consume(this.queueName, (raw) =>
        this.#receive(subscription, raw),
      );
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
    // When the connection closed, the link subscribes us again once it reconnects.
    setTimeout(() => {
      if (this.#state === 'running' && this.#core.link.session === session) void this.#subscribe(session);
    }, RESUBSCRIBE_DELAY);
  }

  #receive(subscription: Subscription, raw: ConsumeMessage | null): void {
    if (raw === null) {
      subscription.close().catch(() => {}); // cancelled by the broker: its 'close' resubscribes
      return;
    }
    subscription.received(raw);
    const key = raw.properties.headers?.[KEY_HEADER] as string | undefined;
    const envelope = receiveEnvelope(raw.content);
    if (typeof envelope === 'string') {
      const wrapped = Buffer.from(JSON.stringify(wrapUndecodable(raw.content.toString())));
      this.#run(this.#core.deadLetter({ subscription, raw, key }, envelope, wrapped));
      return;
    }
    const received = { subscription, raw, envelope, key };
    const check = this.#core.config.check;
    if (raw.fields.redelivered) this.#run(this.#core.redelivered(received));
    else if (check === undefined) this.#offer(received, envelope.payload as T);
    else this.#check(received, check);
  }

  #check(received: Received, check: MessageCheck<unknown>): void {
    let checked: unknown;
    try {
      checked = check(received.envelope.payload);
    } catch (error) {
      this.#invalid(received, error);
      return;
    }
    if (!(checked instanceof Promise)) {
      this.#offer(received, checked as T);
      return;
    }
    this.#busy++; // the message is held while its schema runs
    checked
      .then(
        (message) => this.#offer(received, message as T),
        (error: unknown) => this.#invalid(received, error),
      )
      .finally(() => this.#idle());
  }

  #offer({ subscription, raw, envelope, key }: Received, message: T): void {
    if (!subscription.open) return; // a schema check outlived the channel: the broker requeued it
    const delivery = new AmqpDelivery(this, subscription, raw, envelope, key, message);
    if (this.#cancelled) {
      this.#run(this.#core.release(delivery));
      return;
    }
    const waiter = this.#waiting.shift();
    if (waiter === undefined) {
      this.#ready.push(delivery);
      return;
    }
    this.#busy++;
    waiter.resolve({ value: delivery, done: false });
  }

  #invalid(held: Held, error: unknown): void {
    const reason = `invalid message: ${error instanceof Error ? error.message : String(error)}`;
    this.#run(this.#core.deadLetter(held, reason));
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
