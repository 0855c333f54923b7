/** A delivery's group; undefined for the default group. */
interface Grouped {
  readonly group?: string | undefined;
}

/**
 * The deliveries of each group a consumer has out (handed out, not yet settled), held against
 * `groupConcurrency`. A group queue has a single active consumer (group-queues.ts), so what one
 * consumer has out of a group is all of it that is out, in every process. Deliveries handed out
 * while no cap applied are not counted.
 */
export class GroupSlots<D extends Grouped> {
  readonly #out = new Map<string, number>();
  readonly #counted = new Set<D>();
  cap: number | undefined;

  /** Whether a delivery of `group` may be handed out now. */
  readonly admits = (group: string | undefined): boolean =>
    this.cap === undefined || (this.#out.get(group ?? '') ?? 0) < this.cap;

  taken(delivery: D): void {
    if (this.cap === undefined) return;
    const group = delivery.group ?? '';
    this.#out.set(group, (this.#out.get(group) ?? 0) + 1);
    this.#counted.add(delivery);
  }

  /** The delivery was settled; true when that freed a slot of its group. */
  given(delivery: D): boolean {
    if (!this.#counted.delete(delivery)) return false;
    const group = delivery.group ?? '';
    const out = this.#out.get(group)! - 1;
    if (out === 0) this.#out.delete(group);
    else this.#out.set(group, out);
    return true;
  }
}
