import { InvalidOptionError } from '../errors.js';
import { storableTextProblem } from './text-rules.js';
import type { FlowLimits, RateLimit } from './types.js';

/**
 * The longest group name, in UTF-8 bytes, on every queue: a group is part of a broker's key, row or
 * subject, and is read on every hand-out of a grouped queue.
 */
export const MAX_GROUP_BYTES = 255;

/** The longest rate-limit interval: Node's longest timer, a little under 25 days. */
const MAX_INTERVAL = 2 ** 31 - 1;

/** A group every queue can keep as given: a non-empty string under the rule of text-rules.ts. */
export function assertGroup(group: unknown): asserts group is string {
  const expected = storableTextProblem(group, 'group', MAX_GROUP_BYTES);
  if (expected !== undefined) throw new InvalidOptionError('group', group, expected);
}

export function assertRateLimit(rateLimit: unknown): asserts rateLimit is RateLimit | undefined {
  if (rateLimit === undefined) return;
  if (rateLimit === null || typeof rateLimit !== 'object') {
    throw new InvalidOptionError('rateLimit', rateLimit, 'an object { limit, interval } or undefined');
  }
  const { limit, interval } = rateLimit as Partial<RateLimit>;
  if (!Number.isSafeInteger(limit) || (limit as number) < 1) {
    throw new InvalidOptionError('rateLimit.limit', limit, 'an integer ≥ 1');
  }
  if (!Number.isInteger(interval) || (interval as number) < 1 || (interval as number) > MAX_INTERVAL) {
    throw new InvalidOptionError(
      'rateLimit.interval',
      interval,
      `an integer of milliseconds from 1 to ${MAX_INTERVAL}`,
    );
  }
}

export function assertGroupConcurrency(value: unknown): asserts value is number | undefined {
  if (value !== undefined && (!Number.isSafeInteger(value) || (value as number) < 1)) {
    throw new InvalidOptionError('groupConcurrency', value, 'an integer ≥ 1 or undefined');
  }
}

/** Checks both limits; the result is a frozen copy a consumer may keep. */
export function resolveFlowLimits(limits: FlowLimits): FlowLimits {
  const { rateLimit, groupConcurrency } = limits;
  assertRateLimit(rateLimit);
  assertGroupConcurrency(groupConcurrency);
  return Object.freeze({
    rateLimit:
      rateLimit === undefined
        ? undefined
        : Object.freeze({ limit: rateLimit.limit, interval: rateLimit.interval }),
    groupConcurrency,
  });
}

/** Whether `limits` limit anything: a consumer given none hands out as it did before. */
export function limitsFlow(limits: FlowLimits): boolean {
  return limits.rateLimit !== undefined || limits.groupConcurrency !== undefined;
}
