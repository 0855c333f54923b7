import { QueueClosedError } from '../../errors.js';
import type { Waiter } from '../hand-off.js';
import { assertSendOptions } from '../send-options.js';
import { RESOLVED } from '../settled.js';
import type { Delivery, NackOptions, SendOptions } from '../types.js';
import { type Buffer, Fifo, Lifo, PriorityHeap } from './buffers.js';
import { DelayedMessages } from './delayed.js';
import { HeldKeys } from './held-keys.js';
import { type LetterFacts, type LetterHolder, recordLetter } from './letters.js';
import { type DeliveryOwner, MemoryDelivery } from './memory-delivery.js';
import type { IteratorOwner, MemoryIterator } from './memory-iterator.js';
import { NackPolicy, type Retrier } from './nack-policy.js';
import { assertMaxsize, type MemoryQueueOptions, resolveMemoryOptions } from './options.js';

interface WaitingSender<T> {
  readonly delivery: MemoryDelivery<T>;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * A MemoryQueue's state, shared with its deliveries and iterators (kept off the public class).
 *
 * Invariants the code below keeps:
 * - consumers wait only while nothing is buffered, so a sent message goes to a waiting consumer first
 *   (unless delayed messages overfill a bounded queue, see `#overfull`);
 * - senders wait only while the queue is full (buffered plus scheduled messages reach `maxsize`, or
 *   `maxsize` is 0) and are admitted in arrival order. A delayed send never waits: a jobs worker
 *   scheduling its job's retry would otherwise wait for room that only workers free;
 * - iteration ends once the queue is closed and holds nothing, scheduled (delayed or backing-off)
 *   messages included;
 * - while paused, nothing is handed out: messages stay buffered and consumers wait.
 */
export class MemoryCore<T> implements DeliveryOwner<T>, IteratorOwner<T>, LetterHolder<T>, Retrier<T> {
  readonly name: string;
  readonly maxAttempts: number;
  readonly buffer: Buffer<MemoryDelivery<T>>;
  maxsize: number;
  closed = false;
  paused = false;
  /** Deliveries handed out and not settled yet (a dead-letter send under way included). */
  inFlight = 0;
  readonly #nacks: NackPolicy<T>;
  readonly #senders = new Fifo<WaitingSender<T>>();
  readonly #consumers = new Fifo<Waiter<Delivery<T>>>();
  readonly #keys = new HeldKeys();
  /** Accepted messages waiting out a delay or a backoff: they count toward `maxsize`. */
  readonly delayed = new DelayedMessages<MemoryDelivery<T>>((delivery) => this.#ready(delivery));
  /** Iterators not returned yet: while one is, a closed queue's timers keep the process alive. */
  #iterators = 0;
  #closedBy: ErrorOptions | undefined;
  #seq = 0;

  constructor(options: MemoryQueueOptions<T>) {
    const { name, maxsize, order, maxAttempts, backoff, deadLetter } = resolveMemoryOptions(options);
    if (order === 'fifo') this.buffer = new Fifo();
    else if (order === 'lifo') this.buffer = new Lifo();
    else this.buffer = new PriorityHeap();
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
    const { priority = 0, delay = 0, key, headers } = options;
    const shared = key === undefined ? undefined : this.#keys.duplicate(key);
    if (shared !== undefined) return shared;
    const own = headers && Object.freeze({ ...headers }); // the sender may change its object later
    const delivery = new MemoryDelivery(this, message, 1, priority, this.#seq++, key, own);
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
    if (this.paused) return undefined;
    const delivery = this.buffer.shift();
    if (delivery !== undefined) {
      // The freed slot goes to the first waiting sender (no consumer waits while something is buffered).
      if (this.#senders.size > 0 && this.#hasRoom()) {
        const sender = this.#senders.shift()!;
        this.buffer.push(sender.delivery);
        this.#accepted(sender);
      }
      this.inFlight++;
      return delivery;
    }
    if (this.#overfull()) return undefined;
    const sender = this.#senders.shift(); // nothing buffered: take straight from the sender
    if (sender === undefined) return undefined;
    this.#accepted(sender);
    this.inFlight++;
    return sender.delivery;
  }

  wait(consumer: Waiter<Delivery<T>>): void {
    this.#consumers.push(consumer);
  }

  /** Withdraws a waiting consumer; `false` if it was not waiting. */
  unwait(consumer: Waiter<Delivery<T>>): boolean {
    return this.#consumers.removeWhere((waiting) => waiting === consumer).length > 0;
  }

  /** A new iterator: while one is open, a closed queue's timers still keep the process alive. */
  opened(): void {
    this.#iterators++;
    if (this.closed && this.#iterators === 1) this.delayed.hold(true);
  }

  /** Resolves the pending `next()` calls of an iterator that was returned. */
  release(iterator: MemoryIterator<T>): void {
    for (const consumer of this.#consumers.removeWhere((waiting) => waiting.iterator === iterator)) {
      consumer.received(undefined);
    }
    this.#iterators--;
    if (this.closed && this.#iterators === 0) this.delayed.hold(false);
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
    for (let s = this.#senders.shift(); s !== undefined; s = this.#senders.shift()) this.#refused(s);
    if (this.#iterators === 0) this.delayed.hold(false);
    this.resume();
    this.#endIfDrained();
  }

  /** Hands what is ready to the consumers that waited while paused. */
  resume(): void {
    this.paused = false;
    while (this.#consumers.size > 0) {
      const delivery = this.take();
      if (delivery === undefined) return;
      this.#consumers.shift()!.received(delivery);
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
    const { message, attempt, priority, key, headers } = delivery;
    const retry = new MemoryDelivery(this, message, attempt + 1, priority, this.#seq++, key, headers);
    if (delay > 0) this.delayed.add(retry, delay);
    else this.#enqueue(retry);
  }

  settled(delivery: MemoryDelivery<T>): void {
    this.inFlight--;
    this.#forget(delivery);
  }

  sendLetter(message: T, facts: LetterFacts, headers: Readonly<Record<string, string>>): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    const delivery = new MemoryDelivery(this, message, 1, 0, this.#seq++, undefined, headers);
    recordLetter(delivery, facts);
    return this.#accept(delivery);
  }

  /** A dead letter moved back: a new message (attempt 1), never refused, like a retry. */
  redriven(message: T, priority: number, headers: Readonly<Record<string, string>>): void {
    this.#enqueue(new MemoryDelivery(this, message, 1, priority, this.#seq++, undefined, headers));
  }

  remove(match: (delivery: MemoryDelivery<T>) => boolean): MemoryDelivery<T>[] {
    const removed = [...this.buffer.removeWhere(match), ...this.delayed.removeWhere(match)];
    for (const delivery of removed) this.#forget(delivery);
    this.#admitWhileRoom();
    this.#endIfDrained();
    return removed;
  }

  closedError(): QueueClosedError {
    return new QueueClosedError(this.name, this.#closedBy);
  }

  #hasRoom(): boolean {
    return this.buffer.size + this.delayed.size < this.maxsize;
  }

  /**
   * Delayed messages and retries, never held back, hold more than `maxsize`: a new message does not
   * even go straight to an idle consumer then. Otherwise jobs that keep failing would each add a
   * retry, and a jobs queue would hold far more than `maxsize + workers` jobs. A rendezvous queue
   * (`maxsize` 0) holds nothing of its own: it always hands over.
   */
  #overfull(): boolean {
    return this.maxsize > 0 && this.delayed.size > this.maxsize;
  }

  #accept(delivery: MemoryDelivery<T>): Promise<void> {
    if (!this.#overfull() && this.#handOff(delivery)) return RESOLVED;
    if (this.#hasRoom()) {
      this.buffer.push(delivery);
      return RESOLVED;
    }
    return new Promise((resolve, reject) => this.#senders.push({ delivery, resolve, reject }));
  }

  /** Puts back a message the queue already accepted: never refused, whatever `maxsize` says. */
  #enqueue(delivery: MemoryDelivery<T>): void {
    if (!this.#handOff(delivery)) this.buffer.push(delivery);
  }

  #handOff(delivery: MemoryDelivery<T>): boolean {
    const consumer = this.paused ? undefined : this.#consumers.shift();
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
    while (
      this.#senders.size > 0 &&
      (this.#hasRoom() || (!this.paused && this.#consumers.size > 0 && !this.#overfull()))
    ) {
      const sender = this.#senders.shift()!;
      this.#accepted(sender);
      this.#enqueue(sender.delivery);
    }
  }

  #accepted(sender: WaitingSender<T>): void {
    if (sender.delivery.key !== undefined) this.#keys.accepted(sender.delivery.key);
    sender.resolve();
  }

  #refused(sender: WaitingSender<T>): void {
    if (sender.delivery.key !== undefined) this.#keys.release(sender.delivery.key);
    sender.reject(this.closedError());
  }

  /** A delayed message or a retry whose wait is over; it held a slot meanwhile, even past `maxsize`. */
  #ready(delivery: MemoryDelivery<T>): void {
    delivery.seq = this.#seq++; // ready now: it queues behind what was ready before it
    this.#enqueue(delivery);
    this.#admitWhileRoom(); // a consumer took it at once: its slot is free
    this.#endIfDrained();
  }

  #forget(delivery: MemoryDelivery<T>): void {
    if (delivery.key !== undefined) this.#keys.release(delivery.key);
  }

  #endIfDrained(): void {
    if (!this.ended) return;
    for (let c = this.#consumers.shift(); c !== undefined; c = this.#consumers.shift()) c.received(undefined);
  }
}
