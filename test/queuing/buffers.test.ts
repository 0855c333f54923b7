import { describe, expect, it } from 'vitest';
import { PriorityHeap } from '../../src/queuing/memory/buffers.js';

interface Element {
  priority: number;
  seq: number;
}

/** The order PriorityHeap must produce: highest priority first, then lowest seq. */
function expectedOrder(elements: Element[]): Element[] {
  return [...elements].sort((a, b) => b.priority - a.priority || a.seq - b.seq);
}

/** Deterministic pseudo-random integers in [0, n). */
function random(seed: number): (n: number) => number {
  let state = seed;
  return (n) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state % n;
  };
}

describe('PriorityHeap', () => {
  it('hands out highest priority first, FIFO by seq among equals, across interleaved pushes and shifts', () => {
    const next = random(7);
    const heap = new PriorityHeap<Element>();
    const held: Element[] = [];
    let seq = 0;
    for (let step = 0; step < 6_000; step++) {
      if (next(3) > 0) {
        // Mostly in seq order; one push in ten carries an older seq (a sender admitted late).
        const late = seq - next(50) - 1 + (step + 1) / 1e6; // unique, like every real seq
        const element = { priority: next(12) - 3, seq: next(10) === 0 ? late : seq };
        seq++;
        heap.push(element);
        held.push(element);
      } else {
        const expected = expectedOrder(held)[0];
        expect(heap.shift()).toBe(expected);
        if (expected !== undefined) held.splice(held.indexOf(expected), 1);
      }
      expect(heap.size).toBe(held.length);
    }
    expect(Array.from({ length: held.length }, () => heap.shift())).toEqual(expectedOrder(held));
    expect(heap.shift()).toBeUndefined();
  });

  it('keeps order through a bucket deeper than its compaction threshold', () => {
    const heap = new PriorityHeap<Element>();
    const all = Array.from({ length: 5_000 }, (_, seq) => ({ priority: seq % 2, seq }));
    for (const element of all.slice(0, 3_000)) heap.push(element);
    const out = Array.from({ length: 2_000 }, () => heap.shift());
    for (const element of all.slice(3_000)) heap.push(element);
    while (heap.size > 0) out.push(heap.shift());
    const ones = out.filter((e) => e!.priority === 1).map((e) => e!.seq);
    expect(ones).toEqual([...ones].sort((a, b) => a - b));
    expect(out).toHaveLength(5_000);
    expect(new Set(out).size).toBe(5_000);
  });

  it('handles many distinct priorities, fractional and negative ones included', () => {
    const heap = new PriorityHeap<Element>();
    const elements = Array.from({ length: 1_000 }, (_, seq) => ({
      priority: ((seq * 37) % 500) / 4 - 60,
      seq,
    }));
    for (const element of elements) heap.push(element);
    expect(Array.from({ length: 1_000 }, () => heap.shift())).toEqual(expectedOrder(elements));
    for (const element of elements.slice(0, 10)) heap.push(element);
    expect(Array.from({ length: 10 }, () => heap.shift())).toEqual(expectedOrder(elements.slice(0, 10)));
  });
});
