import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import { captureErrors } from '../../src/middleware/capture-errors.js';
import type { Context } from '../../src/middleware/types.js';
import { defineCommand } from '../../src/routing/define.js';
import { CommandBus } from '../../src/routing/handler-bus.js';
import { deferred, stateOf } from '../support/async.js';

const Risky = defineCommand<boolean, string>('risky');
const failure = new Error('handler failed');

function riskyBus() {
  return new CommandBus().register(Risky, ({ payload: fail }) => {
    if (fail) throw failure;
    return 'fine';
  });
}

describe('captureErrors', () => {
  it('reports the error with the message and context, then resolves undefined', async () => {
    const reports: [unknown, unknown, Context<unknown>][] = [];
    const bus = riskyBus().use(
      captureErrors((error, message, context) => {
        reports.push([error, message, context]);
      }),
    );
    const message = Risky(true);
    await expect(bus.dispatch(message)).resolves.toBeUndefined();
    expect(reports).toHaveLength(1);
    expect(reports[0]![0]).toBe(failure);
    expect(reports[0]![1]).toBe(message);
    expect(reports[0]![2].signal).toBeInstanceOf(AbortSignal);
  });

  it('rethrows after reporting with { rethrow: true }', async () => {
    const reported: unknown[] = [];
    const bus = riskyBus().use(captureErrors((error) => reported.push(error), { rethrow: true }));
    await expect(bus.dispatch(Risky(true))).rejects.toBe(failure);
    expect(reported).toEqual([failure]);
  });

  it('leaves successful dispatches alone', async () => {
    const reported: unknown[] = [];
    const bus = riskyBus().use(captureErrors((error) => reported.push(error)));
    await expect(bus.dispatch(Risky(false))).resolves.toBe('fine');
    expect(reported).toEqual([]);
  });

  it('awaits the reporter before settling the dispatch', async () => {
    const reporting = deferred();
    const bus = riskyBus().use(captureErrors(() => reporting.promise, { rethrow: true }));
    const dispatched = bus.dispatch(Risky(true));
    expect(await stateOf(dispatched)).toBe('pending');
    reporting.resolve();
    await expect(dispatched).rejects.toBe(failure);
  });

  it('rejects an onError that is not a function', () => {
    expect(() => captureErrors('log' as never)).toThrow(InvalidOptionError);
    expect(() => captureErrors('log' as never)).toThrow(/onError.*"log"/);
  });

  it.each<[unknown, string]>([
    [null, 'captureErrors options: null'],
    ['rethrow', 'captureErrors options: "rethrow"'],
    [{ rethrow: 'yes' }, 'rethrow: "yes"'],
    [{ rethrow: 1 }, 'rethrow: 1'],
  ])('rejects options %o naming the option and the value', (options, shown) => {
    expect(() => captureErrors(() => {}, options as never)).toThrow(InvalidOptionError);
    expect(() => captureErrors(() => {}, options as never)).toThrow(shown);
  });
});
