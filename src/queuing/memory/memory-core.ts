import { QueueClosedError } from '../../errors.js';
import { limitsFlow } from '../flow-options.js';
import type { Waiter } from '../hand-off.js';
import { assertSendOptions } from '../send-options.js';
import { RESOLVED } from '../settled.js';
import type { Delivery, FlowLimits, NackOptions, SendOptions } from '../types.js';
import { type Buffer, bufferMaker, Fifo } from './buffers.js';
import { DelayedMessages } from './delayed.js';
import { HeldKeys } from './held-keys.js';
import { type LetterFacts, type LetterHolder, recordLetter } from './letters.js';
import { type DeliveryOwner, deliveryOf, MemoryDelivery } from './memory-delivery.js';
import { MemoryFlow } from './memory-flow.js';
import type { IteratorOwner, MemoryIterator } from './memory-iterator.js';
import { NackPolicy, type Retrier } from './nack-policy.js';
import { assertMaxsize, type MemoryQueueOptions, resolveMemoryOptions } from './options.js';
import { hasRoom, overfull } from './room.js';
import { WaitingSenders } from './senders.js';

type MessageHeaders = Readonly<Record<string, string>>;

/**
 * A MemoryQueue's state, shared with its deliveries and iterators (kept off the public class).
 *
 * Invariants the code below keeps:
 * - consumers wait only while nothing is buffered, so a sent message goes to a waiting consumer first
 *   (unless delayed messages overfill a bounded queue, see `overfull`);
 * - senders wait only while the queue is full (buffered plus scheduled messages reach `maxsize`, or
 *   `maxsize` is 0) and are admitted in arrival order. A delayed send never waits: a jobs worker
 *   scheduling its job's retry would otherwise wait for room that only workers free;
 * - iteration ends once the queue is closed and holds nothing, scheduled (delayed or backing-off)
 *   messages included;
 * - while paused, nothing is handed out: messages stay buffered and consumers wait.
 *
 * Once a message has a group or an iterator gives limits, hand-outs go through `MemoryFlow`, where
 * consumers may also wait while messages are buffered (held back by the limits).
 */
