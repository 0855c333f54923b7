import type { StandardSchemaV1 } from '@standard-schema/spec';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InvalidOptionError, ValidationError } from '../../src/errors.js';
import { defineCommand, defineEvent, defineQuery } from '../../src/routing/define.js';

describe('message definitions', () => {
  it('are callable factories of plain { type, payload } messages', () => {
    const CreateUser = defineCommand<{ name: string }, { id: string }>('users.create');
    const message = CreateUser({ name: 'Ada' });
    expect(message).toEqual({ type: 'users.create', payload: { name: 'Ada' } });
    expect(Object.keys(message)).toEqual(['type', 'payload']);
    expect(JSON.parse(JSON.stringify(message))).toEqual(message);
    expect(CreateUser.type).toBe('users.create');
    expect(CreateUser.schema).toBeUndefined();
  });

  it('exist for commands, queries and events alike', () => {
    const GetUser = defineQuery<{ id: string }, string | undefined>('users.get');
    const UserCreated = defineEvent<{ id: string }>('users.created');
    expect(GetUser({ id: '1' })).toEqual({ type: 'users.get', payload: { id: '1' } });
    expect(UserCreated({ id: '1' })).toEqual({ type: 'users.created', payload: { id: '1' } });
  });

  it('is() guards by type tag', () => {
    const A = defineEvent<number>('a');
    const B = defineEvent<number>('b');
    expect(A.is(A(1))).toBe(true);
    expect(A.is(B(1))).toBe(false);
    expect(A.is(null)).toBe(false);
    expect(A.is('a')).toBe(false);
    expect(A.is({ type: 'a', payload: 'anything' })).toBe(true);
  });

  it('parse() returns a decoded message of its type and rejects anything else with ValidationError', () => {
    const Ping = defineCommand<{ n: number }>('ping');
    const decoded: unknown = JSON.parse('{"type":"ping","payload":{"n":1}}');
    expect(Ping.parse(decoded)).toEqual({ type: 'ping', payload: { n: 1 } });
    for (const bad of [null, 'ping', { type: 'pong', payload: {} }, [], 42]) {
      expect(() => Ping.parse(bad)).toThrow(ValidationError);
      expect(() => Ping.parse(bad)).toThrow('"ping"');
    }
  });

  it('parse() accepts a message without payload back from JSON, which drops an undefined payload', () => {
    const Ping = defineCommand<void, string>('ping');
    const decoded: unknown = JSON.parse(JSON.stringify(Ping()));
    expect(decoded).toEqual({ type: 'ping' });
    expect(Ping.parse(decoded)).toEqual({ type: 'ping', payload: undefined });
  });

  it('rejects an empty type and a schema that is not a Standard Schema', () => {
    expect(() => defineCommand('')).toThrow(InvalidOptionError);
    expect(() => defineCommand('')).toThrow('type');
    expect(() => defineEvent('e', { parse: () => 1 } as never)).toThrow(InvalidOptionError);
    expect(() => defineEvent('e', { parse: () => 1 } as never)).toThrow('schema of "e"');
  });
});

describe('message definitions with a zod 4 schema', () => {
  const CreateUser = defineCommand(
    'users.create',
    z.object({ name: z.string().min(1), age: z.number().int().optional() }),
  );

  it('validate the payload on creation', () => {
    expect(CreateUser({ name: 'Ada' })).toEqual({ type: 'users.create', payload: { name: 'Ada' } });
    expect(CreateUser.schema).toBeDefined();
  });

  it('throw ValidationError naming the type, with the issues and their paths', () => {
    let error: unknown;
    try {
      CreateUser({ name: '', age: 1.5 });
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(ValidationError);
    const validation = error as ValidationError;
    expect(validation.code).toBe('VALIDATION_FAILED');
    expect(validation.message).toContain('"users.create"');
    expect(validation.message).toContain('name');
    expect(validation.message).toContain('age');
    expect(validation.issues).toHaveLength(2);
    expect(validation.issues.map((issue) => (issue as StandardSchemaV1.Issue).path)).toEqual([
      ['name'],
      ['age'],
    ]);
  });

  it('validate in parse() too', () => {
    expect(() => CreateUser.parse({ type: 'users.create', payload: { name: 42 } })).toThrow(ValidationError);
    expect(CreateUser.parse({ type: 'users.create', payload: { name: 'Ada' } }).payload.name).toBe('Ada');
  });

  it('let the schema decide on a missing payload in parse()', () => {
    expect(() => CreateUser.parse({ type: 'users.create' })).toThrow(ValidationError);
    expect(() => CreateUser.parse({ type: 'users.create' })).toThrow('invalid payload for "users.create"');
    const Ping = defineCommand('ping', z.undefined());
    const decoded: unknown = JSON.parse(JSON.stringify(Ping(undefined)));
    expect(Ping.parse(decoded)).toEqual({ type: 'ping', payload: undefined });
  });

  it('use the value the schema outputs (defaults and transforms applied)', () => {
    const Tag = defineEvent(
      'tag',
      z.object({ label: z.string().transform((label) => label.trim()), count: z.number().default(1) }),
    );
    expect(Tag({ label: '  x ' }).payload).toEqual({ label: 'x', count: 1 });
  });

  it('refuse an asynchronous schema with a ValidationError naming the type', () => {
    const Slow = defineCommand(
      'slow',
      z.string().refine(async () => true),
    );
    expect(() => Slow('x')).toThrow(ValidationError);
    expect(() => Slow('x')).toThrow('"slow"');
  });
});

describe('message definitions with a hand-written Standard Schema', () => {
  it('format issue paths made of { key } segments, as valibot and arktype report them', () => {
    const issues: StandardSchemaV1.Issue[] = [
      { message: 'expected a string', path: [{ key: 'items' }, { key: 0 }, 'name'] },
      { message: 'required', path: ['owner', { key: 'id' }] },
      { message: 'too many fields' },
    ];
    const schema: StandardSchemaV1<{ items: { name: string }[] }> = {
      '~standard': { version: 1, vendor: 'hand-written', validate: () => ({ issues }) },
    };
    const Order = defineCommand('orders.place', schema);
    let error: unknown;
    try {
      Order({ items: [] });
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toBe(
      'invalid payload for "orders.place": items.0.name: expected a string; owner.id: required; too many fields',
    );
    expect((error as ValidationError).issues).toBe(issues);
  });
});
