import { DeliverySettledError, InvalidOptionError, QueueClosedError } from '../errors.js';
import type { AnyMiddleware } from '../middleware/types.js';
import { assertBackoff, assertMaxAttempts, backoffDelay } from './backoff.js';
import { type Buffer, Fifo, Lifo, PriorityHeap } from './buffers.js';
import { DrainingQueue } from './draining-queue.js';
import { Pump, type PumpContext, type PumpDispatcher } from './pump.js';
import { assertNackOptions, assertSendOptions } from './send-options.js';
import { DONE, DONE_PROMISE, RESOLVED, takeNow, type Waiter, waitNow } from './settled.js';
import type { Backoff, Delivery, NackOptions, Producer, Queue, RetryPolicy, SendOptions } from './types.js';

export interface MemoryQueueOptions<T> extends RetryPolicy<T> {
  /** Messages buffered before `send` waits. `Infinity` (default); `0` hands each message straight to a consumer. */
  maxsize?: number;
  /** `fifo` (default), `lifo` (newest first) or `priority` (highest first, FIFO among equals). */
  order?: 'fifo' | 'lifo' | 'priority';
  /** Names the queue in error messages. Default `memory`. */
  name?: string;
}

export interface MemoryDrainingOptions<T> {
  concurrency?: number;
  failSilently?: boolean;
  middlewares?: AnyMiddleware<T, PumpContext<T>>[];
}

/**
 * The in-process queue: bounded, ordered, safe for several consumers on one event loop.
 *
 * Invariants the code below keeps:
 * - consumers wait only while nothing is buffered, so a sent message goes to a waiting consumer first;
 * - senders wait only while the buffer is full (or `maxsize` is 0) and are admitted in arrival order;
 * - iteration ends once the queue is closed and holds nothing, scheduled (delayed or backing-off)
 *   messages included.
 */
export class MemoryQueue<T> implements Queue<T> {
  readonly #core: Core<T>;

  constructor(options: MemoryQueueOptions<T> = {}) {
    this.#core = new Core(options);
  }

  get name(): string {
    return this.#core.name;
  }

  /** Messages buffered now (not counting delayed ones or deliveries being processed). */
  get size(): number {
    return this.#core.buffer.size;
  }

  get maxsize(): number {
    return this.#core.maxsize;
  }

  /** Growing wakes waiting senders; shrinking never drops what is buffered. */
  set maxsize(value: number) {
    this.#core.resize(value);
  }

  get closed(): boolean {
    return this.#core.closed;
  }

  send(message: T, options?: SendOptions): Promise<void> {
    return this.#core.send(message, options);
  }

  /** Rejects waiting senders; consumers drain what the queue holds, then their iteration ends. */
  close(): Promise<void> {
    this.#core.close();
    return RESOLVED;
  }

  [Symbol.asyncIterator](): AsyncIterator<Delivery<T>> {
    return new MemoryIterator(this.#core);
  }

  [takeNow](): Delivery<T> | undefined {
    return this.#core.take();
  }

  /**
   * Starts a graceful pump on this queue and returns its producer end. Disposing it (or `stop()`)
   * closes the queue and resolves once every accepted message was dispatched.
   */
  draining(dispatcher: PumpDispatcher<NoInfer<T>>, options: MemoryDrainingOptions<T> = {}): DrainingQueue<T> {
    const { concurrency, failSilently, middlewares = [] } = options;
    const pump = new Pump(this, dispatcher, { failSilently }).use(...middlewares);
    return new DrainingQueue(this, pump.draining({ concurrency, graceful: true }));
  }
}

/** Node fires a longer `setTimeout` after 1 ms, so longer waits are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface WaitingSender<T> {
  readonly delivery: MemoryDelivery<T>;
  resolve(): void;
  reject(error: unknown): void;
}

/** The queue's state, shared with its deliveries and iterators (kept off the public class). */
class Core<T> {
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
  #seq = 0;
  #scheduled = 0;

