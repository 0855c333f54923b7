/**
 * What bench/flow.ts reads from the handlers' start times, merged across the worker processes
 * (wall-clock milliseconds, one machine, so one clock).
 */

/** The most starts in any window of `interval` ms, the window sliding over every start. */
export function mostInAnyWindow(sortedStarts: readonly number[], interval: number): number {
  let most = 0;
  let first = 0;
  for (let last = 0; last < sortedStarts.length; last++) {
    while (sortedStarts[last]! - sortedStarts[first]! >= interval) first++;
    most = Math.max(most, last - first + 1);
  }
  return most;
}

/** The rate over the steady part of a rate-limited drain, and the windows it was measured over. */
export interface SteadyRate {
  perSecond: number;
  /** Whole windows counted; 0 when the drain was too short to have a steady part. */
  windows: number;
}

/**
 * Starts per second over the whole windows of `interval` ms after the first one (which holds the
 * workers' connecting and the limiter's first fill) and before the last start (when the queue ran
 * dry, the last window is partial).
 */
export function steadyRate(sortedStarts: readonly number[], interval: number): SteadyRate {
  if (sortedStarts.length === 0) return { perSecond: 0, windows: 0 };
  const from = sortedStarts[0]! + interval;
  const windows = Math.floor((sortedStarts.at(-1)! - from) / interval);
  if (windows < 1) return { perSecond: 0, windows: 0 };
  const until = from + windows * interval;
  const counted = sortedStarts.filter((start) => start >= from && start < until).length;
  return { perSecond: counted / ((windows * interval) / 1000), windows };
}

/** Messages per second from the first start to the last, across every worker. */
export function throughput(sortedStarts: readonly number[]): number {
  if (sortedStarts.length < 2) return 0;
  return (sortedStarts.length - 1) / ((sortedStarts.at(-1)! - sortedStarts[0]!) / 1000);
}

/** Merges the workers' start times into one sorted array. */
export function merged(startsPerWorker: readonly (readonly number[])[]): number[] {
  return startsPerWorker.flat().sort((a, b) => a - b);
}
