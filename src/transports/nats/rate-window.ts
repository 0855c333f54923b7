import type { RateLimit } from '../../queuing/types.js';
import type { FlowStore } from './flow-store.js';

/**
 * The rate limit's sliding-window log, the value of key `<n>.rate`: JSON `[[time, count], ...]`,
 * oldest first, `time` in milliseconds since the epoch on the clock of the process that handed the
 * `count` deliveries out. A hand-out batch appends its entry, in one compare-and-set with the check
 * that the window has room, so the log holds every hand-out of the last interval, whichever process
 * made it.
 */
export type RateLog = [time: number, count: number][];

/** The longest a write's round trip is taken to be (a stalled one says nothing of the next). */
const MAX_LAG = 50;
/** Entries kept at most: beyond, the oldest two are merged into one at the later time. */
const MAX_ENTRIES = 256;

export interface Taken {
  readonly log: RateLog;
  /** How many of those wanted may be handed out now. */
  readonly granted: number;
  /** None granted: milliseconds until enough entries leave the window for one more. */
  readonly wait: number;
}

/**
 * Takes up to `wanted` hand-outs from the window ending at `now`, written at `at` (`now` or later).
 * An entry is in the window until `time + interval`; when the window is full, `wait` says when the
 * entry whose leaving makes room leaves it. Merging two entries keeps both counts in the window
 * until the later one leaves: it never lets more through.
 */
export function takeFromLog(
  log: RateLog,
  wanted: number,
  { limit, interval }: RateLimit,
  now: number,
  at = now,
): Taken {
  const kept = log.filter(([time]) => time + interval > now);
  let used = 0;
  for (const [, count] of kept) used += count;
  const granted = Math.max(0, Math.min(wanted, limit - used));
  if (granted > 0) {
    kept.push([at, granted]);
    while (kept.length > MAX_ENTRIES) {
      const [oldest, next] = kept.splice(0, 2) as [[number, number], [number, number]];
      kept.unshift([next[0], oldest[1] + next[1]]);
    }
    return { log: kept, granted, wait: 0 };
  }
  let leaving = used - limit + 1; // the window must lose this many for one hand-out
  for (const [time, count] of kept) {
    leaving -= count;
    if (leaving <= 0) return { log: kept, granted: 0, wait: Math.max(1, time + interval - now) };
  }
  return { log: kept, granted: 0, wait: 1 };
}

function parseLog(value: string | undefined): RateLog {
  if (value === undefined) return [];
  try {
    const log = JSON.parse(value) as unknown;
    return Array.isArray(log) ? (log as RateLog).filter(isEntry) : [];
  } catch {
    return []; // not written by sluice: the window starts over
  }
}

function isEntry(entry: unknown): boolean {
  return Array.isArray(entry) && Number.isFinite(entry[0]) && Number.isSafeInteger(entry[1]) && entry[1] > 0;
}

/**
 * A consumer's side of a queue's shared rate limit. An entry is written at the time its batch is
 * expected to be handed out: now plus the last write's round trip (at most MAX_LAG), so that the
 * wait for the write does not let a batch leave the window before its hand-out would have.
 */
export class RateWindow {
  #lag = 0;

  constructor(
    private readonly store: FlowStore,
    private readonly key: string,
  ) {}

  async take(wanted: number, limit: RateLimit): Promise<{ granted: number; wait: number }> {
    let written = 0;
    const taken = await this.store.update(this.key, (value) => {
      const now = Date.now();
      const result = takeFromLog(parseLog(value), wanted, limit, now, now + this.#lag);
      written = now;
      return { write: result.granted > 0 ? JSON.stringify(result.log) : undefined, result };
    });
    if (taken.granted > 0) this.#lag = Math.min(Date.now() - written, MAX_LAG);
    return taken;
  }
}
