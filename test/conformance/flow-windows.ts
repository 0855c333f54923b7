/**
 * What the flow suite measures in the consumers' events: how many handlers started in the busiest
 * window of a given width, and how many messages of one group were being handled at once.
 */
import type { FlowEvent } from './flow-consumer.js';

export interface Window {
  /** How many times fell in it. */
  readonly count: number;
  /** Its first time, or NaN when there were none. */
  readonly from: number;
}

/** The window `[from, from + width)` holding the most of `times` (any unsorted list). */
export function busiestWindow(times: readonly number[], width: number): Window {
  const sorted = [...times].sort((a, b) => a - b);
  let busiest: Window = { count: 0, from: Number.NaN };
  let first = 0;
  for (let last = 0; last < sorted.length; last++) {
    while (sorted[last]! - sorted[first]! >= width) first++;
    if (last - first + 1 > busiest.count) busiest = { count: last - first + 1, from: sorted[first]! };
  }
  return busiest;
}

/** How many of `times` fall in `[from, to)`. */
export function countBetween(times: readonly number[], from: number, to: number): number {
  return times.filter((time) => time >= from && time < to).length;
}

/**
 * For each group (null: the default group), the most of its messages being handled at one instant:
 * from a `start` to its `end`. An end and a start at the same instant do not overlap (the end came
 * first: it is reported before the ack that frees the slot).
 */
export function mostAtOnceByGroup(events: readonly FlowEvent[]): Map<string | null, number> {
  const changes = events
    .filter((event) => event.event === 'start' || event.event === 'end')
    .map((event) => ({ t: event.t, group: event.group ?? null, step: event.event === 'start' ? 1 : -1 }))
    .sort((a, b) => a.t - b.t || a.step - b.step);
  const running = new Map<string | null, number>();
  const most = new Map<string | null, number>();
  for (const { group, step } of changes) {
    const count = (running.get(group) ?? 0) + step;
    running.set(group, count);
    most.set(group, Math.max(most.get(group) ?? 0, count));
  }
  return most;
}

/** The start times, relative to the first, rounded: what a failure shows. */
export function timeline(times: readonly number[]): number[] {
  const sorted = [...times].sort((a, b) => a - b);
  return sorted.map((time) => Math.round(time - sorted[0]!));
}
