import { Timer } from '../../timer.js';

/**
 * A MemoryQueue's accepted messages waiting out a delay or a backoff, one timer each; they count
 * toward `maxsize` while they wait. Their timers keep the process alive while the queue is open or
 * an iterator is: a closed queue nobody consumes any more must let the process exit.
 */
export class DelayedMessages<D> {
  readonly #timers = new Map<Timer, D>();
  readonly #ready: (delivery: D) => void;
  #held = true;
  #closed = false;
  /** Iterators not returned yet. */
  #iterators = 0;

  /** `ready`: called with each message once its wait is over. */
  constructor(ready: (delivery: D) => void) {
    this.#ready = ready;
  }

  get size(): number {
    return this.#timers.size;
  }

  add(delivery: D, delay: number): void {
    const timer = new Timer(delay, () => {
      this.#timers.delete(timer);
      this.#ready(delivery);
    });
    if (!this.#held) timer.hold(false);
    this.#timers.set(timer, delivery);
  }

  /** The waiting messages, left waiting. */
  toArray(): D[] {
    return [...this.#timers.values()];
  }

  /** Cancels the waits of the messages `match` accepts; returns those messages. */
  removeWhere(match: (delivery: D) => boolean): D[] {
    const removed: D[] = [];
    for (const [timer, delivery] of this.#timers) {
      if (!match(delivery)) continue;
      timer.cancel();
      this.#timers.delete(timer);
      removed.push(delivery);
    }
    return removed;
  }

  /** An iterator on the queue opened. */
  opened(): void {
    this.#iterators++;
    this.#hold();
  }

  /** An iterator on the queue was returned. */
  returned(): void {
    this.#iterators--;
    this.#hold();
  }

  /** The queue closed. */
  closed(): void {
    this.#closed = true;
    this.#hold();
  }

  /** Whether the timers, those added later included, keep the process alive (as `setTimeout` does). */
  #hold(): void {
    const held = !this.#closed || this.#iterators > 0;
    if (held === this.#held) return;
    this.#held = held;
    for (const timer of this.#timers.keys()) timer.hold(held);
  }
}
