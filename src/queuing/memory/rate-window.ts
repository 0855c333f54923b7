import type { RateLimit } from '../types.js';

/**
 * Entries the log keeps at most per interval: hand-outs closer together than `interval / GRAINS`
 * share one entry, so a high limit does not mean a long log.
 */
const GRAINS = 1024;

/** Past this many spent entries the log drops them, in one move rather than one per entry. */
const COMPACT_AFTER = 1024;

/**
 * A MemoryQueue's rate limit: a sliding log of recent hand-out times, at most `limit` of them in any
 * window of `interval` milliseconds (not a token bucket, which lets twice the limit through in one
 * window). Times are `performance.now()`: monotonic, so a clock change cannot open the window early.
 *
 * Hand-outs within one grain share an entry stamped with the latest of them: an entry leaves the
 * window when its last hand-out does, never before, so sharing can only hold back (by less than one
 * grain), never let more through.
 */
export class RateWindow {
  #limit = 1;
  #interval = 1;
  #grain = 1;
  readonly #times: number[] = [];
  readonly #counts: number[] = [];
  /** The oldest entry still in the log. */
  #head = 0;
  /** Hand-outs in the log. */
  #total = 0;
  /** When the newest entry's first hand-out was: later ones share it within one grain. */
  #newestSince = Number.NEGATIVE_INFINITY;

  constructor(rate: RateLimit) {
    this.set(rate);
  }

  /** A new limit applies to the hand-outs already logged: they still count until they leave. */
  set({ limit, interval }: RateLimit): void {
    this.#limit = limit;
    this.#interval = interval;
    this.#grain = interval / GRAINS;
  }

  /** Milliseconds until one more hand-out fits in the window (at `now`); 0 when one fits now. */
  wait(now: number): number {
    this.#trim(now);
    if (this.#total < this.#limit) return 0;
    // The window frees once enough of the oldest entries left it to bring the count under the limit.
    let left = this.#total;
    let entry = this.#head;
    while (left >= this.#limit) left -= this.#counts[entry++]!;
    return this.#times[entry - 1]! + this.#interval - now;
  }

  record(now: number): void {
    const newest = this.#times.length - 1;
    if (newest >= this.#head && now - this.#newestSince < this.#grain) {
      this.#times[newest] = now;
      this.#counts[newest]!++;
    } else {
      this.#times.push(now);
      this.#counts.push(1);
      this.#newestSince = now;
    }
    this.#total++;
  }

  /** Drops the entries that left the window: those `interval` or more before `now`. */
  #trim(now: number): void {
    const since = now - this.#interval;
    const times = this.#times;
    while (this.#head < times.length && times[this.#head]! <= since) {
      this.#total -= this.#counts[this.#head]!;
      this.#head++;
    }
    if (this.#head === times.length || this.#head >= COMPACT_AFTER) {
      times.splice(0, this.#head);
      this.#counts.splice(0, this.#head);
      this.#head = 0;
    }
  }
}
