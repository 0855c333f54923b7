import { randomUUID } from 'node:crypto';
import type { FlowStore } from './flow-store.js';

/**
 * A group's slots, the value of key `<n>.slots.<group>`: JSON `[[holder, count, until], ...]`, one
 * entry per consuming queue handle holding slots of the group (`holder` a random id it picks),
 * `until` the time (ms since the epoch, the holder's clock) its slots lapse unless renewed. A holder
 * renews its entries with its heartbeats (every third of the visibility timeout) to a visibility
 * timeout ahead, so a crashed holder's slots lapse when its messages come back to the stream.
 */
type SlotEntry = [holder: string, count: number, until: number];

function parseSlots(value: string | undefined): SlotEntry[] {
  if (value === undefined) return [];
  try {
    const entries = JSON.parse(value) as unknown;
    return Array.isArray(entries) ? (entries as SlotEntry[]).filter(isEntry) : [];
  } catch {
    return []; // not written by sluice: nobody holds a slot
  }
}

function isEntry(entry: unknown): boolean {
  return (
    Array.isArray(entry) &&
    typeof entry[0] === 'string' &&
    Number.isSafeInteger(entry[1]) &&
    entry[1] > 0 &&
    Number.isFinite(entry[2])
  );
}

/**
 * One consumer's slots across the groups of its queue. Operations on one key run one after the
 * other (a release waits for the acquire before it), each a compare-and-set of the key.
 */
export class GroupSlots {
  readonly #holder = randomUUID();
  /** Slots this handle holds, by key-value key. */
  readonly #held = new Map<string, number>();
  readonly #chains = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: FlowStore,
    private readonly lease: number,
  ) {}

  held(key: string): number {
    return this.#held.get(key) ?? 0;
  }

  /** Takes up to `wanted` slots of a group capped at `cap` across holders: how many it took. */
  acquire(key: string, wanted: number, cap: number): Promise<number> {
    return this.#chain(key, () =>
      this.store.update(key, (value) => {
        const now = Date.now();
        const entries = parseSlots(value).filter(([, , until]) => until > now);
        let used = 0;
        for (const [, count] of entries) used += count;
        const granted = Math.max(0, Math.min(wanted, cap - used));
        if (granted === 0) return { write: undefined, result: 0 };
        return { write: this.#written(entries, this.held(key) + granted, now), result: granted };
      }),
    ).then((granted) => {
      if (granted > 0) this.#held.set(key, this.held(key) + granted);
      return granted;
    });
  }

  /** Gives back `count` slots of a group; an outage leaves them to lapse. */
  release(key: string, count: number): Promise<void> {
    const left = this.held(key) - count;
    if (left > 0) this.#held.set(key, left);
    else this.#held.delete(key);
    return this.#write(key, () => this.held(key));
  }

  /** Renews every slot this handle holds to a lease ahead of now. */
  renew(): void {
    for (const key of this.#held.keys()) void this.#write(key, () => this.held(key));
  }

  /** Writes this handle's entry of `key` with the count it holds when the write runs. */
  #write(key: string, count: () => number): Promise<void> {
    return this.#chain(key, () =>
      this.store.update(key, (value) => {
        const now = Date.now();
        const entries = parseSlots(value).filter(([, , until]) => until > now);
        return { write: this.#written(entries, count(), now), result: undefined };
      }),
    ).catch(() => {});
  }

  /** The entries with this handle's holding `count` slots for a lease from `now` (none when 0). */
  #written(entries: SlotEntry[], count: number, now: number): string {
    const others = entries.filter(([holder]) => holder !== this.#holder);
    if (count > 0) others.push([this.#holder, count, now + this.lease]);
    return JSON.stringify(others);
  }

  #chain<R>(key: string, operation: () => Promise<R>): Promise<R> {
    const previous = this.#chains.get(key) ?? Promise.resolve();
    const next = previous.then(operation, operation);
    const tail = next.catch(() => {});
    this.#chains.set(key, tail);
    void tail.then(() => this.#chains.get(key) === tail && this.#chains.delete(key));
    return next;
  }
}
