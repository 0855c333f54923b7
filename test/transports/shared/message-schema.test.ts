import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InvalidOptionError, ValidationError } from '../../../src/errors.js';
import { defineCommand } from '../../../src/routing/define.js';
import { compileMessageSchema } from '../../../src/transports/shared/message-schema.js';

const Place = defineCommand('orders.place', z.object({ quantity: z.number().int().positive() }));
const Cancel = defineCommand('orders.cancel', z.object({ id: z.string() }));

function failureOf(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error, nothing was thrown');
}

describe('compileMessageSchema', () => {
  it('checks nothing without a schema', () => {
    expect(compileMessageSchema(undefined)).toBeUndefined();
  });

  it('parses with a message definition', () => {
    const check = compileMessageSchema(Place)!;
    expect(check({ type: 'orders.place', payload: { quantity: 2 } })).toEqual(Place({ quantity: 2 }));
    expect(failureOf(() => check({ type: 'orders.place', payload: { quantity: -1 } }))).toBeInstanceOf(
      ValidationError,
    );
  });

  it('picks the definition of the message type from an array, naming an unknown type', () => {
    const check = compileMessageSchema<unknown>([Place, Cancel])!;
    expect(check(Cancel({ id: 'a' }))).toEqual(Cancel({ id: 'a' }));
    const error = failureOf(() => check({ type: 'orders.refund', payload: {} }));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toBe('no schema for message type "orders.refund"');
  });

  it('uses a Standard Schema before its parse, synchronously, naming the failing path', () => {
    const check = compileMessageSchema(z.object({ quantity: z.number() }))!;
    expect(check({ quantity: 1 })).toEqual({ quantity: 1 });
    const error = failureOf(() => check({ quantity: 'one' }));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toMatch(/^quantity: /);
    expect((error as ValidationError).issues).toHaveLength(1);
  });

  it('returns a promise only for an asynchronous Standard Schema', async () => {
    const check = compileMessageSchema(z.string().refine(async (value) => value !== 'bad'))!;
    const good = check('good');
    expect(good).toBeInstanceOf(Promise);
    await expect(good).resolves.toBe('good');
    await expect(check('bad')).rejects.toBeInstanceOf(ValidationError);
  });

  it.each([
    ['a number', 42],
    ['null', null],
    ['an object without parse', {}],
    ['an empty array', []],
    ['an array holding a definition without type', [{ parse: (value: unknown) => value }]],
  ])('rejects %s as schema with InvalidOptionError', (_, schema) => {
    const error = failureOf(() => compileMessageSchema(schema as never));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error.message).toContain('schema');
  });
});