  constructor(options: MemoryQueueOptions<T>) {
    const { maxsize = Number.POSITIVE_INFINITY, order = 'fifo', name = 'memory' } = options;
    const {
      maxAttempts = 1,
      backoff = { type: 'exponential', delay: 100, max: 30_000 },
      deadLetter,
    } = options;
    assertMaxsize(maxsize);
    assertMaxAttempts(maxAttempts);
    assertBackoff(backoff);
    if (deadLetter !== undefined && typeof deadLetter?.send !== 'function') {
      throw new InvalidOptionError('deadLetter', deadLetter, 'a Producer (an object with send)');
    }
    if (order === 'fifo') this.buffer = new Fifo();
    else if (order === 'lifo') this.buffer = new Lifo();
    else if (order === 'priority') this.buffer = new PriorityHeap();
    else throw new InvalidOptionError('order', order, '"fifo", "lifo" or "priority"');
    this.name = name;
    this.maxsize = maxsize;
    this.#maxAttempts = maxAttempts;
    this.#backoff = backoff;
    this.#deadLetter = deadLetter;
  }

  get ended(): boolean {
    return this.closed && this.buffer.size === 0 && this.#scheduled === 0;
  }

  send(message: T, options: SendOptions | undefined): Promise<void> {
    if (this.closed) return Promise.reject(new QueueClosedError(this.name));
    if (options === undefined)
      return this.#accept(new MemoryDelivery(this, message, 1, 0, this.#seq++, undefined));
    try {
      assertSendOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    const { priority = 0, delay = 0, key } = options;
    if (key !== undefined) {
      if (this.#keys.has(key)) return RESOLVED;
      this.#keys.add(key);
    }
    const delivery = new MemoryDelivery(this, message, 1, priority, this.#seq++, key);
    if (delay > 0) {
      this.#schedule(delivery, delay);
      return RESOLVED;
    }
    return this.#accept(delivery);
  }

  /** The next delivery if one is ready now; admits a waiting sender into the freed slot. */
  take(): MemoryDelivery<T> | undefined {
    const delivery = this.buffer.shift();
    if (delivery !== undefined) {
      if (this.#senders.size > 0 && this.buffer.size < this.maxsize) this.#admit(this.#senders.shift()!);
      return delivery;
    }
    const sender = this.#senders.shift(); // rendezvous: take straight from the sender
    if (sender === undefined) return undefined;
    sender.resolve();
    return sender.delivery;
  }

  wait(consumer: Waiter<Delivery<T>>): void {
    this.#consumers.push(consumer);
  }

  /** Resolves the pending `next()` calls of an iterator that was returned. */
  release(iterator: MemoryIterator<T>): void {
    const kept = new Fifo<Waiter<Delivery<T>>>();
    for (let c = this.#consumers.shift(); c !== undefined; c = this.#consumers.shift()) {
      if (c.iterator === iterator) c.received(undefined);
      else kept.push(c);
    }
    this.#consumers = kept;
  }

  resize(maxsize: number): void {
    assertMaxsize(maxsize);
    this.maxsize = maxsize;
    while (this.#senders.size > 0 && this.buffer.size < maxsize) this.#admit(this.#senders.shift()!);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (let s = this.#senders.shift(); s !== undefined; s = this.#senders.shift()) {
      this.#forget(s.delivery);
      s.reject(new QueueClosedError(this.name));
    }
    this.#endIfDrained();
  }

  ack(delivery: MemoryDelivery<T>): void {
    this.#forget(delivery);
  }

  nack(delivery: MemoryDelivery<T>, options: NackOptions): Promise<void> {
    const spent = delivery.attempt >= this.#maxAttempts;
    if (options.requeue === false || (options.requeue !== true && spent)) return this.#deadLetterOf(delivery);
    const delay = options.delay ?? (options.requeue ? 0 : backoffDelay(this.#backoff, delivery.attempt));
    const { message, attempt, priority, key } = delivery;
    const retry = new MemoryDelivery(this, message, attempt + 1, priority, this.#seq++, key);
    if (delay > 0) this.#schedule(retry, delay);
    else this.#enqueue(retry);
    return RESOLVED;
  }

  #accept(delivery: MemoryDelivery<T>): Promise<void> {
    if (this.#handOff(delivery)) return RESOLVED;
    if (this.buffer.size < this.maxsize) {
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

  #admit(sender: WaitingSender<T>): void {
    this.buffer.push(sender.delivery);
    sender.resolve();
  }

  #schedule(delivery: MemoryDelivery<T>, delay: number): void {
    this.#scheduled++;
    this.#wait(delivery, delay);
  }

  #wait(delivery: MemoryDelivery<T>, delay: number): void {
    if (delay > MAX_TIMER_MS) {
      setTimeout(() => this.#wait(delivery, delay - MAX_TIMER_MS), MAX_TIMER_MS);
      return;
    }
    setTimeout(() => {
      this.#scheduled--;
      delivery.seq = this.#seq++; // ready now: it queues behind what was ready before it
      this.#enqueue(delivery);
      this.#endIfDrained();
    }, delay);
  }

  #deadLetterOf(delivery: MemoryDelivery<T>): Promise<void> {
    this.#forget(delivery);
    return this.#deadLetter ? this.#deadLetter.send(delivery.message) : RESOLVED;
  }

  #forget(delivery: MemoryDelivery<T>): void {
    if (delivery.key !== undefined) this.#keys.delete(delivery.key);
  }

  #endIfDrained(): void {
    if (!this.ended) return;
    for (let c = this.#consumers.shift(); c !== undefined; c = this.#consumers.shift()) c.received(undefined);
  }
}

class MemoryDelivery<T> implements Delivery<T> {
  #settled = false;

  constructor(
    private readonly core: Core<T>,
    readonly message: T,
    readonly attempt: number,
    readonly priority: number,
    public seq: number,
    readonly key: string | undefined,
  ) {}

  ack(): Promise<void> {
    if (this.#settled) return Promise.reject(new DeliverySettledError(this.core.name));
    this.#settled = true;
    this.core.ack(this);
    return RESOLVED;
  }

  nack(options: NackOptions = {}): Promise<void> {
    if (this.#settled) return Promise.reject(new DeliverySettledError(this.core.name));
    try {
      assertNackOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    this.#settled = true;
    return this.core.nack(this, options);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.#settled ? RESOLVED : this.nack();
  }
}

class MemoryIterator<T> implements AsyncIterator<Delivery<T>> {
  #returned = false;

  constructor(private readonly core: Core<T>) {}

  next(): Promise<IteratorResult<Delivery<T>>> {
    if (this.#returned) return DONE_PROMISE;
    const delivery = this.core.take();
    if (delivery !== undefined) return Promise.resolve({ value: delivery, done: false });
    if (this.core.ended) return DONE_PROMISE;
    return new Promise((resolve) =>
      this.core.wait({
        iterator: this,
        received: (next) => resolve(next === undefined ? DONE : { value: next, done: false }),
      }),
    );
  }

  /** For a waiter whose `iterator` is this one, once `takeNow` found nothing. */
  [waitNow](waiter: Waiter<Delivery<T>>): void {
    if (this.#returned || this.core.ended) waiter.received(undefined);
    else this.core.wait(waiter);
  }

  return(): Promise<IteratorResult<Delivery<T>>> {
    this.#returned = true;
    this.core.release(this);
    return DONE_PROMISE;
  }
}

function assertMaxsize(maxsize: unknown): asserts maxsize is number {
  const valid =
    typeof maxsize === 'number' &&
    maxsize >= 0 &&
    (Number.isInteger(maxsize) || maxsize === Number.POSITIVE_INFINITY);
  if (!valid) throw new InvalidOptionError('maxsize', maxsize, 'an integer ≥ 0 or Infinity');
}
