import { InvalidOptionError } from '../../errors.js';
import { assertGroupConcurrency, assertRateLimit } from '../flow-options.js';
import type { RateLimit } from '../types.js';

export interface DrainingOptions {
  /** Drain loops pulling from the consumer at once. Default 1 (dispatch in the consumer's order). */
  concurrency?: number | undefined;
  /** `true`: on stop, keep dispatching until the consumer ends. `false` (default): stop pulling now. */
  graceful?: boolean | undefined;
  /** Milliseconds a non-graceful stop waits for in-flight dispatches before releasing them. Default 10 s. */
  shutdownTimeout?: number | undefined;
  /**
   * At most `limit` dispatches start in any window of `interval` milliseconds. On a broker queue the
   * limit holds across every process consuming the queue. Settable while running. Default: none.
   */
  rateLimit?: RateLimit | undefined;
  /**
   * At most this many messages of one group (`SendOptions.group`) dispatched at once, across every
   * process consuming the queue. Settable while running. Default: no cap.
   */
  groupConcurrency?: number | undefined;
}

export type ResolvedDrainingOptions = Required<
  Pick<DrainingOptions, 'concurrency' | 'graceful' | 'shutdownTimeout'>
> &
  Pick<DrainingOptions, 'rateLimit' | 'groupConcurrency'>;

/** Throws an `InvalidOptionError` naming the first option that cannot work. */
export function resolveDrainingOptions(options: DrainingOptions): ResolvedDrainingOptions {
  const {
    concurrency = 1,
    graceful = false,
    shutdownTimeout = 10_000,
    rateLimit,
    groupConcurrency,
  } = options;
  assertConcurrency(concurrency);
  if (!(shutdownTimeout >= 0)) {
    throw new InvalidOptionError('shutdownTimeout', shutdownTimeout, 'milliseconds ≥ 0');
  }
  assertRateLimit(rateLimit);
  assertGroupConcurrency(groupConcurrency);
  return { concurrency, graceful, shutdownTimeout, rateLimit, groupConcurrency };
}

export function assertConcurrency(concurrency: unknown): asserts concurrency is number {
  if (!Number.isInteger(concurrency) || (concurrency as number) < 1) {
    throw new InvalidOptionError('concurrency', concurrency, 'an integer ≥ 1');
  }
}
