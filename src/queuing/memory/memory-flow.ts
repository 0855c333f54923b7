import { Timer } from '../../timer.js';
import { limitsFlow } from '../flow-options.js';
import type { Waiter } from '../hand-off.js';
import { RESOLVED } from '../settled.js';
import type { Delivery, FlowLimits } from '../types.js';
import type { Buffer, Fifo } from './buffers.js';
import { GroupedBuffer } from './groups.js';
import type { MemoryDelivery } from './memory-delivery.js';
import { RateWindow } from './rate-window.js';
import { type Holding, hasRoom, overfull } from './room.js';
import type { WaitingSenders } from './senders.js';

/** The parts of a MemoryQueue's core that its flow control hands out through. */
export interface FlowHost<T> extends Holding {
  buffer: Buffer<MemoryDelivery<T>>;
  readonly newBuffer: () => Buffer<MemoryDelivery<T>>;
  readonly paused: boolean;
  readonly closed: boolean;
  inFlight: number;
  readonly consumers: Fifo<Waiter<Delivery<T>>>;
  readonly senders: WaitingSenders<T>;
  endIfDrained(): void;
}

/**
 * How a MemoryQueue hands out once it has groups or limits (a queue with neither never makes one).
 * Its ready messages are in a `GroupedBuffer`, taken round-robin across groups, and every hand-out,
 * to whichever consumer, is within the queue's limits: those given last by an open iterator that
 * still gives any (the pumps on one queue are expected to agree).
 *
 * Consumers may now wait while messages are ready (their group is at its cap, or the rate window is
 * full), so whatever may free a hand-out serves them: a message ready, a group's delivery settled,
 * the window freeing (a timer), the limits changing.
 */
export class MemoryFlow<T> {
  readonly buffer: GroupedBuffer<MemoryDelivery<T>>;
  /** Whether a message with a group was ever sent: the queue then keeps its groups for good. */
  grouped = false;
  readonly #host: FlowHost<T>;
  /** Each iterator's limits, oldest first: the last apply. */
  readonly #given: { readonly iterator: object; readonly limits: FlowLimits }[] = [];
  #rate: RateWindow | undefined;
  /** Serves the waiting consumers once the rate window frees. */
  #wake: Timer | undefined;

  /** Takes over the queue's ready messages: those held so far are its default group's. */
  constructor(host: FlowHost<T>) {
    this.#host = host;
    this.buffer = new GroupedBuffer(host.newBuffer, host.buffer, host.inFlight);
    host.buffer = this.buffer;
  }

  /**
   * `iterator`'s limits from now on: with none in them, those it gave before are withdrawn. `false`
   * when no limits are left and no message ever had a group: the queue's plain path takes over again.
   */
  limit(iterator: object, limits: FlowLimits): boolean {
    const at = this.#given.findIndex((given) => given.iterator === iterator);
    if (at >= 0) this.#given.splice(at, 1);
    if (limitsFlow(limits)) this.#given.push({ iterator, limits });
    const applied = this.#given.at(-1)?.limits;
    this.buffer.cap(applied?.groupConcurrency ?? Number.POSITIVE_INFINITY);
    const rate = applied?.rateLimit;
    if (rate === undefined) this.#rate = undefined;
    else if (this.#rate === undefined) this.#rate = new RateWindow(rate);
    else this.#rate.set(rate);
    // The wait it timed may have changed: the next refusal times it again.
    this.#wake?.cancel();
    this.#wake = undefined;
    if (this.#given.length > 0 || this.grouped) return true;
    this.#host.buffer = this.buffer.defaultBuffer;
    return false;
  }

  /** `take` for any consumer: the next delivery within the limits, or `undefined`. */
  take(): MemoryDelivery<T> | undefined {
    const delivery = this.#next();
    if (delivery !== undefined) this.serve(); // a sender it let in may suit a waiting consumer
    return delivery;
  }

  /** Hands what the limits let out to the waiting consumers, in their order. */
  serve(): void {
    const { consumers } = this.#host;
    while (consumers.size > 0) {
      const delivery = this.#next();
      if (delivery === undefined) break;
      consumers.shift()!.received(delivery);
    }
    if (this.#host.closed) this.#host.endIfDrained();
    this.hold();
  }

  /** A new message: buffered while there is room, else handed straight to a consumer if one may take it. */
  accept(delivery: MemoryDelivery<T>): Promise<void> {
    const host = this.#host;
    if (hasRoom(host)) {
      this.enqueue(delivery);
      return RESOLVED;
    }
    const straight = host.senders.size === 0 && !host.paused && host.consumers.size > 0 && !overfull(host);
    if (straight && this.#admits(delivery)) {
      this.#handedOut(delivery);
      host.inFlight++;
      host.consumers.shift()!.received(delivery);
      return RESOLVED;
    }
    return host.senders.wait(delivery);
  }

  /** A message the queue accepted, now ready. */
  enqueue(delivery: MemoryDelivery<T>): void {
    this.buffer.push(delivery);
    this.serve();
  }

  /** Admits waiting senders while there is room; the consumers then take what suits them. */
  admitWhileRoom(): void {
    const host = this.#host;
    while (host.senders.size > 0 && hasRoom(host)) this.buffer.push(host.senders.admit());
    this.serve();
  }

  /** Frees the delivery's place in its group. */
  settled(delivery: MemoryDelivery<T>): void {
    this.buffer.settled(delivery.group);
    this.serve();
  }

  /** The rate window's timer keeps the process alive only while a consumer waits for what it frees. */
  hold(): void {
    this.#wake?.hold(this.#host.consumers.size > 0);
  }

  /**
   * The next delivery within the limits, counted as handed out. A waiting sender's message is taken
   * once nothing buffered may go (a rendezvous queue's, or one over `maxsize`): the first sender's,
   * whose group then holds back those behind it.
   */
  #next(): MemoryDelivery<T> | undefined {
    const host = this.#host;
    const { senders } = host;
    if (host.paused || (this.buffer.size === 0 && senders.size === 0) || !this.#rateAllows())
      return undefined;
    let delivery = this.buffer.shift();
    if (delivery !== undefined) {
      this.#rate?.record(performance.now());
      // The freed slot goes to the first waiting sender.
      if (senders.size > 0 && hasRoom(host)) this.buffer.push(senders.admit());
    } else {
      const first = senders.first;
      if (first === undefined || overfull(host) || !this.buffer.admits(first.group)) return undefined;
      delivery = senders.admit();
      this.#handedOut(delivery);
    }
    host.inFlight++;
    return delivery;
  }

  #admits(delivery: MemoryDelivery<T>): boolean {
    return this.buffer.admits(delivery.group) && this.#rateAllows();
  }

  #handedOut(delivery: MemoryDelivery<T>): void {
    this.buffer.handedOut(delivery.group);
    this.#rate?.record(performance.now());
  }

  /** Whether the window has room for one more hand-out; if not, the consumers are served once it has. */
  #rateAllows(): boolean {
    if (this.#rate === undefined) return true;
    const wait = this.#rate.wait(performance.now());
    if (wait === 0) return true;
    if (this.#wake === undefined) {
      // Node may fire a timer up to a millisecond early: the window is checked again then.
      this.#wake = new Timer(Math.max(1, Math.ceil(wait)), () => {
        this.#wake = undefined;
        this.serve();
      });
      this.hold();
    }
    return false;
  }
}