export class MemoryCore<T> implements DeliveryOwner<T>, IteratorOwner<T>, LetterHolder<T>, Retrier<T> {
  readonly name: string;
  readonly maxAttempts: number;
  /** The ready messages: a `GroupedBuffer` once hand-outs go through `#flow`. */
  buffer: Buffer<MemoryDelivery<T>>;
  maxsize: number;
  closed = false;
  paused = false;
  /** Deliveries handed out and not settled yet (a dead-letter send under way included). */
  inFlight = 0;
  readonly #nacks: NackPolicy<T>;
  readonly #keys = new HeldKeys();
  readonly senders = new WaitingSenders<T>(this.#keys);
  readonly consumers = new Fifo<Waiter<Delivery<T>>>();
  /** Accepted messages waiting out a delay or a backoff: they count toward `maxsize`. */
  readonly delayed = new DelayedMessages<MemoryDelivery<T>>((delivery) => this.#ready(delivery));
  #closedBy: ErrorOptions | undefined;
  #seq = 0;
  readonly newBuffer: () => Buffer<MemoryDelivery<T>>;
  /** Set while messages have groups or limits apply: hand-outs go through it (else the plain path). */
  #flow: MemoryFlow<T> | undefined;

  constructor(options: MemoryQueueOptions<T>) {
    const { name, maxsize, order, maxAttempts, backoff, deadLetter } = resolveMemoryOptions(options);
    this.newBuffer = bufferMaker(order);
    this.buffer = this.newBuffer();
    this.name = name;
    this.maxsize = maxsize;
    this.maxAttempts = maxAttempts;
    this.#nacks = new NackPolicy(this, maxAttempts, backoff, deadLetter);
  }

  get size(): number {
    return this.buffer.size + this.delayed.size;
  }

  get ended(): boolean {
    return this.closed && this.buffer.size === 0 && this.delayed.size === 0;
  }

  send(message: T, options: SendOptions | undefined): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    if (options === undefined)
      return this.#accept(new MemoryDelivery(this, message, 1, 0, this.#seq++, undefined));
    try {
      assertSendOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    const { priority = 0, delay = 0, key, headers, group } = options;
    const shared = key === undefined ? undefined : this.#keys.duplicate(key);
    if (shared !== undefined) return shared;
    const own = headers && Object.freeze({ ...headers }); // the sender may change its object later
    if (group !== undefined) this.#flowing().grouped = true;
    const delivery = deliveryOf(this, message, 1, priority, this.#seq++, key, own, group);
    if (delay > 0) {
      this.delayed.add(delivery, delay);
      return RESOLVED;
    }
    const accepted = this.#accept(delivery);
    if (key !== undefined && accepted !== RESOLVED) this.#keys.waiting(key, accepted);
    return accepted;
  }

  /** The next delivery if one is ready now; admits a waiting sender into the freed slot. */
  take(): MemoryDelivery<T> | undefined {
    if (this.#flow !== undefined) return this.#flow.take();
    if (this.paused) return undefined;
    const delivery = this.buffer.shift();
    if (delivery !== undefined) {
      // The freed slot goes to the first waiting sender (no consumer waits while something is buffered).
      if (this.senders.size > 0 && hasRoom(this)) this.buffer.push(this.senders.admit());
      this.inFlight++;
      return delivery;
    }
    if (overfull(this) || this.senders.size === 0) return undefined;
    this.inFlight++;
    return this.senders.admit(); // nothing buffered: take straight from the sender
  }

  wait(consumer: Waiter<Delivery<T>>): void {
    this.consumers.push(consumer);
    if (this.#flow !== undefined) this.#flow.hold();
  }

  /** Withdraws a waiting consumer; `false` if it was not waiting. */
  unwait(consumer: Waiter<Delivery<T>>): boolean {
    const withdrawn = this.consumers.removeWhere((waiting) => waiting === consumer).length > 0;
    this.#flow?.hold();
    return withdrawn;
  }

  /** Limits `iterator` gives (see `MemoryFlow`): they apply to every hand-out of the queue. */
  flow(iterator: object, limits: FlowLimits): void {
    if (this.#flow === undefined && !limitsFlow(limits)) return;
    if (!this.#flowing().limit(iterator, limits)) this.#flow = undefined;
    if (!this.paused) this.resume();
  }

  /** A new iterator: while one is open, a closed queue's timers still keep the process alive. */
  opened(): void {
    this.delayed.opened();
  }

  /** Resolves the pending `next()` calls of an iterator that was returned. */
  release(iterator: MemoryIterator<T>): void {
    for (const consumer of this.consumers.removeWhere((waiting) => waiting.iterator === iterator)) {
      consumer.received(undefined);
    }
    this.delayed.returned();
    if (this.#flow !== undefined) this.flow(iterator, {}); // its limits go with it
  }

  resize(maxsize: number): void {
    assertMaxsize(maxsize);
    this.maxsize = maxsize;
    this.#admitWhileRoom();
  }

  /**
   * `closedBy`: why, when not `close()`; every refused sender's error carries it. Closing ends a
   * pause (nothing could resume it): consumers drain what is held, as a closed queue promises.
   */
  close(closedBy?: ErrorOptions): void {
    if (this.closed) return;
    this.closed = true;
    this.#closedBy = closedBy;
    this.senders.refuseAll(() => this.closedError());
    this.delayed.closed();
    this.resume();
    this.endIfDrained();
  }

  /** Hands what is ready to the consumers that waited while paused (or were held back by limits). */
  resume(): void {
    this.paused = false;
    if (this.#flow !== undefined) {
      this.#flow.serve();
      return;
    }
    while (this.consumers.size > 0) {
      const delivery = this.take();
      if (delivery === undefined) return;
      this.consumers.shift()!.received(delivery);
    }
  }

  ack(delivery: MemoryDelivery<T>): void {
    this.settled(delivery);
  }

  nack(delivery: MemoryDelivery<T>, options: NackOptions): Promise<void> {
    return this.#nacks.nack(delivery, options);
  }

  retry(delivery: MemoryDelivery<T>, delay: number): void {
    this.inFlight--;
    const { message, attempt, priority, key, headers, group } = delivery;
    const retry = deliveryOf(this, message, attempt + 1, priority, this.#seq++, key, headers, group);
    if (delay > 0) this.delayed.add(retry, delay);
    else this.#enqueue(retry);
    if (this.#flow !== undefined) this.#flow.settled(delivery);
  }

  settled(delivery: MemoryDelivery<T>): void {
    this.inFlight--;
    this.#forget(delivery);
    if (this.#flow !== undefined) this.#flow.settled(delivery);
  }

  sendLetter(message: T, facts: LetterFacts, headers: MessageHeaders, group?: string): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    if (group !== undefined) this.#flowing().grouped = true;
    const delivery = deliveryOf(this, message, 1, 0, this.#seq++, undefined, headers, group);
    recordLetter(delivery, facts);
    return this.#accept(delivery);
  }

  /** A dead letter moved back: a new message (attempt 1), never refused, like a retry. */
  redriven(message: T, priority: number, headers: MessageHeaders, group?: string): void {
    if (group !== undefined) this.#flowing().grouped = true;
    this.#enqueue(deliveryOf(this, message, 1, priority, this.#seq++, undefined, headers, group));
  }

  remove(match: (delivery: MemoryDelivery<T>) => boolean): MemoryDelivery<T>[] {
    const removed = [...this.buffer.removeWhere(match), ...this.delayed.removeWhere(match)];
    for (const delivery of removed) this.#forget(delivery);
    this.#admitWhileRoom();
    this.endIfDrained();
    return removed;
  }

  closedError(): QueueClosedError {
    return new QueueClosedError(this.name, this.#closedBy);
  }

  #accept(delivery: MemoryDelivery<T>): Promise<void> {
    if (this.#flow !== undefined) return this.#flow.accept(delivery);
    if (!overfull(this) && this.#handOff(delivery)) return RESOLVED;
    if (hasRoom(this)) {
      this.buffer.push(delivery);
      return RESOLVED;
    }
    return this.senders.wait(delivery);
  }

  /** Puts back a message the queue already accepted: never refused, whatever `maxsize` says. */
  #enqueue(delivery: MemoryDelivery<T>): void {
    if (this.#flow !== undefined) this.#flow.enqueue(delivery);
    else if (!this.#handOff(delivery)) this.buffer.push(delivery);
  }

  #handOff(delivery: MemoryDelivery<T>): boolean {
    const consumer = this.paused ? undefined : this.consumers.shift();
    if (consumer === undefined) return false;
    this.inFlight++;
    consumer.received(delivery);
    return true;
  }

  /**
   * Admits waiting senders while there is room, or, if not overfull, a consumer to take them. Each is
   * accepted before it is handed over: the pump loop taking it may dispatch it at once and take the
   * next sender, which must not resolve first.
   */
  #admitWhileRoom(): void {
    if (this.#flow !== undefined) {
      this.#flow.admitWhileRoom();
      return;
    }
    while (
      this.senders.size > 0 &&
      (hasRoom(this) || (!this.paused && this.consumers.size > 0 && !overfull(this)))
    ) {
      this.#enqueue(this.senders.admit());
    }
  }

  /** A delayed message or a retry whose wait is over; it held a slot meanwhile, even past `maxsize`. */
  #ready(delivery: MemoryDelivery<T>): void {
    delivery.seq = this.#seq++; // ready now: it queues behind what was ready before it
    this.#enqueue(delivery);
    this.#admitWhileRoom(); // a consumer took it at once: its slot is free
    this.endIfDrained();
  }

  #flowing(): MemoryFlow<T> {
    this.#flow ??= new MemoryFlow(this);
    return this.#flow;
  }

  #forget(delivery: MemoryDelivery<T>): void {
    if (delivery.key !== undefined) this.#keys.release(delivery.key);
  }

  endIfDrained(): void {
    if (!this.ended) return;
    for (let c = this.consumers.shift(); c !== undefined; c = this.consumers.shift()) c.received(undefined);
  }
}
