import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import { defineEvent } from '../../src/routing/define.js';
import { EventBus } from '../../src/routing/event-bus.js';
import { deferred, flush, stateOf } from '../support/async.js';

const UserCreated = defineEvent<{ id: string }>('users.created');

describe('EventBus', () => {
  it('resolves an event nobody subscribed to', async () => {
    await expect(new EventBus().dispatch(UserCreated({ id: '1' }))).resolves.toBeUndefined();
  });

  it('runs every handler of the type concurrently and resolves once all settled', async () => {
    const bus = new EventBus();
    const gates = [deferred(), deferred()];
    const started: number[] = [];
    bus.subscribe(UserCreated, async () => {
      started.push(0);
      await gates[0]!.promise;
    });
    bus.subscribe(UserCreated, async () => {
      started.push(1);
      await gates[1]!.promise;
    });
    bus.subscribe('other', () => {
      started.push(99);
    });
    const dispatched = bus.dispatch(UserCreated({ id: '1' }));
    await flush();
    expect(started).toEqual([0, 1]);
    gates[1]!.resolve();
    expect(await stateOf(dispatched)).toBe('pending');
    gates[0]!.resolve();
    await expect(dispatched).resolves.toBeUndefined();
  });

  it('gives every handler the message and the signal', async () => {
    const bus = new EventBus();
    const seen: unknown[] = [];
    bus.subscribe(UserCreated, (message, context) => {
      seen.push(message.payload.id, context.message === message, context.signal.aborted);
    });
    await bus.dispatch(UserCreated({ id: '7' }));
    expect(seen).toEqual(['7', true, false]);
  });

  it('rejects with the single error after every handler settled', async () => {
    const bus = new EventBus();
    const failure = new Error('one failed');
    const slow = deferred();
    let slowFinished = false;
    bus.subscribe(UserCreated, () => {
      throw failure;
    });
    bus.subscribe(UserCreated, async () => {
      await slow.promise;
      slowFinished = true;
    });
    const dispatched = bus.dispatch(UserCreated({ id: '1' }));
    expect(await stateOf(dispatched)).toBe('pending');
    slow.resolve();
    await expect(dispatched).rejects.toBe(failure);
    expect(slowFinished).toBe(true);
  });

  it('rejects with the error of a sole handler', async () => {
    const bus = new EventBus();
    const failure = new Error('sole failed');
    bus.subscribe(UserCreated, async () => {
      throw failure;
    });
    await expect(bus.dispatch(UserCreated({ id: '1' }))).rejects.toBe(failure);
  });

  it('rejects with an AggregateError of every failure when several handlers fail', async () => {
    const bus = new EventBus();
    const first = new Error('first');
    const second = new Error('second');
    bus.subscribe(UserCreated, () => {
      throw first;
    });
    bus.subscribe(UserCreated, () => {});
    bus.subscribe(UserCreated, async () => {
      throw second;
    });
    const error = await bus.dispatch(UserCreated({ id: '1' })).catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(AggregateError);
    expect((error as AggregateError).errors).toEqual([first, second]);
    expect((error as Error).message).toContain('users.created');
  });

  it('unsubscribes with the function subscribe returned, leaving the other handlers', async () => {
    const bus = new EventBus();
    const calls: string[] = [];
    const offA = bus.subscribe(UserCreated, () => {
      calls.push('a');
    });
    bus.subscribe(UserCreated, () => {
      calls.push('b');
    });
    offA();
    offA();
    await bus.dispatch(UserCreated({ id: '1' }));
    expect(calls).toEqual(['b']);
  });

  it('keeps two subscriptions of the same function apart', async () => {
    const bus = new EventBus();
    let calls = 0;
    const handler = () => {
      calls++;
    };
    const off = bus.subscribe(UserCreated, handler);
    bus.subscribe(UserCreated, handler);
    off();
    await bus.dispatch(UserCreated({ id: '1' }));
    expect(calls).toBe(1);
  });

  it('rejects a non-function handler naming the type', () => {
    expect(() => new EventBus().subscribe(UserCreated, 42 as never)).toThrow(InvalidOptionError);
    expect(() => new EventBus().subscribe(UserCreated, 42 as never)).toThrow('"users.created"');
  });

  it('aborts handlers through options.signal', async () => {
    const bus = new EventBus();
    const controller = new AbortController();
    bus.subscribe(UserCreated, (_message, { signal }) => {
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    });
    const dispatched = bus.dispatch(UserCreated({ id: '1' }), { signal: controller.signal });
    controller.abort(new Error('stop'));
    await expect(dispatched).rejects.toThrow('stop');
  });
});
