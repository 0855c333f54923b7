import { InvalidOptionError } from '../../errors.js';
import { assertGroupConcurrency, assertRateLimit } from '../flow-options.js';
import type { RateLimit } from '../types.js';

/**
 * Options of {@link Pump.draining}; `pump.draining()` throws {@link InvalidOptionError} naming the
 * first one that cannot work.
 */
export interface DrainingOptions {
  /**
   * Drain loops pulling from the consumer at once: an integer of at least 1. With 1, messages are
   * dispatched in the consumer's order.
   *
   * @defaultValue `1`
   */
  concurrency?: number | undefined;
  /**
   * `true`: on stop, keep dispatching until the consumer ends. `false`: stop pulling now.
   *
   * @defaultValue `false`
   */
  graceful?: boolean | undefined;
  /**
   * Milliseconds a non-graceful stop waits for in-flight dispatches before releasing them.
   *
   * @defaultValue `10_000`
   */
  shutdownTimeout?: number | undefined;
  /**
   * At most `limit` dispatches start in any window of `interval` milliseconds. On a broker queue the
   * limit holds across every process consuming the queue. Settable while running. Unset: none.
   */
  rateLimit?: RateLimit | undefined;
  /**
   * At most this many messages of one group (`SendOptions.group`) dispatched at once, across every
   * process consuming the queue. Settable while running. Unset: no cap.
   */
  groupConcurrency?: number | undefined;
}

/** @internal */
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

/** @internal */
export function assertConcurrency(concurrency: unknown): asserts concurrency is number {
  if (!Number.isInteger(concurrency) || (concurrency as number) < 1) {
    throw new InvalidOptionError('concurrency', concurrency, 'an integer ≥ 1');
  }
}
