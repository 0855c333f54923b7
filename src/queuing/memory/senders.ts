import { Fifo } from './buffers.js';
import type { HeldKeys } from './held-keys.js';
import type { MemoryDelivery } from './memory-delivery.js';

interface WaitingSender<T> {
  readonly delivery: MemoryDelivery<T>;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * The senders waiting for room in a full MemoryQueue, let in in arrival order. A sender's `send`
 * resolves once its message is accepted: let in before it goes anywhere, so a consumer taking it
 * at once cannot see the next sender resolve first.
 */
export class WaitingSenders<T> {
  readonly #waiting = new Fifo<WaitingSender<T>>();
  readonly #keys: HeldKeys;

  constructor(keys: HeldKeys) {
    this.#keys = keys;
  }

  get size(): number {
    return this.#waiting.size;
  }

  /** The first sender's message, still waiting. */
  get first(): MemoryDelivery<T> | undefined {
    return this.#waiting.peek()?.delivery;
  }

  /** `send`'s answer for a message that waits for room. */
  wait(delivery: MemoryDelivery<T>): Promise<void> {
    return new Promise((resolve, reject) => this.#waiting.push({ delivery, resolve, reject }));
  }

  /** Lets the first sender in (there must be one): its send resolves; returns its message. */
  admit(): MemoryDelivery<T> {
    const sender = this.#waiting.shift()!;
    if (sender.delivery.key !== undefined) this.#keys.accepted(sender.delivery.key);
    sender.resolve();
    return sender.delivery;
  }

  /** Every waiting send rejects with `error`; their keys are free again. */
  refuseAll(error: () => Error): void {
    for (let sender = this.#waiting.shift(); sender !== undefined; sender = this.#waiting.shift()) {
      if (sender.delivery.key !== undefined) this.#keys.release(sender.delivery.key);
      sender.reject(error());
    }
  }
}
