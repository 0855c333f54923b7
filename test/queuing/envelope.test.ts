import { describe, expect, it } from 'vitest';
import { SerializationError, ValidationError } from '../../src/errors.js';
import { decodeEnvelope, encodeEnvelope, wrapUndecodable } from '../../src/queuing/envelope.js';

describe('the wire envelope', () => {
  it('encodes { id, type, payload }, leaving out attempt 1 and empty headers, and decodes it back', () => {
    const message = { type: 'orders.place', payload: { quantity: 2, note: 'a "quoted" note' } };
    const body = encodeEnvelope(message, 'orders', '00000000-0000-4000-8000-000000000000');
    expect(JSON.parse(body)).toEqual({
      id: '00000000-0000-4000-8000-000000000000',
      type: 'orders.place',
      payload: message,
    });
    expect(decodeEnvelope(body)).toEqual({ ...JSON.parse(body), attempt: 1, headers: {} });
  });

  it('leaves type out for a message without a string type, and gives a fresh id per message', () => {
    const first = encodeEnvelope(7, 'q');
    const second = encodeEnvelope({ type: 7 }, 'q');
    expect(first).toMatch(/^\{"id":"[\w-]{17,}","payload":7\}$/);
    expect(decodeEnvelope(second)).toMatchObject({ type: null, attempt: 1, payload: { type: 7 } });
    expect(JSON.parse(first).id).not.toBe(JSON.parse(second).id);
  });

  it('decodes the full form a foreign producer may send', () => {
    const body = '{"id":"x","type":"t","attempt":3,"headers":{"traceparent":"00-a"},"payload":null}';
    expect(decodeEnvelope(body)).toEqual({
      id: 'x',
      type: 't',
      attempt: 3,
      headers: { traceparent: '00-a' },
      payload: null,
    });
  });

  it.each([
    ['undefined', undefined],
    ['a BigInt', { n: 1n }],
    ['a function', () => {}],
  ])('refuses %s with a SerializationError naming the queue', (_, message) => {
    expect(() => encodeEnvelope(message, 'orders')).toThrow(SerializationError);
    expect(() => encodeEnvelope(message, 'orders')).toThrow(/queue orders/);
  });

  it('decodes a foreign body holding only a payload', () => {
    expect(decodeEnvelope('{"payload":1,"headers":"x","attempt":0}')).toEqual({
      id: undefined,
      type: null,
      attempt: undefined,
      headers: {},
      payload: 1,
    });
  });

  it.each([
    ['not JSON', 'this is not an envelope {', /^undecodable body: /],
    ['JSON without payload', '{"id":"x"}', /not a sluice envelope/],
    ['an array', '[1]', /not a sluice envelope/],
  ])('throws why a body is not an envelope: %s', (_, body, reason) => {
    expect(() => decodeEnvelope(body)).toThrow(ValidationError);
    expect(() => decodeEnvelope(body)).toThrow(reason);
  });

  it('wraps an undecodable body as an envelope whose payload is the body', () => {
    const wrapped = wrapUndecodable('garbage {');
    expect(decodeEnvelope(JSON.stringify(wrapped))).toMatchObject({ type: null, payload: 'garbage {' });
  });
});
