import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { captureErrors } from '../../src/middleware/capture-errors.js';
import type { Context } from '../../src/middleware/types.js';
import { defineCommand, defineEvent, defineQuery } from '../../src/routing/define.js';
import { EventBus } from '../../src/routing/event-bus.js';
import { CommandBus, QueryBus } from '../../src/routing/handler-bus.js';
import type { Command, Event, Query, ResultOf } from '../../src/routing/message.js';

interface User {
  id: string;
  name: string;
}

const CreateUser = defineCommand<{ name: string }, User>('users.create');
const GetUser = defineQuery<{ id: string }, User | undefined>('users.get');
const UserCreated = defineEvent<{ id: string }>('users.created');

describe('definitions', () => {
  it('build messages whose payload and result types come from the type parameters', () => {
    expectTypeOf(CreateUser).parameter(0).toEqualTypeOf<{ name: string }>();
    expectTypeOf(CreateUser({ name: 'Ada' })).toEqualTypeOf<Command<{ name: string }, User>>();
    expectTypeOf(CreateUser({ name: 'Ada' }).payload).toEqualTypeOf<{ name: string }>();
    expectTypeOf<ResultOf<ReturnType<typeof CreateUser>>>().toEqualTypeOf<User>();
    expectTypeOf(GetUser({ id: '1' })).toEqualTypeOf<Query<{ id: string }, User | undefined>>();
    expectTypeOf(UserCreated({ id: '1' })).toEqualTypeOf<Event<{ id: string }>>();
    // @ts-expect-error the payload must match
    CreateUser({ name: 42 });
  });

  it('default the result of a command to void', () => {
    const Ping = defineCommand<{ n: number }>('ping');
    expectTypeOf<ResultOf<ReturnType<typeof Ping>>>().toEqualTypeOf<void>();
  });

  it('take the schema input and carry its output, so defaults may be left out', () => {
    const Page = defineQuery('users.page', z.object({ size: z.number().default(20) }));
    expectTypeOf(Page).parameter(0).toEqualTypeOf<{ size?: number | undefined }>();
    expectTypeOf(Page({}).payload).toEqualTypeOf<{ size: number }>();
  });

  it('infer the payload (and the literal type) from a zod schema', () => {
    const Rename = defineCommand('users.rename', z.object({ id: z.string(), name: z.string().min(1) }));
    expectTypeOf(Rename).parameter(0).toEqualTypeOf<{ id: string; name: string }>();
    expectTypeOf(Rename.type).toEqualTypeOf<'users.rename'>();
    expectTypeOf<ResultOf<ReturnType<typeof Rename>>>().toEqualTypeOf<void>();
    // @ts-expect-error `name` is required by the schema
    Rename({ id: '1' });

    const Tagged = defineEvent('tagged', z.object({ tags: z.array(z.string()) }));
    expectTypeOf(Tagged({ tags: [] }).payload).toEqualTypeOf<{ tags: string[] }>();
  });

  it('take the schema type first when a schema-checked command also answers a result', () => {
    const Paged = z.object({ size: z.number().default(20) });
    const ListUsers = defineQuery<typeof Paged, User[]>('users.list', Paged);
    expectTypeOf(ListUsers).parameter(0).toEqualTypeOf<{ size?: number | undefined }>();
    expectTypeOf(ListUsers({}).payload).toEqualTypeOf<{ size: number }>();
    expectTypeOf<ResultOf<ReturnType<typeof ListUsers>>>().toEqualTypeOf<User[]>();
    expectTypeOf(new QueryBus().dispatch(ListUsers({}))).toEqualTypeOf<Promise<User[]>>();

    const Schema = z.object({ name: z.string() });
    const Create = defineCommand<typeof Schema, User>('users.create', Schema);
    expectTypeOf(Create({ name: 'Ada' })).toEqualTypeOf<Command<{ name: string }, User>>();
    new CommandBus().register(Create, ({ payload }) => ({ id: '1', name: payload.name }));
    // @ts-expect-error the handler must answer a User
    new CommandBus().register(Create, () => 42);

    // The payload type given as such works too while the schema's input and output are one type.
    const Rename = defineCommand<{ name: string }, User>('users.rename', Schema);
    expectTypeOf<ResultOf<ReturnType<typeof Rename>>>().toEqualTypeOf<User>();
    // @ts-expect-error the schema must produce the payload type
    defineCommand<{ name: number }, User>('users.renumber', Schema);
  });

  it('narrow with is() and type what parse() returns', () => {
    const value: unknown = JSON.parse('{}');
    if (CreateUser.is(value)) expectTypeOf(value.payload).toEqualTypeOf<{ name: string }>();
    expectTypeOf(GetUser.parse(value)).toEqualTypeOf<Query<{ id: string }, User | undefined>>();
  });
});

