import { describe, expect, it } from 'vitest';
import { MAX_START_MARGIN, withStartMargin } from '../../../src/transports/shared/start-margin.js';

describe('withStartMargin', () => {
  it('keeps a broker window a twentieth longer than the interval, at most MAX_START_MARGIN', () => {
    expect(withStartMargin({ rateLimit: { limit: 5, interval: 100 } }).rateLimit).toEqual({
      limit: 5,
      interval: 105,
    });
    expect(withStartMargin({ rateLimit: { limit: 5_000, interval: 1_000 } }).rateLimit).toEqual({
      limit: 5_000,
      interval: 1_000 + MAX_START_MARGIN,
    });
    expect(withStartMargin({ rateLimit: { limit: 1, interval: 10 } }).rateLimit?.interval).toBe(10);
  });

  it('leaves limits without a rate limit as they are', () => {
    const limits = { groupConcurrency: 2 };
    expect(withStartMargin(limits)).toBe(limits);
  });
});
