import { type Buffer, Fifo } from './buffers.js';

/** What a grouped buffer holds: elements that name their group (`undefined`: the default group). */
export interface Grouped {
  readonly group: string | undefined;
}

/** One group: its ready elements, in the queue's order, and how many of its elements are out. */
class Group<E> {
  /** Handed out and not settled yet. */
  out = 0;
  /** Whether it is in the ring. */
  ringed = false;

  constructor(
    readonly name: string | undefined,
    readonly buffer: Buffer<E>,
  ) {}
}

/**
 * A MemoryQueue's ready messages once it has groups: a buffer per group and a ring of the groups
 * with ready messages below the cap (`groupConcurrency`). `shift` takes the head of the first group
 * in the ring and puts that group back at the ring's end: round-robin, so a group with a deep backlog
 * delays another group's message by at most one round of the groups with ready messages.
 *
 * It also counts each group's elements out, from `shift` (or `handedOut`) until `settled`. A group
 * at the cap is dropped from the ring when its turn comes and rejoins at the end once one of its
 * elements is settled. Groups with nothing ready and nothing out are forgotten.
 */
export class GroupedBuffer<E extends Grouped> implements Buffer<E> {
  readonly #groups = new Map<string | undefined, Group<E>>();
  readonly #ring = new Fifo<Group<E>>();
  readonly #newBuffer: () => Buffer<E>;
  #cap = Number.POSITIVE_INFINITY;
  #size = 0;

  /**
   * `held`: what the queue held before it had groups, now its default group's; `out`: the
   * deliveries out then, all of the default group.
   */
  constructor(newBuffer: () => Buffer<E>, held: Buffer<E>, out: number) {
    this.#newBuffer = newBuffer;
    const defaultGroup = new Group<E>(undefined, held);
    defaultGroup.out = out;
    this.#groups.set(undefined, defaultGroup);
    this.#size = held.size;
    this.#ringIfReady(defaultGroup);
  }

  get size(): number {
    return this.#size;
  }

  /** The default group's buffer: all the queue holds while no message has a group. */
  get defaultBuffer(): Buffer<E> {
    return this.#group(undefined).buffer;
  }

  /** At most `cap` elements of one group out at once; groups below a raised cap rejoin the ring. */
  cap(cap: number): void {
    this.#cap = cap;
    for (const group of this.#groups.values()) this.#ringIfReady(group);
  }

  /** Whether an element of `group` may be handed out now (it is below the cap). */
  admits(group: string | undefined): boolean {
    return (this.#groups.get(group)?.out ?? 0) < this.#cap;
  }

  /** Counts an element of `group` handed out from elsewhere (a waiting sender's). */
  handedOut(group: string | undefined): void {
    this.#group(group).out++;
  }

  settled(group: string | undefined): void {
    const settled = this.#groups.get(group)!;
    settled.out--;
    this.#ringIfReady(settled);
    this.#forgetIfIdle(settled);
  }

  push(element: E): void {
    const group = this.#group(element.group);
    group.buffer.push(element);
    this.#size++;
    this.#ringIfReady(group);
  }

  /** The next group's next element, counted as out; `undefined` when every group is empty or capped. */
  shift(): E | undefined {
    for (let group = this.#ring.shift(); group !== undefined; group = this.#ring.shift()) {
      group.ringed = false;
      if (group.buffer.size === 0 || group.out >= this.#cap) {
        this.#forgetIfIdle(group);
        continue;
      }
      const element = group.buffer.shift()!;
      this.#size--;
      group.out++;
      this.#ringIfReady(group);
      return element;
    }
    return undefined;
  }

  toArray(): E[] {
    return [...this.#groups.values()].flatMap((group) => group.buffer.toArray());
  }

  removeWhere(match: (element: E) => boolean): E[] {
    const removed: E[] = [];
    for (const group of this.#groups.values()) {
      for (const element of group.buffer.removeWhere(match)) removed.push(element);
      this.#forgetIfIdle(group);
    }
    this.#size -= removed.length;
    return removed;
  }

  #group(name: string | undefined): Group<E> {
    let group = this.#groups.get(name);
    if (group === undefined) {
      group = new Group(name, this.#newBuffer());
      this.#groups.set(name, group);
    }
    return group;
  }

  #ringIfReady(group: Group<E>): void {
    if (group.ringed || group.buffer.size === 0 || group.out >= this.#cap) return;
    group.ringed = true;
    this.#ring.push(group);
  }

  #forgetIfIdle(group: Group<E>): void {
    if (!group.ringed && group.out === 0 && group.buffer.size === 0) this.#groups.delete(group.name);
  }
}
