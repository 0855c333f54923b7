import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import { type RetryOptions, retry } from '../../src/middleware/retry.js';
import { defineCommand } from '../../src/routing/define.js';
import { CommandBus } from '../../src/routing/handler-bus.js';
import { stateOf } from '../support/async.js';

const Flaky = defineCommand<void, string>('flaky');

/** A bus whose handler fails `failures` times, then answers with the try number. */
function flaky(failures: number, options?: RetryOptions, makeError = (n: number) => new Error(`fail ${n}`)) {
  const tries: number[] = [];
  const bus = new CommandBus().use(retry(options)).register(Flaky, () => {
    tries.push(Date.now());
    if (tries.length <= failures) throw makeError(tries.length);
    return `ok on try ${tries.length}`;
  });
  return { bus, tries };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('retry', () => {
  it('counts every try in attempts, the first included, then rejects with the last error', async () => {
    const { bus, tries } = flaky(5, { attempts: 3 });
    await expect(bus.dispatch(Flaky())).rejects.toThrow('fail 3');
    expect(tries).toHaveLength(3);
  });

  it('defaults to 3 attempts and resolves as soon as a try succeeds', async () => {
    const { bus, tries } = flaky(2);
    await expect(bus.dispatch(Flaky())).resolves.toBe('ok on try 3');
    expect(tries).toHaveLength(3);
  });

  it('with attempts 1 does not retry', async () => {
    const { bus, tries } = flaky(1, { attempts: 1 });
    await expect(bus.dispatch(Flaky())).rejects.toThrow('fail 1');
    expect(tries).toHaveLength(1);
  });

  it('waits a fixed delay between tries', async () => {
    const { bus, tries } = flaky(2, { attempts: 3, delay: 100 });
    const start = Date.now();
    const dispatched = bus.dispatch(Flaky());
    await vi.advanceTimersByTimeAsync(99);
    expect(tries).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(tries).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(100);
    await expect(dispatched).resolves.toBe('ok on try 3');
    expect(tries.map((t) => t - start)).toEqual([0, 100, 200]);
  });

  it('doubles the delay after each failure with exponential backoff', async () => {
    const { bus, tries } = flaky(3, { attempts: 4, delay: 100, backoff: 'exponential' });
    const start = Date.now();
    const dispatched = bus.dispatch(Flaky());
    await vi.advanceTimersByTimeAsync(700);
    await expect(dispatched).resolves.toBe('ok on try 4');
    expect(tries.map((t) => t - start)).toEqual([0, 100, 300, 700]);
  });

  it('waits a delay longer than the 2^31-1 ms a single Node timer can wait', async () => {
    const { bus, tries } = flaky(1, { attempts: 2, delay: 2 ** 32 });
    const dispatched = bus.dispatch(Flaky());
    await vi.advanceTimersByTimeAsync(2 ** 32 - 1);
    expect(tries).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await expect(dispatched).resolves.toBe('ok on try 2');
  });

  it('keeps doubling an exponential delay past the 2^31-1 ms timer limit', async () => {
    const { bus, tries } = flaky(2, { attempts: 3, delay: 2 ** 30, backoff: 'exponential' });
    const start = Date.now();
    const dispatched = bus.dispatch(Flaky());
    await vi.advanceTimersByTimeAsync(2 ** 30 + 2 ** 31);
    await expect(dispatched).resolves.toBe('ok on try 3');
    expect(tries.map((t) => t - start)).toEqual([0, 2 ** 30, 2 ** 30 + 2 ** 31]);
  });

  it('stops a long wait that is chaining timers when the dispatch signal aborts', async () => {
    const { bus, tries } = flaky(1, { attempts: 2, delay: 2 ** 33 });
    const controller = new AbortController();
    const dispatched = bus.dispatch(Flaky(), { signal: controller.signal });
    await vi.advanceTimersByTimeAsync(2 ** 32);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await expect(dispatched).rejects.toBe(reason);
    expect(vi.getTimerCount()).toBe(0);
    expect(tries).toHaveLength(1);
  });

  it('retries only the errors `when` accepts', async () => {
    const transient = Object.assign(new Error('transient'), { transient: true });
    const fatal = new Error('fatal');
    const errors = [transient, fatal];
    const { bus, tries } = flaky(
      2,
      { attempts: 5, when: (error) => (error as { transient?: boolean }).transient === true },
      (n) => errors[n - 1]!,
    );
    await expect(bus.dispatch(Flaky())).rejects.toBe(fatal);
    expect(tries).toHaveLength(2);
  });

  it('stops waiting and rejects with the reason when the dispatch signal aborts', async () => {
    const { bus, tries } = flaky(5, { attempts: 5, delay: 1_000 });
    const controller = new AbortController();
    const dispatched = bus.dispatch(Flaky(), { signal: controller.signal });
    await vi.advanceTimersByTimeAsync(10);
    expect(await stateOf(dispatched)).toBe('pending');
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await expect(dispatched).rejects.toBe(reason);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(tries).toHaveLength(1);
  });

  it.each<[RetryOptions, string, string]>([
    [{ attempts: 0 }, 'attempts', '0'],
    [{ attempts: 1.5 }, 'attempts', '1.5'],
    [{ delay: -1 }, 'delay', '-1'],
    [{ delay: Number.NaN }, 'delay', 'NaN'],
    [{ backoff: 'linear' as never }, 'backoff', '"linear"'],
    [{ when: true as never }, 'when', 'true'],
  ])('rejects %o naming the option and the value', (options, option, shown) => {
    expect(() => retry(options)).toThrow(InvalidOptionError);
    expect(() => retry(options)).toThrow(option);
    expect(() => retry(options)).toThrow(shown);
  });

  it.each([null, 3, 'fast'])('rejects options %o that are not an object', (options) => {
    expect(() => retry(options as never)).toThrow(InvalidOptionError);
    expect(() => retry(options as never)).toThrow(`retry options: ${JSON.stringify(options)}`);
  });
});
