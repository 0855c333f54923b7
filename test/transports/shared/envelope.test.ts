import { describe, expect, it } from 'vitest';
import { MessageTooLargeError, SerializationError, ValidationError } from '../../../src/errors.js';
import { MAX_NESTING } from '../../../src/queuing/json.js';
import { decodeEnvelope, encodeEnvelope, wrapUndecodable } from '../../../src/transports/shared/envelope.js';

const MAX = 1024 * 1024;

describe('the wire envelope', () => {
  it('encodes { id, type, payload }, leaving out attempt 1 and empty headers, and decodes it back', () => {
    const message = { type: 'orders.place', payload: { quantity: 2, note: 'a "quoted" note' } };
    const body = encodeEnvelope(message, 'orders', MAX, undefined, '00000000-0000-4000-8000-000000000000');
    expect(JSON.parse(body)).toEqual({
      id: '00000000-0000-4000-8000-000000000000',
      type: 'orders.place',
      payload: message,
    });
    expect(decodeEnvelope(body)).toEqual({ ...JSON.parse(body), attempt: 1, headers: {} });
  });

  it('leaves type out for a message without a string type, and gives a fresh id per message', () => {
    const first = encodeEnvelope(7, 'q', MAX);
    const second = encodeEnvelope({ type: 7 }, 'q', MAX);
    expect(first).toMatch(/^\{"id":"[\w-]{17,}","payload":7\}$/);
    expect(decodeEnvelope(second)).toMatchObject({ type: null, attempt: 1, payload: { type: 7 } });
    expect(JSON.parse(first).id).not.toBe(JSON.parse(second).id);
  });

  it('writes the headers sent in a headers field, and reads them back', () => {
    const headers = { traceparent: '00-4bf9-00f0-01', 'x-note': 'é "quoted" \\ \n' };
    const body = encodeEnvelope({ n: 1 }, 'q', MAX, { headers }, 'id-1');
    expect(JSON.parse(body)).toEqual({ id: 'id-1', headers, payload: { n: 1 } });
    expect(decodeEnvelope(body)).toEqual({
      id: 'id-1',
      type: null,
      attempt: 1,
      headers,
      group: undefined,
      payload: { n: 1 },
    });
  });

  it('writes the group sent in a group field, and reads it back', () => {
    const body = encodeEnvelope({ n: 1 }, 'q', MAX, { group: 'tenant "7"' }, 'id-1');
    expect(body).toBe('{"id":"id-1","group":"tenant \\"7\\"","payload":{"n":1}}');
    expect(decodeEnvelope(body).group).toBe('tenant "7"');
  });

  it('reads a group a foreign producer mistyped as the default group', () => {
    for (const group of [7, '', 'a\u0000b', 'x'.repeat(256), null]) {
      const body = JSON.stringify({ id: 'x', group, payload: 1 });
      expect(decodeEnvelope(body).group).toBeUndefined();
    }
  });

  it('leaves the headers field out for no headers or empty ones', () => {
    for (const headers of [undefined, {}]) {
      const body = encodeEnvelope({ n: 1 }, 'q', MAX, { headers }, 'id-1');
      expect(body).toBe('{"id":"id-1","payload":{"n":1}}');
      expect(decodeEnvelope(body).headers).toEqual({});
    }
  });

  it('counts the headers in maxMessageSize', () => {
    const plain = encodeEnvelope('x', 'q', MAX, undefined, 'id-1');
    const limit = Buffer.byteLength(plain);
    expect(() => encodeEnvelope('x', 'q', limit, { headers: { h: 'v' } }, 'id-1')).toThrow(
      MessageTooLargeError,
    );
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
    ['undefined', undefined, /is not JSON-serialisable/],
    ['a BigInt', { n: 1n }, /message\.n is a bigint/],
    ['a function', () => {}, /message is a function/],
    ['NaN', { x: Number.NaN }, /message\.x is NaN/],
    [
      'Infinity',
      { payload: { total: [1, Number.NEGATIVE_INFINITY] } },
      /message\.payload\.total\[1\] is -Infinity/,
    ],
    ['a Date', { at: new Date(0) }, /message\.at is an instance of Date/],
    ['a Map', { seen: new Map() }, /message\.seen is an instance of Map/],
    ['a class instance', { error: new Error('x') }, /message\.error is an instance of Error/],
    ['a symbol', { tag: Symbol('t') }, /message\.tag is a symbol/],
    ['undefined in an array', { items: [1, undefined] }, /message\.items\[1\] is undefined/],
    [
      'a cycle',
      (() => {
        const o: Record<string, unknown> = {};
        o.self = o;
        return o;
      })(),
      /message\.self is a circular reference/,
    ],
  ])('refuses %s with a SerializationError naming the queue and the path', (_, message, path) => {
    expect(() => encodeEnvelope(message, 'orders', MAX)).toThrow(SerializationError);
    expect(() => encodeEnvelope(message, 'orders', MAX)).toThrow(/queue orders/);
    expect(() => encodeEnvelope(message, 'orders', MAX)).toThrow(path);
  });

  it('accepts plain JSON nested deeper than the quick check follows, and finds a problem down there', () => {
    let deep: unknown = { leaf: 1 };
    for (let i = 0; i < 200; i++) deep = i % 2 ? { next: deep } : [deep];
    expect(decodeEnvelope(encodeEnvelope(deep, 'q', MAX)).payload).toEqual(deep);
    let bad: unknown = { leaf: new Date(0) };
    for (let i = 0; i < 200; i++) bad = { next: bad };
    expect(() => encodeEnvelope(bad, 'q', MAX)).toThrow(/message(\.next){200}\.leaf is an instance of Date/);
  });

  it('refuses a message nested deeper than MAX_NESTING at send, and a body that is on receive', () => {
    const nest = (depth: number): unknown => {
      let value: unknown = 1;
      for (let i = 0; i < depth; i++) value = i % 2 ? { next: value } : [value];
      return value;
    };
    expect(decodeEnvelope(encodeEnvelope(nest(MAX_NESTING), 'q', MAX)).payload).toEqual(nest(MAX_NESTING));
    expect(() => encodeEnvelope(nest(MAX_NESTING + 1), 'q', MAX)).toThrow(
      /queue q was refused: message is nested deeper than 256 levels, not JSON-serialisable/,
    );
    const hostile = `{"payload":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    expect(() => decodeEnvelope(hostile)).toThrow(/undecodable body: nested deeper than 256 levels/);
    const deepHeaders = `{"headers":{"h":${'['.repeat(300)}${']'.repeat(300)}},"payload":1}`;
    expect(() => decodeEnvelope(deepHeaders)).toThrow(/nested deeper than 256 levels/);
  });

  it('accepts an object property set to undefined (it reads back as undefined)', () => {
    const body = encodeEnvelope({ a: 1, b: undefined }, 'q', MAX);
    expect(decodeEnvelope(body).payload).toEqual({ a: 1 });
  });

  it('refuses a body over maxMessageSize in UTF-8 bytes, naming the size and the limit', () => {
    const fits = encodeEnvelope('x'.repeat(100), 'q', 1_000);
    const limit = Buffer.byteLength(fits);
    expect(encodeEnvelope('x'.repeat(100), 'q', limit, undefined, JSON.parse(fits).id)).toBe(fits);
    // The same length in characters, but 'é' takes two bytes.
    let error: unknown;
    try {
      encodeEnvelope('é'.repeat(100), 'q', limit);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(MessageTooLargeError);
    expect(error).toMatchObject({ code: 'MESSAGE_TOO_LARGE', size: limit + 100, limit });
    expect((error as Error).message).toMatch(
      new RegExp(`queue q is ${limit + 100} bytes.*maxMessageSize of ${limit} bytes`),
    );
  });

  it('decodes a foreign body holding only a payload', () => {
    expect(decodeEnvelope('{"payload":1,"headers":"x","id":""}')).toEqual({
      id: undefined,
      type: null,
      attempt: 1,
      headers: {},
      payload: 1,
    });
  });

  it.each([
    ['not JSON', 'this is not an envelope {', /^undecodable body: /],
    ['JSON without payload', '{"id":"x"}', /not a sluice envelope/],
    ['an array', '[1]', /not a sluice envelope/],
    ['an attempt of 0', '{"payload":1,"attempt":0}', /undecodable body: attempt 0 is not an integer ≥ 1/],
    [
      'an attempt as text',
      '{"payload":1,"attempt":"2"}',
      /undecodable body: attempt "2" is not an integer ≥ 1/,
    ],
  ])('throws why a body is not an envelope: %s', (_, body, reason) => {
    expect(() => decodeEnvelope(body)).toThrow(ValidationError);
    expect(() => decodeEnvelope(body)).toThrow(reason);
  });

  it('wraps an undecodable body as an envelope whose payload is the body', () => {
    const wrapped = wrapUndecodable('garbage {');
    expect(decodeEnvelope(JSON.stringify(wrapped))).toMatchObject({ type: null, payload: 'garbage {' });
  });
});
