import { InvalidOptionError } from '../../errors.js';

export interface DrainingOptions {
  /** Drain loops pulling from the consumer at once. Default 1 (dispatch in the consumer's order). */
  concurrency?: number | undefined;
  /** `true`: on stop, keep dispatching until the consumer ends. `false` (default): stop pulling now. */
  graceful?: boolean | undefined;
  /** Milliseconds a non-graceful stop waits for in-flight dispatches before releasing them. Default 10 s. */
  shutdownTimeout?: number | undefined;
}

/** Throws an `InvalidOptionError` naming the first option that cannot work. */
export function resolveDrainingOptions(options: DrainingOptions): Required<DrainingOptions> {
  const { concurrency = 1, graceful = false, shutdownTimeout = 10_000 } = options;
  assertConcurrency(concurrency);
  if (!(shutdownTimeout >= 0)) {
    throw new InvalidOptionError('shutdownTimeout', shutdownTimeout, 'milliseconds ≥ 0');
  }
  return { concurrency, graceful, shutdownTimeout };
}

export function assertConcurrency(concurrency: unknown): asserts concurrency is number {
  if (!Number.isInteger(concurrency) || (concurrency as number) < 1) {
    throw new InvalidOptionError('concurrency', concurrency, 'an integer ≥ 1');
  }
}
