/**
 * The three orders a MemoryQueue can keep. Each is the simplest structure that is O(1) or
 * O(log n) per operation without allocating per element (the elements are the queue's deliveries).
 */
export interface Buffer<E> {
  readonly size: number;
  push(element: E): void;
  /** Removes and returns the next element in this buffer's order. */
  shift(): E | undefined;
  /** Every element, in no particular order, left in place (a scan: for an operator's look). */
  toArray(): E[];
  /** Removes the elements `match` accepts, keeping the others' order; returns those removed. */
  removeWhere(match: (element: E) => boolean): E[];
}

/** Makes an empty buffer of the queue's order (the `order` option). */
export function bufferMaker<E extends Prioritised>(order: 'fifo' | 'lifo' | 'priority'): () => Buffer<E> {
  if (order === 'fifo') return () => new Fifo();
  if (order === 'lifo') return () => new Lifo();
  return () => new PriorityHeap();
}

/** First in, first out: a growable ring, so `shift` never moves the other elements. */
export class Fifo<E> implements Buffer<E> {
  #ring: (E | undefined)[] = new Array(16);
  #head = 0;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(element: E): void {
    if (this.#size === this.#ring.length) this.#grow();
    this.#ring[(this.#head + this.#size) & (this.#ring.length - 1)] = element;
    this.#size++;
  }

  /** The first element, oldest first, that `match` accepts (a scan: for rare lookups). */
  find(match: (element: E) => boolean): E | undefined {
    for (let i = 0; i < this.#size; i++) {
      const element = this.#ring[(this.#head + i) & (this.#ring.length - 1)] as E;
      if (match(element)) return element;
    }
    return undefined;
  }

  /** The element `shift` would return, left in place. */
  peek(): E | undefined {
    return this.#size === 0 ? undefined : this.#ring[this.#head];
  }

  shift(): E | undefined {
    if (this.#size === 0) return undefined;
    const element = this.#ring[this.#head];
    this.#ring[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#ring.length - 1);
    this.#size--;
    return element;
  }

  toArray(): E[] {
    const elements: E[] = [];
    for (let i = 0; i < this.#size; i++)
      elements.push(this.#ring[(this.#head + i) & (this.#ring.length - 1)] as E);
    return elements;
  }

  removeWhere(match: (element: E) => boolean): E[] {
    const removed: E[] = [];
    for (const element of this.toArray()) {
      this.shift();
      if (match(element)) removed.push(element);
      else this.push(element);
    }
    return removed;
  }

  #grow(): void {
    const ring = new Array<E | undefined>(this.#ring.length * 2);
    for (let i = 0; i < this.#size; i++) ring[i] = this.#ring[(this.#head + i) & (this.#ring.length - 1)];
    this.#ring = ring;
    this.#head = 0;
  }
}

/** Last in, first out. */
export class Lifo<E> implements Buffer<E> {
  #stack: E[] = [];

  get size(): number {
    return this.#stack.length;
  }

  push(element: E): void {
    this.#stack.push(element);
  }

  shift(): E | undefined {
    return this.#stack.pop();
  }

  toArray(): E[] {
    return [...this.#stack];
  }

  removeWhere(match: (element: E) => boolean): E[] {
    const [kept, removed] = split(this.#stack, match);
    this.#stack = kept;
    return removed;
  }
}

export interface Prioritised {
  readonly priority: number;
  /** Arrival order: breaks ties so equal priorities leave in the order they came. */
  readonly seq: number;
}

/**
 * Highest priority first, FIFO among equals (lowest `seq` first). One bucket per distinct priority
 * and a binary max-heap of the priorities whose bucket holds something: a push or a shift touches
 * one bucket and sifts a heap of distinct priorities (usually a handful) instead of a heap of every
 * element, which on a deep queue was mostly cache misses.
 *
 * Elements nearly always reach their bucket in `seq` order; one that does not (a message that waited
 * for room arriving behind a retry) is inserted in place. Emptied buckets are kept for reuse, up to
 * IDLE_BUCKETS, so a queue that keeps emptying allocates nothing and one sent many distinct
 * priorities does not keep a bucket for each.
 */
export class PriorityHeap<E extends Prioritised> implements Buffer<E> {
  readonly #buckets = new Map<number, Bucket<E>>();
  /** Max-heap of the priorities of non-empty buckets. */
  readonly #priorities: number[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(element: E): void {
    let bucket = this.#buckets.get(element.priority);
    if (bucket === undefined) {
      bucket = new Bucket();
      this.#buckets.set(element.priority, bucket);
    }
    if (bucket.size === 0) heapPush(this.#priorities, element.priority);
    bucket.push(element);
    this.#size++;
  }

  shift(): E | undefined {
    if (this.#size === 0) return undefined;
    const priority = this.#priorities[0]!;
    const bucket = this.#buckets.get(priority)!;
    const element = bucket.shift();
    if (bucket.size === 0) {
      heapPop(this.#priorities);
      if (this.#buckets.size > IDLE_BUCKETS) this.#buckets.delete(priority);
    }
    this.#size--;
    return element;
  }

  toArray(): E[] {
    return [...this.#buckets.values()].flatMap((bucket) => bucket.toArray());
  }

  removeWhere(match: (element: E) => boolean): E[] {
    const removed = [...this.#buckets.values()].flatMap((bucket) => bucket.removeWhere(match));
    this.#size -= removed.length;
    this.#priorities.length = 0;
    for (const [priority, bucket] of this.#buckets) if (bucket.size > 0) heapPush(this.#priorities, priority);
    return removed;
  }
}

const IDLE_BUCKETS = 64;

/** A FIFO of elements kept in `seq` order: an array read from `#head`, compacted as it drains. */
class Bucket<E extends Prioritised> {
  #items: E[] = [];
  #head = 0;

  get size(): number {
    return this.#items.length - this.#head;
  }

  push(element: E): void {
    const items = this.#items;
    const last = items[items.length - 1];
    if (last === undefined || last.seq < element.seq) {
      items.push(element);
      return;
    }
    let low = this.#head;
    let high = items.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (items[middle]!.seq < element.seq) low = middle + 1;
      else high = middle;
    }
    items.splice(low, 0, element);
  }

  shift(): E {
    const element = this.#items[this.#head]!;
    this.#head++;
    if (this.#head === this.#items.length) {
      this.#items.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items.splice(0, this.#head);
      this.#head = 0;
    }
    return element;
  }

  toArray(): E[] {
    return this.#items.slice(this.#head);
  }

  removeWhere(match: (element: E) => boolean): E[] {
    const [kept, removed] = split(this.toArray(), match);
    this.#items = kept;
    this.#head = 0;
    return removed;
  }
}

/** `[kept, removed]`: the elements `match` rejects and those it accepts, each in their order. */
function split<E>(elements: readonly E[], match: (element: E) => boolean): [E[], E[]] {
  const kept: E[] = [];
  const removed: E[] = [];
  for (const element of elements) (match(element) ? removed : kept).push(element);
  return [kept, removed];
}

function heapPush(heap: number[], value: number): void {
  let i = heap.length;
  heap.push(value);
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent]! >= value) break;
    heap[i] = heap[parent]!;
    i = parent;
  }
  heap[i] = value;
}

function heapPop(heap: number[]): void {
  const last = heap.pop()!;
  const n = heap.length;
  if (n === 0) return;
  let i = 0;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap[child + 1]! > heap[child]!) child++;
    if (heap[child]! <= last) break;
    heap[i] = heap[child]!;
    i = child;
  }
  heap[i] = last;
}
