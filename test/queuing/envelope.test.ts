import { describe, expect, it } from 'vitest';
import { SerializationError, ValidationError } from '../../src/errors.js';
import { decodeEnvelope, encodeEnvelope, wrapUndecodable } from '../../src/queuing/envelope.js';

describe('the wire envelope', () => {
  it('encodes { id, type, attempt: 1, headers, payload } and decodes it back', () => {
    const message = { type: 'orders.place', payload: { quantity: 2, note: 'a "quoted" note' } };
    const body = encodeEnvelope(message, 'orders', '00000000-0000-4000-8000-000000000000');
    expect(JSON.parse(body)).toEqual({
      id: '00000000-0000-4000-8000-000000000000',
      type: 'orders.place',
      attempt: 1,
      headers: {},
      payload: message,
    });
    expect(decodeEnvelope(body)).toEqual(JSON.parse(body));
  });

  it('writes type null for a message without a string type, and a fresh id per message', () => {
    const first = JSON.parse(encodeEnvelope('plain', 'q'));
    const second = JSON.parse(encodeEnvelope({ type: 7 }, 'q'));
    expect([first.type, second.type]).toEqual([null, null]);
    expect(first.id).not.toBe(second.id);
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
