import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Backoff, NackOptions } from '../../../src/queuing/types.js';
import { defineCommand } from '../../../src/routing/define.js';
import { admit } from '../../../src/transports/shared/admit.js';
import { compileMessageSchema } from '../../../src/transports/shared/message-schema.js';
import {
  boundedReason,
  errorText,
  MAX_REASON_LENGTH,
  nackReason,
  unsettledReason,
} from '../../../src/transports/shared/reasons.js';
import { type NackOutcome, nackOutcome } from '../../../src/transports/shared/retry-policy.js';

const stored = () => 'orders:7';

describe('admit: the decode-and-admit step of every broker consumer', () => {
  it('admits an envelope, keeping its id, type, attempt and headers', () => {
    const body = '{"id":"a1","type":"t","attempt":2,"headers":{"traceparent":"00-x"},"payload":{"n":1}}';
    expect(admit(body, undefined, stored)).toEqual({
      admitted: true,
      envelope: { id: 'a1', type: 't', attempt: 2, headers: { traceparent: '00-x' }, payload: { n: 1 } },
      message: { n: 1 },
    });
  });

  it("gives an envelope without id the broker's stored id, the same on every redelivery", () => {
    const admission = admit('{"payload":5}', undefined, stored);
    expect(admission).toMatchObject({ admitted: true, envelope: { id: 'orders:7' }, message: 5 });
  });

  it('refuses a body that is no envelope, wrapping it as the payload of one under the stored id', () => {
    const admission = admit('not json {', undefined, stored);
    expect(admission).toMatchObject({ admitted: false, id: 'orders:7' });
    if (admission instanceof Promise || admission.admitted) throw new Error('expected a refusal');
    expect(admission.reason).toMatch(/^undecodable body: /);
    expect(JSON.parse(admission.replacement!)).toEqual({
      id: 'orders:7',
      type: null,
      attempt: 1,
      headers: {},
      payload: 'not json {',
    });
  });

  it('refuses a payload that fails the schema with the reason, keeping the body as received', () => {
    const Place = defineCommand('orders.place', z.object({ quantity: z.number().int().positive() }));
    const check = compileMessageSchema([Place]);
    const body =
      '{"id":"a2","type":"orders.place","payload":{"type":"orders.place","payload":{"quantity":0}}}';
    const admission = admit(body, check, stored);
    expect(admission).toMatchObject({ admitted: false, id: 'a2', replacement: undefined });
    expect((admission as { reason: string }).reason).toMatch(/^invalid message: .*quantity/);
  });

  it('writes the stored id into a refused envelope that had none, so its dead-letter copy keeps it', () => {
    const body = '{ "payload": -1e3, "id": "" }\n';
    const admission = admit(body, compileMessageSchema(z.number().positive()), 'orders:9');
    expect(admission).toMatchObject({ admitted: false, id: 'orders:9' });
    const { replacement } = admission as { replacement: string };
    expect(replacement).toBe('{ "payload": -1e3, "id": "" ,"id":"orders:9"}\n'); // the rest untouched
    expect(JSON.parse(replacement)).toEqual({ payload: -1000, id: 'orders:9' });
  });

  it('takes the stored id as a string too', () => {
    expect(admit('{"payload":1}', undefined, 'row-1')).toMatchObject({ envelope: { id: 'row-1' } });
  });

  it('waits for an asynchronous Standard Schema', async () => {
    const check = compileMessageSchema(z.number().refine(async (n) => n > 0));
    await expect(admit('{"payload":1}', check, stored)).resolves.toMatchObject({
      admitted: true,
      message: 1,
    });
    await expect(admit('{"payload":-1}', check, stored)).resolves.toMatchObject({ admitted: false });
  });
});

