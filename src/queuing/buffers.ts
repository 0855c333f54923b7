/**
 * The three orders a MemoryQueue can keep. Each is the simplest structure that is O(1) or
 * O(log n) per operation without allocating per element (the elements are the queue's deliveries).
 */
export interface Buffer<E> {
  readonly size: number;
  push(element: E): void;
  /** Removes and returns the next element in this buffer's order. */
  shift(): E | undefined;
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

  shift(): E | undefined {
    if (this.#size === 0) return undefined;
    const element = this.#ring[this.#head];
    this.#ring[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#ring.length - 1);
    this.#size--;
    return element;
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
  readonly #stack: E[] = [];

  get size(): number {
    return this.#stack.length;
  }

  push(element: E): void {
    this.#stack.push(element);
  }

  shift(): E | undefined {
    return this.#stack.pop();
  }
}

export interface Prioritised {
  readonly priority: number;
  /** Arrival order: breaks ties so equal priorities leave in the order they came. */
  readonly seq: number;
}

/** Highest priority first, FIFO among equals: a binary max-heap ordered by (priority, -seq). */
export class PriorityHeap<E extends Prioritised> implements Buffer<E> {
  readonly #heap: E[] = [];

  get size(): number {
    return this.#heap.length;
  }

  push(element: E): void {
    const heap = this.#heap;
    let i = heap.length;
    heap.push(element);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(element, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = element;
  }

  shift(): E | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length === 0 || last === undefined) return top;
    const n = heap.length;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && before(heap[child + 1]!, heap[child]!)) child++;
      if (!before(heap[child]!, last)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
    return top;
  }
}

function before(a: Prioritised, b: Prioritised): boolean {
  return a.priority > b.priority || (a.priority === b.priority && a.seq < b.seq);
}
