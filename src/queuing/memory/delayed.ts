import { Timer } from '../../timer.js';

/**
 * A MemoryQueue's accepted messages waiting out a delay or a backoff, one timer each; they count
 * toward `maxsize` while they wait. The queue says whether their timers keep the process alive
 * (`hold`): a closed queue nobody consumes any more must let the process exit.
 */
export class DelayedMessages<D> {
  readonly #timers = new Map<Timer, D>();
  readonly #ready: (delivery: D) => void;
  #held = true;

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

  /** Whether the timers, those added later included, keep the process alive (as `setTimeout` does). */
  hold(held: boolean): void {
    this.#held = held;
    for (const timer of this.#timers.keys()) timer.hold(held);
  }
}
