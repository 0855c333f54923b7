import { RESOLVED } from '../settled.js';

/**
 * A MemoryQueue's deduplication keys: those of messages held anywhere (buffered, scheduled, waiting
 * for room or being processed), and the pending `send` of each keyed message still waiting for room.
 */
export class HeldKeys {
  readonly #held = new Set<string>();
  readonly #waiting = new Map<string, Promise<void>>();

  /**
   * For a duplicate, the send it shares (a duplicate adds no copy; while the message holding the key
   * waits for room, it shares its fate); `undefined` for a new key, held from now on.
   */
  duplicate(key: string): Promise<void> | undefined {
    if (this.#held.has(key)) return this.#waiting.get(key) ?? RESOLVED;
    this.#held.add(key);
    return undefined;
  }

  waiting(key: string, send: Promise<void>): void {
    this.#waiting.set(key, send);
  }

  accepted(key: string): void {
    this.#waiting.delete(key);
  }

  release(key: string): void {
    this.#held.delete(key);
    this.#waiting.delete(key);
  }
}
