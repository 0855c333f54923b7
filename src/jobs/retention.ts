import { InvalidOptionError } from '../errors.js';
import type { FinalStatus } from './status.js';
import type { Retention } from './store.js';

const HOUR = 3_600_000;

export interface ResolvedRetention {
  readonly success: number;
  readonly failure: number;
}

/** Every store's `retain` option: milliseconds, defaults 24 hours and 7 days. */
export function resolveRetention(retain: Retention | undefined): ResolvedRetention {
  if (retain === undefined) return { success: 24 * HOUR, failure: 7 * 24 * HOUR };
  if (retain === null || typeof retain !== 'object') {
    throw new InvalidOptionError('retain', retain, 'an object such as { success, failure } in milliseconds');
  }
  const { success = 24 * HOUR, failure = 7 * 24 * HOUR } = retain;
  for (const [name, value] of [
    ['retain.success', success],
    ['retain.failure', failure],
  ] as const) {
    // Ten years at most: every store can hold such an expiry (Redis PEXPIRE, a timestamp column).
    if (!Number.isInteger(value) || value < 1 || value > 10 * 365 * 24 * HOUR) {
      throw new InvalidOptionError(name, value, 'an integer number of milliseconds from 1 to ten years');
    }
  }
  return { success, failure };
}

/** How long the record of a job that ended with `status` is kept. */
export function retentionOf(retention: ResolvedRetention, status: FinalStatus): number {
  return status === 'success' ? retention.success : retention.failure;
}
