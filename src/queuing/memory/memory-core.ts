import { QueueClosedError } from '../../errors.js';
import { backoffDelay } from '../backoff.js';
import type { Waiter } from '../hand-off.js';
import { assertSendOptions } from '../send-options.js';
import { RESOLVED } from '../settled.js';
import type { Backoff, Delivery, NackOptions, Producer, SendOptions } from '../types.js';
import { type Buffer, Fifo, Lifo, PriorityHeap } from './buffers.js';
import { DelayedMessages } from './delayed.js';
import { type DeliveryOwner, MemoryDelivery } from './memory-delivery.js';
import type { IteratorOwner, MemoryIterator } from './memory-iterator.js';
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
 *   messages included.
 */
export class MemoryCore<T> implements DeliveryOwner<T>, IteratorOwner<T> {
  readonly name: string;
  readonly buffer: Buffer<MemoryDelivery<T>>;
  maxsize: number;
  closed = false;
  readonly #maxAttempts: number;
  readonly #backoff: Backoff;
  readonly #deadLetter: Producer<T> | undefined;
  readonly #senders = new Fifo<WaitingSender<T>>();
  #consumers = new Fifo<Waiter<Delivery<T>>>();
  /** Deduplication keys of messages held anywhere: buffered, scheduled, waiting or being processed. */
  readonly #keys = new Set<string>();
  /** The pending `send` of each keyed message still waiting to be accepted: its duplicates share it. */
  readonly #waitingKeys = new Map<string, Promise<void>>();
  /** Accepted messages waiting out a delay or a backoff: they count toward `maxsize`. */
  readonly #delayed = new DelayedMessages<MemoryDelivery<T>>((delivery) => this.#ready(delivery));
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
    this.#maxAttempts = maxAttempts;
    this.#backoff = backoff;
    this.#deadLetter = deadLetter;
  }

  /** Accepted messages waiting out a delay or a backoff. */
  get scheduled(): number {
    return this.#delayed.size;
  }

  get ended(): boolean {
    return this.closed && this.buffer.size === 0 && this.scheduled === 0;
  }

  send(message: T, options: SendOptions | undefined): Promise<void> {
    if (this.closed) return Promise.reject(this.#closedError());
    if (options === undefined)
      return this.#accept(new MemoryDelivery(this, message, 1, 0, this.#seq++, undefined));
    try {
      assertSendOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    const { priority = 0, delay = 0, key } = options;
    if (key !== undefined) {
      // A duplicate adds no copy; while the message holding the key waits for room, it shares its fate.
      if (this.#keys.has(key)) return this.#waitingKeys.get(key) ?? RESOLVED;
      this.#keys.add(key);
    }
    const delivery = new MemoryDelivery(this, message, 1, priority, this.#seq++, key);
    if (delay > 0) {
      this.#delayed.add(delivery, delay);
      return RESOLVED;
    }
    const accepted = this.#accept(delivery);
    if (key !== undefined && accepted !== RESOLVED) this.#waitingKeys.set(key, accepted);
    return accepted;
  }

  /** The next delivery if one is ready now; admits a waiting sender into the freed slot. */
  take(): MemoryDelivery<T> | undefined {
    const delivery = this.buffer.shift();
    if (delivery !== undefined) {
      // The freed slot goes to the first waiting sender (no consumer waits while something is buffered).
      if (this.#senders.size > 0 && this.#hasRoom()) {
        const sender = this.#senders.shift()!;
        this.buffer.push(sender.delivery);
        this.#accepted(sender);
      }
      return delivery;
    }
    if (this.#overfull()) return undefined;
    const sender = this.#senders.shift(); // nothing buffered: take straight from the sender
    if (sender === undefined) return undefined;
    this.#accepted(sender);
    return sender.delivery;
  }

  wait(consumer: Waiter<Delivery<T>>): void {
    this.#consumers.push(consumer);
  }

  /** Withdraws a waiting consumer; `false` if it was not waiting. */
  unwait(consumer: Waiter<Delivery<T>>): boolean {
    return this.#withdraw((waiting) => waiting === consumer).length > 0;
  }

  /** A new iterator: while one is open, a closed queue's timers still keep the process alive. */
  opened(): void {
    this.#iterators++;
    if (this.closed && this.#iterators === 1) this.#delayed.hold(true);
  }

  /** Resolves the pending `next()` calls of an iterator that was returned. */
  release(iterator: MemoryIterator<T>): void {
    for (const consumer of this.#withdraw((waiting) => waiting.iterator === iterator)) {
      consumer.received(undefined);
    }
    this.#iterators--;
    if (this.closed && this.#iterators === 0) this.#delayed.hold(false);
  }

  resize(maxsize: number): void {
    assertMaxsize(maxsize);
    this.maxsize = maxsize;
    this.#admitWhileRoom();
  }

  /** `closedBy`: why, when not `close()`; every refused sender's error carries it. */
  close(closedBy?: ErrorOptions): void {
    if (this.closed) return;
    this.closed = true;
    this.#closedBy = closedBy;
    for (let s = this.#senders.shift(); s !== undefined; s = this.#senders.shift()) this.#refused(s);
    if (this.#iterators === 0) this.#delayed.hold(false);
    this.#endIfDrained();
  }

  ack(delivery: MemoryDelivery<T>): void {
    this.#forget(delivery);
  }

  /**
   * Rejects (the dead-letter send) leaving nothing changed. A backoff that fails for this attempt
   * dead-letters the message, as on every broker queue: a settle never throws.
   */
  nack(delivery: MemoryDelivery<T>, options: NackOptions): Promise<void> {
    const spent = delivery.attempt >= this.#maxAttempts;
    if (options.requeue === false || (options.requeue !== true && spent)) return this.#deadLetterOf(delivery);
    let delay: number;
    try {
      delay = options.delay ?? (options.requeue ? 0 : backoffDelay(this.#backoff, delivery.attempt));
    } catch {
      return this.#deadLetterOf(delivery);
    }
    const { message, attempt, priority, key } = delivery;
    const retry = new MemoryDelivery(this, message, attempt + 1, priority, this.#seq++, key);
    if (delay > 0) this.#delayed.add(retry, delay);
    else this.#enqueue(retry);
    return RESOLVED;
  }

  #closedError(): QueueClosedError {
    return new QueueClosedError(this.name, this.#closedBy);
  }

  #hasRoom(): boolean {
    return this.buffer.size + this.scheduled < this.maxsize;
  }

  /**
   * Delayed messages and retries, never held back, hold more than `maxsize`: a new message does not
   * even go straight to an idle consumer then. Otherwise jobs that keep failing would each add a
   * retry, and a jobs queue would hold far more than `maxsize + workers` jobs. A rendezvous queue
   * (`maxsize` 0) holds nothing of its own: it always hands over.
   */
  #overfull(): boolean {
    return this.maxsize > 0 && this.scheduled > this.maxsize;
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
    const consumer = this.#consumers.shift();
    if (consumer === undefined) return false;
    consumer.received(delivery);
    return true;
  }

  /**
   * Admits waiting senders while there is room, or, if not overfull, a consumer to take them. Each is
   * accepted before it is handed over: the pump loop taking it may dispatch it at once and take the
   * next sender, which must not resolve first.
   */
  #admitWhileRoom(): void {
    while (this.#senders.size > 0 && (this.#hasRoom() || (!this.#overfull() && this.#consumers.size > 0))) {
      const sender = this.#senders.shift()!;
      this.#accepted(sender);
      this.#enqueue(sender.delivery);
    }
  }

  #accepted(sender: WaitingSender<T>): void {
    if (sender.delivery.key !== undefined) this.#waitingKeys.delete(sender.delivery.key);
    sender.resolve();
  }

  #refused(sender: WaitingSender<T>): void {
    const { key } = sender.delivery;
    if (key !== undefined) {
      this.#keys.delete(key);
      this.#waitingKeys.delete(key);
    }
    sender.reject(this.#closedError());
  }

  /** A delayed message or a retry whose wait is over; it held a slot meanwhile, even past `maxsize`. */
  #ready(delivery: MemoryDelivery<T>): void {
    delivery.seq = this.#seq++; // ready now: it queues behind what was ready before it
    this.#enqueue(delivery);
    this.#admitWhileRoom(); // a consumer took it at once: its slot is free
    this.#endIfDrained();
  }

  /**
   * The key stays held until the dead-letter queue accepted the message: if it refuses it, the nack
   * rejects and the delivery stays unsettled (the message is still this queue's), so its holder can
   * nack it again, e.g. requeue it, instead of losing it.
   */
  #deadLetterOf(delivery: MemoryDelivery<T>): Promise<void> {
    if (this.#deadLetter === undefined) {
      this.#forget(delivery);
      return RESOLVED;
    }
    return this.#deadLetter.send(delivery.message).then(() => this.#forget(delivery));
  }

  #forget(delivery: MemoryDelivery<T>): void {
    if (delivery.key !== undefined) this.#keys.delete(delivery.key);
  }

  #withdraw(matches: (consumer: Waiter<Delivery<T>>) => boolean): Waiter<Delivery<T>>[] {
    const kept = new Fifo<Waiter<Delivery<T>>>();
    const withdrawn: Waiter<Delivery<T>>[] = [];
    for (let c = this.#consumers.shift(); c !== undefined; c = this.#consumers.shift()) {
      if (matches(c)) withdrawn.push(c);
      else kept.push(c);
    }
    this.#consumers = kept;
    return withdrawn;
  }

  #endIfDrained(): void {
    if (!this.ended) return;
    for (let c = this.#consumers.shift(); c !== undefined; c = this.#consumers.shift()) c.received(undefined);
  }
}
