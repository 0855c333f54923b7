import { describe, expect, it } from 'vitest';
import { HandlerAlreadyRegisteredError, InvalidOptionError, NoHandlerError } from '../../src/errors.js';
import { timeout } from '../../src/middleware/timeout.js';
import type { Context, DispatchOptions } from '../../src/middleware/types.js';
import { defineCommand, defineQuery } from '../../src/routing/define.js';
import { CommandBus, QueryBus } from '../../src/routing/handler-bus.js';
import type { Message } from '../../src/routing/message.js';
import { deferred, flush } from '../support/async.js';

const CreateUser = defineCommand<{ name: string }, { id: string; name: string }>('users.create');
const GetUser = defineQuery<{ id: string }, string | undefined>('users.get');

/** What CommandBus and QueryBus share, typed loosely so one suite runs against both. */
interface SingleHandlerBus {
  register(type: string, handler: (message: any, context: Context<any>) => unknown): SingleHandlerBus;
  dispatch(message: Message, options?: DispatchOptions): Promise<unknown>;
}

describe.each<[string, () => SingleHandlerBus]>([
  ['CommandBus', () => new CommandBus()],
  ['QueryBus', () => new QueryBus()],
])('%s', (_name, create) => {
  const Ask = defineCommand<number, number>('ask');

  it('dispatches to the one handler of the type and resolves its result', async () => {
    const bus = create();
    expect(bus.register('ask', async (message) => message.payload * 2)).toBe(bus);
    await expect(bus.dispatch(Ask(21))).resolves.toBe(42);
  });

  it('rejects a dispatch with no handler with NoHandlerError naming the type', async () => {
    const bus = create();
    const dispatched = bus.dispatch(Ask(1));
    await expect(dispatched).rejects.toBeInstanceOf(NoHandlerError);
    await expect(dispatched).rejects.toThrow('"ask"');
  });

  it('throws HandlerAlreadyRegisteredError for a second handler of a type', () => {
    const bus = create().register('ask', () => 1);
    expect(() => bus.register('ask', () => 2)).toThrow(HandlerAlreadyRegisteredError);
    expect(() => bus.register('ask', () => 2)).toThrow('"ask"');
  });

  it('rejects a non-function handler naming the type and the value', () => {
    const bus = create();
    expect(() => bus.register('ask', 'nope' as never)).toThrow(InvalidOptionError);
    expect(() => bus.register('ask', 'nope' as never)).toThrow(/handler for "ask".*"nope"/);
    expect(() => bus.register('', () => 1)).toThrow(InvalidOptionError);
  });

  it('rejects something that is not a message', async () => {
    const bus = create();
    await expect(bus.dispatch(null as never)).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(bus.dispatch({ payload: 1 } as never)).rejects.toThrow('message');
  });

  it('rejects a handler error as it is', async () => {
    const failure = new Error('handler failed');
    const bus = create().register('ask', () => {
      throw failure;
    });
    await expect(bus.dispatch(Ask(1))).rejects.toBe(failure);
  });

  it('gives the handler a context with the message and a signal', async () => {
    let seen: Context<unknown> | undefined;
    const bus = create().register('ask', (_message, context) => {
      seen = context;
      return 0;
    });
    const message = Ask(1);
    await bus.dispatch(message);
    expect(seen?.message).toBe(message);
    expect(seen?.signal).toBeInstanceOf(AbortSignal);
    expect(seen?.signal.aborted).toBe(false);
  });

  it('lets the caller cancel a handler that honours the signal through options.signal', async () => {
    const controller = new AbortController();
    let handlerSignal: AbortSignal | undefined;
    const bus = create().register('ask', (_message, { signal }) => {
      handlerSignal = signal;
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    });
    const dispatched = bus.dispatch(Ask(1), { signal: controller.signal });
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await expect(dispatched).rejects.toBe(reason);
    expect(handlerSignal?.aborted).toBe(true);
  });

  it('rejects an options.signal that is not an AbortSignal, naming the value', async () => {
    const bus = create().register('ask', () => 0);
    const dispatched = bus.dispatch(Ask(1), { signal: 42 as never });
    await expect(dispatched).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(dispatched).rejects.toThrow('signal: 42');
  });

  it('rejects at once with the reason when options.signal is already aborted', async () => {
    let called = false;
    const bus = create().register('ask', () => {
      called = true;
      return 0;
    });
    const reason = new Error('too late');
    await expect(bus.dispatch(Ask(1), { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(called).toBe(false);
  });
});

describe('CommandBus and QueryBus together', () => {
  it('keep their handlers apart', async () => {
    const users = new Map<string, string>();
    const commands = new CommandBus().register(CreateUser, ({ payload }) => {
      const user = { id: String(users.size + 1), name: payload.name };
      users.set(user.id, user.name);
      return user;
    });
    const queries = new QueryBus().register(GetUser, ({ payload }) => users.get(payload.id));
    const created = await commands.dispatch(CreateUser({ name: 'Ada' }));
    expect(created).toEqual({ id: '1', name: 'Ada' });
    await expect(queries.dispatch(GetUser({ id: created.id }))).resolves.toBe('Ada');
    await expect(queries.dispatch(CreateUser({ name: 'x' }) as never)).rejects.toBeInstanceOf(NoHandlerError);
    expect(() => queries.register(GetUser, () => undefined)).toThrow(HandlerAlreadyRegisteredError);
  });
});

describe('the signal of a dispatch given none', () => {
  it('takes a listener per timed dispatch in flight without a MaxListenersExceededWarning', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const gate = deferred();
      const bus = new CommandBus().use(timeout(60_000)).register(CreateUser, async ({ payload }) => {
        await gate.promise;
        return { id: '1', name: payload.name };
      });
      const dispatched = Array.from({ length: 20 }, () => bus.dispatch(CreateUser({ name: 'Ada' })));
      await flush(); // every timeout listens now; a warning is emitted on the next tick
      gate.resolve();
      await Promise.all(dispatched);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).not.toContain('MaxListenersExceededWarning');
  });
});
