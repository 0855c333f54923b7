import { Fifo } from '../../queuing/memory/buffers.js';

/** A delivery's group; undefined for the default group. */
interface Grouped {
  readonly group?: string | undefined;
}

/**
 * What a consumer received and has not handed out, oldest first within each group, the groups taken
 * round-robin (SPEC § 7: each hand-out takes the head of the next group in turn). Nothing is handed out while the
 * queue is paused (pause.ts). Once the broker confirmed the consumer's cancel (it ended or paused),
 * what is held, and what still arrives, goes back to the broker through `putBack`; putting it back
 * only then keeps the copies from being pushed straight back to this consumer. A consumer puts a
 * message back as a copy with the same attempt, at the back of the queue (Settler.release): a nack
 * with requeue would mark it redelivered, which counts as a failed attempt.
 */
export class Prefetched<D extends Grouped> {
  /** The default group's deliveries: the only ones on a queue whose messages have no group. */
  #held = new Fifo<D>();
  /** Each group's deliveries, and the ring of the groups holding some (the default group's too). */
  #groups = new Map<string, Fifo<D>>();
  #turns = new Fifo<Fifo<D>>();
  /** Grouped deliveries held: while none is, the default group's are taken with no ring. */
  #grouped = 0;
  #paused = false;
  #cancelled = false;

  constructor(private readonly putBack: (delivery: D) => void) {}

  /** Whether a delivery may be handed out now. */
  get open(): boolean {
    return !this.#paused && !this.#cancelled;
  }

  get size(): number {
    return this.#held.size + this.#grouped;
  }

  /**
   * The next delivery to hand out, unless paused: the head of the next group in turn that `admits`
   * (default: every group) lets out now.
   */
  take(admits?: (group: string | undefined) => boolean): D | undefined {
    return this.#paused ? undefined : this.#next(admits);
  }

  #next(admits?: (group: string | undefined) => boolean): D | undefined {
    if (this.#grouped === 0)
      return admits === undefined || admits(undefined) ? this.#held.shift() : undefined;
    for (let turns = this.#turns.size; turns > 0; turns--) {
      const fifo = this.#turns.shift()!;
      const group = fifo.peek()!.group;
      if (admits !== undefined && !admits(group)) {
        this.#turns.push(fifo);
        continue;
      }
      const delivery = fifo.shift()!;
      if (fifo.size > 0) this.#turns.push(fifo);
      if (group !== undefined && --this.#grouped === 0) this.#turns = new Fifo();
      return delivery;
    }
    return undefined;
  }

  /** Keeps a delivery no one waited for; puts it back once cancelled. */
  hold(delivery: D): void {
    const { group } = delivery;
    if (this.#cancelled) this.putBack(delivery);
    else if (group === undefined) this.#holdDefault(delivery);
    else this.#holdGrouped(group, delivery);
  }

  #holdDefault(delivery: D): void {
    this.#held.push(delivery);
    if (this.#grouped > 0 && this.#held.size === 1) this.#turns.push(this.#held);
  }

  #holdGrouped(group: string, delivery: D): void {
    let fifo = this.#groups.get(group);
    if (fifo === undefined) {
      fifo = new Fifo();
      this.#groups.set(group, fifo);
    }
    if (this.#grouped++ === 0 && this.#held.size > 0) this.#turns.push(this.#held);
    if (fifo.size === 0) this.#turns.push(fifo);
    fifo.push(delivery);
  }

  /** Holds everything from now on, and puts it back once `cancel` (the broker consumer's) ended. */
  pause(cancel: Promise<unknown>): Promise<void> {
    this.#paused = true;
    return this.cancelledAfter(cancel);
  }

  /** Once the broker answered the consumer's cancel, puts back what is held. */
  async cancelledAfter(cancel: Promise<unknown>): Promise<void> {
    await cancel.catch(() => {}); // failed: the channel is closing, and requeues what it held
    this.#cancelled = true;
    for (let delivery = this.#next(); delivery !== undefined; delivery = this.#next()) this.putBack(delivery);
  }

  /** Consuming again (after a pause, or on a new channel); nothing is handed out until `opened`. */
  resume(): void {
    this.#paused = true; // until `opened`: every group's consumer is started first
    this.#cancelled = false;
  }

  /** Consuming started on every group queue: hand-outs go on, each group in turn. */
  opened(): void {
    this.#paused = false;
  }

  /** The channel closed: the broker requeued what it held. */
  dropped(): void {
    this.#held = new Fifo();
    this.#groups = new Map();
    this.#turns = new Fifo();
    this.#grouped = 0;
  }
}
