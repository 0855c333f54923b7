import { InvalidOptionError } from '../../errors.js';
import { backoffDelay } from '../../queuing/backoff.js';
import type { Backoff, NackOptions } from '../../queuing/types.js';
import { backoffReason, nackReason } from './reasons.js';

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
 * spent. A backoff that fails for this attempt dead-letters it, saying so: a problem of one
 * message's retry never throws out of `nack` nor stops a consumer. Throws (synchronously) only to
 * refuse a `delay` longer than the queue can store, which the caller passed itself.
 */
export function nackOutcome(
  options: NackOptions,
  attempt: number,
  policy: { readonly maxAttempts: number; readonly backoff: Backoff; readonly maxDelay: number },
): NackOutcome {
  const { requeue, delay } = options;
  if (requeue === false || (requeue !== true && attempt >= policy.maxAttempts)) {
    return { deadLetter: nackReason(options, attempt, policy.maxAttempts) };
  }
  if (delay !== undefined) {
    if (delay > policy.maxDelay) {
      throw new InvalidOptionError('delay', delay, `at most ${policy.maxDelay} milliseconds on this queue`);
    }
    return { retryAfter: delay };
  }
  if (requeue) return { retryAfter: 0 };
  try {
    return { retryAfter: backoffDelay(policy.backoff, attempt, policy.maxDelay) };
  } catch (error) {
    return { deadLetter: backoffReason(attempt, error) };
  }
}