describe('buses', () => {
  it('type a command dispatch by the definition result', () => {
    const commands = new CommandBus();
    expectTypeOf(commands.dispatch(CreateUser({ name: 'Ada' }))).toEqualTypeOf<Promise<User>>();
    expectTypeOf(
      commands.dispatch(CreateUser({ name: 'Ada' }), { signal: AbortSignal.abort() }),
    ).toEqualTypeOf<Promise<User>>();
  });

  it('type a query dispatch by the definition result', () => {
    const queries = new QueryBus();
    expectTypeOf(queries.dispatch(GetUser({ id: '1' }))).toEqualTypeOf<Promise<User | undefined>>();
  });

  it('resolve an event dispatch with void', () => {
    expectTypeOf(new EventBus().dispatch(UserCreated({ id: '1' }))).toEqualTypeOf<Promise<void>>();
  });

  it('type handler parameters and results from the definition', () => {
    new CommandBus().register(CreateUser, (message, context) => {
      expectTypeOf(message).toEqualTypeOf<Command<{ name: string }, User>>();
      expectTypeOf(message.payload.name).toEqualTypeOf<string>();
      expectTypeOf(context).toEqualTypeOf<Context<Command<{ name: string }, User>>>();
      expectTypeOf(context.signal).toEqualTypeOf<AbortSignal>();
      return { id: '1', name: message.payload.name };
    });
    new QueryBus().register(GetUser, async () => undefined);
    // @ts-expect-error the handler must answer a User
    new CommandBus().register(CreateUser, () => 42);

    new EventBus().subscribe(UserCreated, (message) => {
      expectTypeOf(message.payload).toEqualTypeOf<{ id: string }>();
    });
  });

  it('return the bus from register and use, for chaining', () => {
    const commands = new CommandBus();
    expectTypeOf(commands.register(CreateUser, () => ({ id: '', name: '' }))).toEqualTypeOf<CommandBus>();
    expectTypeOf(commands.use(captureErrors(() => {}))).toEqualTypeOf<CommandBus>();
  });

  it('type an inline generator middleware without annotations, yield included', () => {
    new CommandBus().use(async function* audit(message) {
      expectTypeOf(message).toEqualTypeOf<Command<any, any>>();
      const result = yield;
      expectTypeOf(result).toBeAny();
    });
    new EventBus().use(function* audit(message) {
      expectTypeOf(message).toEqualTypeOf<Event<any>>();
      const result = yield;
      expectTypeOf(result).toBeAny();
    });
    new QueryBus().use(async (message, next, context) => {
      expectTypeOf(message).toEqualTypeOf<Query<any, any>>();
      expectTypeOf(context).toEqualTypeOf<Context<Query<any, any>>>();
      return next(message);
    });
  });

  it('keep commands off the event bus and events off the command bus', () => {
    // @ts-expect-error an event is not a command
    new CommandBus().dispatch(UserCreated({ id: '1' }));
    // @ts-expect-error a command is not an event
    new EventBus().dispatch(CreateUser({ name: 'Ada' }));
  });
});
