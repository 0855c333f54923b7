import { Fifo } from '../../queuing/memory/buffers.js';
import { parseGroupToken } from './names.js';

/** One band of one group: a durable consumer (`p<band>_<group key>`) pulled a message at a time. */
export interface GroupBand {
  readonly token: string;
  readonly priority: number;
  readonly group: Group<unknown>;
  /** The last pull found nothing: not pulled again until something says it may hold one. */
  empty: boolean;
}

/** A group as a consumer sees it: its bands, highest first, and what it fetched of them. */
export interface Group<D> {
  /** Its key (names.ts groupKey): the key-value key of its slots ends with it. */
  readonly key: string;
  bands: GroupBand[];
  /** What it fetched, highest priority first (then in the order it came): at most a few. */
  readonly buffer: D[];
  /** The band whose pull is in flight, with the batch asked and what arrived so far. */
  pulling: GroupBand | undefined;
  requested: number;
  received: number;
  issuedAt: number;
  /** Slots taken for the pull in flight and not yet given to a delivery. */
  slots: number;
  /** In the ring of groups with buffered deliveries. */
  queued: boolean;
  /** Pending asynchronous schema checks, chained so the group keeps its order. */
  tail: Promise<void> | undefined;
}

/**
 * The groups of a queue a consumer knows, and the round-robin of those with buffered deliveries:
 * each hand-out takes the head of the next group in the ring, then the group goes to the back if
 * it has more. The default group (messages sent with no group, in the priority bands) takes its
 * turn in the same ring, as the `undefined` member.
 */
export class Groups<D extends { readonly priority: number }> {
  readonly #bands = new Map<string, GroupBand>();
  readonly #groups = new Map<string, Group<D>>();
  readonly #ring = new Fifo<Group<D> | undefined>();
  #defaultQueued = false;

  get size(): number {
    return this.#groups.size;
  }

  all(): IterableIterator<Group<D>> {
    return this.#groups.values();
  }

  band(token: string): GroupBand | undefined {
    return this.#bands.get(token);
  }

  /** The band of a grouped token, known from now on; undefined when the token is not one. */
  add(token: string): GroupBand | undefined {
    const known = this.#bands.get(token);
    if (known !== undefined) return known;
    const parsed = parseGroupToken(token);
    if (parsed === undefined) return undefined;
    let group = this.#groups.get(parsed.key);
    if (group === undefined) {
      group = {
        key: parsed.key,
        bands: [],
        buffer: [],
        pulling: undefined,
        requested: 0,
        received: 0,
        issuedAt: 0,
        slots: 0,
        queued: false,
        tail: undefined,
      };
      this.#groups.set(parsed.key, group);
    }
    const band: GroupBand = {
      token,
      priority: parsed.priority,
      group: group as Group<unknown>,
      empty: false,
    };
    group.bands = [...group.bands, band].sort((a, b) => b.priority - a.priority);
    this.#bands.set(token, band);
    return band;
  }

  /** Buffers a delivery of `group`, after those of its priority or higher; the group joins the ring. */
  buffer(group: Group<D>, delivery: D): void {
    let at = group.buffer.length;
    while (at > 0 && group.buffer[at - 1]!.priority < delivery.priority) at--;
    group.buffer.splice(at, 0, delivery);
    if (group.queued) return;
    group.queued = true;
    this.#ring.push(group);
  }

  /** The default group has buffered deliveries: it joins the ring if it was not in it. */
  defaultBuffered(): void {
    if (this.#defaultQueued) return;
    this.#defaultQueued = true;
    this.#ring.push(undefined);
  }

  /**
   * The next group in turn, left at the head of the ring (`undefined`: the default group, `null`:
   * none has anything buffered). `defaultReady` says whether the default group has a delivery
   * that may be handed out now.
   */
  peek(defaultReady: boolean): Group<D> | undefined | null {
    for (let turns = this.#ring.size; turns > 0; turns--) {
      const head = this.#ring.peek();
      if (head === undefined ? defaultReady : head.buffer.length > 0 && nextBand(head) === undefined) {
        return head;
      }
      this.#ring.shift();
      if (head !== undefined && head.buffer.length > 0)
        this.#ring.push(head); // waits for a higher band
      else if (head === undefined) this.#defaultQueued = false;
      else head.queued = false;
    }
    return null;
  }

  /** The group at the head of the ring took its turn: to the back of the ring, or out if done. */
  served(more: boolean): void {
    const head = this.#ring.shift();
    if (more) this.#ring.push(head);
    else if (head === undefined) this.#defaultQueued = false;
    else head.queued = false;
  }
}

/**
 * The band of a group to pull next: the highest that may hold a message when nothing is buffered,
 * else one higher than the best buffered (a message of higher priority came since). A group with
 * such a band hands nothing out until it answered, so its messages go out highest priority first
 * though one was fetched ahead.
 */
export function nextBand(group: Group<{ readonly priority: number }>): GroupBand | undefined {
  const best = group.buffer[0]?.priority ?? Number.NEGATIVE_INFINITY;
  return group.bands.find((band) => !band.empty && band.priority > best);
}
