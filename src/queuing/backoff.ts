import { InvalidOptionError } from '../errors.js';
import type { Backoff } from './types.js';

/**
 * Milliseconds to wait before redelivering a message that failed on delivery `attempt`, at most
 * `limit` (the longest delay the queue can store). Throws what a backoff function throws, and an
 * InvalidOptionError when it returns no number of milliseconds (NaN, a string...): the caller
 * dead-letters that one message with the reason, rather than retrying it at an undefined time.
 */
export function backoffDelay(backoff: Backoff, attempt: number, limit = Number.POSITIVE_INFINITY): number {
  let delay: number;
  if (typeof backoff === 'function') {
    delay = backoff(attempt);
    if (typeof delay !== 'number' || Number.isNaN(delay)) {
      throw new InvalidOptionError(
        'backoff',
        delay,
        `milliseconds from the backoff function (attempt ${attempt})`,
      );
    }
  } else if (backoff.type === 'fixed') {
    delay = backoff.delay;
  } else {
    delay = Math.min(backoff.delay * 2 ** (attempt - 1), backoff.max ?? Number.POSITIVE_INFINITY);
  }
  return Math.min(Math.max(0, delay), limit);
}

export function assertBackoff(backoff: unknown): asserts backoff is Backoff {
  if (typeof backoff === 'function') return;
  const b = backoff as { type?: unknown; delay?: unknown; max?: unknown } | null;
  const valid =
    b !== null &&
    typeof b === 'object' &&
    (b.type === 'fixed' || b.type === 'exponential') &&
    isNonNegative(b.delay) &&
    (b.max === undefined || isNonNegative(b.max));
  if (!valid) {
    throw new InvalidOptionError(
      'backoff',
      backoff,
      "{ type: 'fixed' | 'exponential', delay: ms ≥ 0, max?: ms } or (attempt) => ms",
    );
  }
}

export function assertMaxAttempts(maxAttempts: unknown): asserts maxAttempts is number {
  if (!Number.isInteger(maxAttempts) || (maxAttempts as number) < 1) {
    throw new InvalidOptionError('maxAttempts', maxAttempts, 'an integer ≥ 1');
  }
}

function isNonNegative(value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}
