import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidOptionError, TimeoutError } from '../../src/errors.js';
import { retry } from '../../src/middleware/retry.js';
import { timeout } from '../../src/middleware/timeout.js';
import { defineQuery } from '../../src/routing/define.js';
import { QueryBus } from '../../src/routing/handler-bus.js';
import { deferred, stateOf } from '../support/async.js';

const Slow = defineQuery<number, string>('reports.slow');

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('timeout', () => {
  it('rejects with TimeoutError naming the message and aborts the handler signal', async () => {
    let handlerSignal: AbortSignal | undefined;
    const bus = new QueryBus().use(timeout(200)).register(Slow, (_message, { signal }) => {
      handlerSignal = signal;
      return new Promise<string>(() => {});
    });
    const dispatched = bus.dispatch(Slow(1));
    await vi.advanceTimersByTimeAsync(199);
    expect(await stateOf(dispatched)).toBe('pending');
    expect(handlerSignal?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const error = await dispatched.catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).code).toBe('TIMEOUT');
    expect((error as Error).message).toContain('"reports.slow"');
    expect((error as Error).message).toContain('200 ms');
    expect(handlerSignal?.aborted).toBe(true);
    expect(handlerSignal?.reason).toBe(error);
  });

  it('resolves with the result of a handler that finishes in time and clears its timer', async () => {
    const bus = new QueryBus().use(timeout(200)).register(Slow, async ({ payload }) => `report ${payload}`);
    await expect(bus.dispatch(Slow(7))).resolves.toBe('report 7');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('passes a caller abort on to the handler signal', async () => {
    let handlerSignal: AbortSignal | undefined;
    const gate = deferred<string>();
    const bus = new QueryBus().use(timeout(10_000)).register(Slow, (_message, { signal }) => {
      handlerSignal = signal;
      signal.addEventListener('abort', () => gate.reject(signal.reason));
      return gate.promise;
    });
    const controller = new AbortController();
    const dispatched = bus.dispatch(Slow(1), { signal: controller.signal });
    await vi.advanceTimersByTimeAsync(0);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await expect(dispatched).rejects.toBe(reason);
    expect(handlerSignal?.reason).toBe(reason);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('bounds each try when placed inside retry', async () => {
    let tries = 0;
    const bus = new QueryBus()
      .use(retry({ attempts: 3 }), timeout(100))
      .register(Slow, (_message, { signal }) => {
        tries++;
        if (tries < 3) return new Promise<string>(() => {});
        return signal.aborted ? 'aborted' : 'third try in time';
      });
    const dispatched = bus.dispatch(Slow(1));
    await vi.advanceTimersByTimeAsync(200);
    await expect(dispatched).resolves.toBe('third try in time');
    expect(tries).toBe(3);
  });

  it('waits out a timeout longer than the 2^31-1 ms a single Node timer can wait', async () => {
    const ms = 2 ** 32;
    const bus = new QueryBus().use(timeout(ms)).register(Slow, () => new Promise<string>(() => {}));
    const dispatched = bus.dispatch(Slow(1));
    await vi.advanceTimersByTimeAsync(ms - 1);
    expect(await stateOf(dispatched)).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    await expect(dispatched).rejects.toBeInstanceOf(TimeoutError);
  });

  it('clears a long timeout that is still chaining timers when the handler answers', async () => {
    const gate = deferred<string>();
    const bus = new QueryBus().use(timeout(2 ** 33)).register(Slow, () => gate.promise);
    const dispatched = bus.dispatch(Slow(1));
    await vi.advanceTimersByTimeAsync(2 ** 32);
    gate.resolve('late but in time');
    await expect(dispatched).resolves.toBe('late but in time');
    expect(vi.getTimerCount()).toBe(0);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])(
    'rejects %s naming the option and the value',
    (ms) => {
      expect(() => timeout(ms)).toThrow(InvalidOptionError);
      expect(() => timeout(ms)).toThrow(`timeout: ${ms}`);
    },
  );
});
