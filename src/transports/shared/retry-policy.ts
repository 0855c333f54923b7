import { backoffDelay } from '../../queuing/backoff.js';
import type { Backoff, NackOptions } from '../../queuing/types.js';
import { nackReason } from './reasons.js';

/** What a broker queue's retry policy does with a nacked delivery. */
export type NackOutcome =
  /** Dead-letter it now, with this reason. */
  | { readonly deadLetter: string; readonly retryAfter?: undefined }
  /** Put it back, ready again after this many milliseconds; the attempt counts. */
  | { readonly deadLetter?: undefined; readonly retryAfter: number };

/**
 * The retry policy of every broker queue, decided in one place: `{ requeue: false }` dead-letters
 * now; `{ requeue: true }` puts it back after `delay` (default 0) whatever the attempts; otherwise it
 * comes back after `delay` or the backoff while attempts remain, and is dead-lettered once they are
 * spent.
 */
export function nackOutcome(
  options: NackOptions,
  attempt: number,
  policy: { readonly maxAttempts: number; readonly backoff: Backoff },
): NackOutcome {
  const { requeue, delay } = options;
  if (requeue === false || (requeue !== true && attempt >= policy.maxAttempts)) {
    return { deadLetter: nackReason(options, attempt, policy.maxAttempts) };
  }
  return { retryAfter: delay ?? (requeue ? 0 : backoffDelay(policy.backoff, attempt)) };
}