describe('nackOutcome: the retry policy of every broker queue', () => {
  const policy = { maxAttempts: 3, backoff: { type: 'fixed', delay: 50 }, maxDelay: 1_000 } as const;
  it.each<[NackOptions, number, NackOutcome]>([
    [{}, 1, { retryAfter: 50 }],
    [{ delay: 7 }, 2, { retryAfter: 7 }],
    [{}, 3, { deadLetter: 'failed 3 of 3 attempts' }],
    [{ error: new Error('boom') }, 3, { deadLetter: 'failed 3 of 3 attempts: boom' }],
    [{ requeue: false }, 1, { deadLetter: 'rejected' }],
    [{ requeue: true }, 3, { retryAfter: 0 }],
    [{ requeue: true, delay: 20 }, 9, { retryAfter: 20 }],
    [{ delay: 1_000 }, 1, { retryAfter: 1_000 }],
  ])('%o at attempt %i → %o', (options, attempt, outcome) => {
    expect(nackOutcome(options, attempt, policy)).toEqual(outcome);
  });

  it('bounds what a backoff gives to the longest delay the queue stores, and never below 0', () => {
    const at = (backoff: Backoff, attempt = 1) =>
      nackOutcome({}, attempt, { ...policy, maxAttempts: 10_000, backoff });
    expect(at(() => 1e300)).toEqual({ retryAfter: 1_000 });
    expect(at(() => Number.POSITIVE_INFINITY)).toEqual({ retryAfter: 1_000 });
    expect(at(() => -5)).toEqual({ retryAfter: 0 });
    expect(at({ type: 'exponential', delay: 100 }, 2)).toEqual({ retryAfter: 200 });
    expect(at({ type: 'exponential', delay: 100 }, 2_000)).toEqual({ retryAfter: 1_000 });
  });

  it('dead-letters, never throws, when the backoff function throws or gives no number', () => {
    const at = (backoff: Backoff) => nackOutcome({ error: new Error('handler') }, 2, { ...policy, backoff });
    expect(
      at(() => {
        throw new TypeError('bug in backoff');
      }),
    ).toEqual({ deadLetter: 'backoff failed on attempt 2: TypeError: bug in backoff' });
    expect(at(() => Number.NaN)).toEqual({
      deadLetter:
        'backoff failed on attempt 2: InvalidOptionError: invalid backoff: NaN (expected milliseconds from the backoff function (attempt 2))',
    });
    expect(at(() => '5' as never)).toMatchObject({
      deadLetter: expect.stringMatching(/^backoff failed on attempt 2/),
    });
  });

  it('refuses (throws) a nack delay longer than the queue stores: the caller passed it', () => {
    expect(() => nackOutcome({ delay: 1_001 }, 1, policy)).toThrow(
      /invalid delay: 1001 \(expected at most 1000/,
    );
  });
});

describe('dead-letter reasons: one wording on every broker', () => {
  it.each([
    [{}, 2, 2, 'failed 2 of 2 attempts'],
    [{ error: new Error('card declined') }, 3, 3, 'failed 3 of 3 attempts: card declined'],
    [{ error: new TypeError('x is undefined') }, 1, 1, 'failed 1 of 1 attempts: TypeError: x is undefined'],
    [{ requeue: false }, 1, 5, 'rejected'],
    [{ requeue: false, error: 'poison' }, 1, 5, 'rejected: poison'],
  ])('%o at attempt %i of %i → %s', (options, attempt, max, reason) => {
    expect(nackReason(options, attempt, max)).toBe(reason);
  });

  it('names an error by its message, prefixed by its class unless plain Error', () => {
    expect(errorText(new Error('boom'))).toBe('boom');
    expect(errorText(new RangeError('too far'))).toBe('RangeError: too far');
    expect(errorText(42)).toBe('42');
  });

  it('bounds every reason: control characters become spaces, lone surrogates U+FFFD, at most MAX_REASON_LENGTH', () => {
    expect(boundedReason('a\0b\r\nc\u007f')).toBe('a b  c ');
    expect(boundedReason('x\uD800y')).toBe('x\uFFFDy');
    const long = boundedReason('z'.repeat(200_000));
    expect(long).toHaveLength(MAX_REASON_LENGTH);
    expect(long.endsWith('…')).toBe(true);
    expect(errorText(new Error(`bad\0${'r'.repeat(70_000)}`))).toHaveLength(MAX_REASON_LENGTH);
    expect(nackReason({ error: new Error('a\nb') }, 1, 1)).toBe('failed 1 of 1 attempts: a b');
    const hostile = {
      toString: () => {
        throw new Error('no');
      },
    };
    expect(errorText(hostile)).toBe('[object Object]');
  });

  it('names a last attempt that was never settled', () => {
    expect(unsettledReason(5, 5)).toBe(
      'failed 5 of 5 attempts: not settled: its consumer stopped or its lease ran out',
    );
  });
});
