import { Fifo } from '../../queuing/memory/buffers.js';

/**
 * What a consumer received and has not handed out, oldest first. Nothing is handed out while the
 * queue is paused (pause.ts). Once the broker confirmed the consumer's cancel (it ended or paused),
 * what is held, and what still arrives, goes back to the broker through `putBack`; putting it back
 * only then keeps the copies from being pushed straight back to this consumer. A consumer puts a
 * message back as a copy with the same attempt, at the back of the queue (Settler.release): a nack
 * with requeue would mark it redelivered, which counts as a failed attempt.
 */
export class Prefetched<D> {
  #held = new Fifo<D>();
  #paused = false;
  #cancelled = false;

  constructor(private readonly putBack: (delivery: D) => void) {}

  /** Whether a delivery may be handed out now. */
  get open(): boolean {
    return !this.#paused && !this.#cancelled;
  }

  get size(): number {
    return this.#held.size;
  }

  /** The next delivery to hand out, unless paused. */
  take(): D | undefined {
    return this.#paused ? undefined : this.#held.shift();
  }

  /** Keeps a delivery no one waited for; puts it back once cancelled. */
  hold(delivery: D): void {
    if (this.#cancelled) this.putBack(delivery);
    else this.#held.push(delivery);
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
    for (let delivery = this.#held.shift(); delivery !== undefined; delivery = this.#held.shift()) {
      this.putBack(delivery);
    }
  }

  /** Consuming again after a pause. */
  resume(): void {
    this.#paused = false;
    this.#cancelled = false;
  }

  /** The channel closed: the broker requeued what it held. */
  dropped(): void {
    this.#held = new Fifo();
  }
}
