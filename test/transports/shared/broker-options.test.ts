import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InvalidOptionError } from '../../../src/errors.js';
import {
  assertBrokerSendOptions,
  type BrokerQueueOptions,
  MAX_DELAY,
  resolveBrokerOptions,
} from '../../../src/transports/shared/broker-options.js';

describe('resolveBrokerOptions', () => {
  it('fills in the defaults, the dead-letter queue named after the queue', () => {
    expect(resolveBrokerOptions('orders', {})).toEqual({
      maxAttempts: 5,
      backoff: { type: 'exponential', delay: 100, max: 30_000 },
      deadLetter: 'orders.dead',
      visibilityTimeout: 30_000,
      closeTimeout: 10_000,
      maxMessageSize: 16 * 1024 * 1024,
      maxDelay: MAX_DELAY,
      check: undefined,
    });
  });

  it('keeps given values and compiles the schema', () => {
    const resolved = resolveBrokerOptions('orders', {
      maxAttempts: 2,
      backoff: { type: 'fixed', delay: 5 },
      deadLetter: 'graveyard',
      visibilityTimeout: 1_000,
      closeTimeout: 0,
      schema: z.object({ n: z.number() }),
    });
    expect(resolved).toMatchObject({ maxAttempts: 2, deadLetter: 'graveyard', visibilityTimeout: 1_000 });
    expect(resolved.check?.({ n: 1 })).toEqual({ n: 1 });
  });

  it.each<[string, string, BrokerQueueOptions, RegExp]>([
    ['name', '', {}, /invalid name: "" \(expected a non-empty string\)/],
    ['maxAttempts', 'q', { maxAttempts: 0 }, /invalid maxAttempts: 0/],
    ['backoff', 'q', { backoff: { type: 'linear' } as never }, /invalid backoff/],
    [
      'deadLetter',
      'q',
      { deadLetter: 'q' },
      /invalid deadLetter: "q" \(expected a queue name other than "q"\)/,
    ],
    ['deadLetter', 'q', { deadLetter: '' }, /invalid deadLetter: ""/],
    ['visibilityTimeout', 'q', { visibilityTimeout: 0 }, /invalid visibilityTimeout: 0/],
    ['visibilityTimeout', 'q', { visibilityTimeout: 1.5 }, /invalid visibilityTimeout: 1.5/],
    ['closeTimeout', 'q', { closeTimeout: -1 }, /invalid closeTimeout: -1/],
    ['closeTimeout', 'q', { closeTimeout: Number.POSITIVE_INFINITY }, /invalid closeTimeout: Infinity/],
    ['schema', 'q', { schema: 42 as never }, /invalid schema: 42/],
    ['maxMessageSize', 'q', { maxMessageSize: 0 }, /invalid maxMessageSize: 0/],
    ['maxMessageSize', 'q', { maxMessageSize: 1.5 }, /invalid maxMessageSize: 1.5/],
    ['maxMessageSize', 'q', { maxMessageSize: '1mb' as never }, /invalid maxMessageSize: "1mb"/],
    ['name', 'q\uD800', {}, /invalid name: "q\\ud800" .*lone surrogate/],
    ['name', 'q\0', {}, /invalid name: "q\\u0000" .*control character/],
    ['name', 'q\r\n', {}, /invalid name: .*control character/],
    [
      'name',
      'q'.repeat(201),
      {},
      /invalid name: "q{199}… \(203 characters\) \(expected a queue name of at most 200 UTF-8 bytes\)/,
    ],
    ['name', 'é'.repeat(101), {}, /at most 200 UTF-8 bytes/],
    ['deadLetter', 'q', { deadLetter: 'dead\uDFFF' }, /invalid deadLetter: .*lone surrogate/],
    ['backoff', 'q', { backoff: { type: 'fixed', delay: MAX_DELAY + 1 } }, /invalid backoff: .*at most/],
    ['backoff', 'q', { backoff: { type: 'exponential', delay: 1, max: 1e300 } }, /invalid backoff/],
  ])('rejects a bad %s naming it and the value', (_, name, options, message) => {
    expect(() => resolveBrokerOptions(name, options)).toThrow(InvalidOptionError);
    expect(() => resolveBrokerOptions(name, options)).toThrow(message);
  });

  it("enforces the broker's shortest visibility timeout", () => {
    expect(() =>
      resolveBrokerOptions('q', { visibilityTimeout: 999 }, { minVisibilityTimeout: 1_000 }),
    ).toThrow(/invalid visibilityTimeout: 999 \(expected an integer ≥ 1000 \(milliseconds\)\)/);
    expect(
      resolveBrokerOptions('q', { visibilityTimeout: 1_000 }, { minVisibilityTimeout: 1_000 })
        .visibilityTimeout,
    ).toBe(1_000);
  });

  it("enforces the broker's longest delay and name", () => {
    const limits = { maxDelay: 1_000, maxNameBytes: 3 };
    const fits = { deadLetter: 'xyz', backoff: { type: 'fixed', delay: 1_000 } } as const;
    expect(resolveBrokerOptions('abc', fits, limits).maxDelay).toBe(1_000);
    expect(() => resolveBrokerOptions('abcd', fits, limits)).toThrow(/at most 3 UTF-8 bytes/);
    expect(() => resolveBrokerOptions('abc', { backoff: fits.backoff, deadLetter: 'dead' }, limits)).toThrow(
      /invalid deadLetter: "dead"/,
    );
    // The default dead-letter name does not fit: the error names what the caller chose.
    expect(() => resolveBrokerOptions('abcd', {}, { maxNameBytes: 8 })).toThrow(
      /invalid name: "abcd" \(expected at most 3 UTF-8 bytes, or a deadLetter name\)/,
    );
    expect(() =>
      resolveBrokerOptions('abc', { deadLetter: 'xyz', backoff: { type: 'fixed', delay: 1_001 } }, limits),
    ).toThrow(InvalidOptionError);
    expect(() => assertBrokerSendOptions({ delay: 1_000 }, 1_000, 'q')).not.toThrow();
    expect(() => assertBrokerSendOptions({}, 1_000, 'q')).not.toThrow();
    expect(() => assertBrokerSendOptions({ delay: 1_001 }, 1_000, 'q')).toThrow(
      /invalid delay: 1001 \(expected at most 1000 milliseconds on queue q\)/,
    );
    expect(() => assertBrokerSendOptions({ delay: -1 }, 1_000, 'q')).toThrow(/invalid delay: -1/);
  });
});
