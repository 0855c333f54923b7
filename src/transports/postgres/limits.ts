/**
 * What a row cannot hold, refused at the boundary with an error naming the option and the queue.
 * Sent on, such a value would fail its statement with an error naming neither.
 */
import { InvalidOptionError } from '../../errors.js';

/** The latest time a JavaScript Date can hold (year 275760), well inside PostgreSQL's timestamps. */
const LATEST = 8.64e15;

/** A delay (ms from now) ending at a time a PostgreSQL timestamp can represent. */
export function assertDelayFits(delay: number, queue: string): void {
  if (delay > LATEST - Date.now()) {
    throw new InvalidOptionError(
      'delay',
      delay,
      `a delay that ends before the year 275760: queue ${queue} stores its end as a PostgreSQL timestamp`,
    );
  }
}

/** A key PostgreSQL text can hold: it has no room for the NUL character. */
export function assertKeyFits(key: string, queue: string): void {
  if (key.includes('\0')) {
    throw new InvalidOptionError(
      'key',
      key,
      `a key without NUL characters: queue ${queue} stores it as PostgreSQL text, which cannot hold one`,
    );
  }
}
