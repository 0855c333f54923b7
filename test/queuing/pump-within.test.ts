/**
 * `Delivery.within`: a pump dispatches through it when a delivery has it, so that a queue wrapper
 * (sluice/otel's) can make something current for the whole processing: pump middlewares, the
 * handler, and what the handler awaits. A delivery without it is dispatched as before.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, expect, it } from 'vitest';
import { Pump } from '../../src/queuing/pump/pump.js';
import type { Delivery, NackOptions, Queue } from '../../src/queuing/types.js';
import { deferred, flush } from '../support/async.js';

/** What the deliveries' `within` makes current: the name of the delivery's scope. */
const scope = new AsyncLocalStorage<string>();

type Settled = [message: string, outcome: 'ack' | NackOptions];

/**
 * A queue written by hand (any object with the contract's shape is a queue): it yields the given
 * messages, then ends. Messages named `scoped …` get a `within` that runs the dispatch in a scope
 * named after the message; the others have none.
 */
function handWrittenQueue(messages: string[]): Queue<string> & { settled: Settled[]; entered: string[] } {
  const settled: Settled[] = [];
  const entered: string[] = [];
  const deliveryOf = (message: string): Delivery<string> => {
    const delivery: Delivery<string> = {
      message,
      attempt: 1,
      ack: async () => void settled.push([message, 'ack']),
      nack: async (options = {}) => void settled.push([message, options]),
      [Symbol.asyncDispose]: async () => {},
    };
    if (!message.startsWith('scoped')) return delivery;
    return {
      ...delivery,
      within<R>(dispatch: () => R): R {
        entered.push(message);
        return scope.run(`scope of ${message}`, dispatch);
      },
    };
  };
  return {
    settled,
    entered,
    send: async () => {},
    close: async () => {},
    async *[Symbol.asyncIterator]() {
      for (const message of messages) yield deliveryOf(message);
    },
  };
}

describe('Pump: Delivery.within', () => {
  it('runs the middlewares and the handler inside within, across awaits, then acks', async () => {
    const queue = handWrittenQueue(['scoped a']);
    const seen: string[] = [];
    const gate = deferred();
    const pump = new Pump(queue, async (message: string) => {
      seen.push(`handler ${message} in ${scope.getStore()}`);
      await gate.promise;
      seen.push(`handler after await in ${scope.getStore()}`);
    }).use(async (message: string, next) => {
      seen.push(`middleware ${message} in ${scope.getStore()}`);
      return next(message);
    });
    const draining = pump.draining({ graceful: true });
    await flush();
    expect(queue.entered).toEqual(['scoped a']);
    expect(queue.settled).toEqual([]); // the pump waits for what within returned
    gate.resolve();
    await draining.stop();
    expect(seen).toEqual([
      'middleware scoped a in scope of scoped a',
      'handler scoped a in scope of scoped a',
      'handler after await in scope of scoped a',
    ]);
    expect(queue.settled).toEqual([['scoped a', 'ack']]);
    expect(draining.stats).toEqual({ inFlight: 0, processed: 1, failed: 0 });
    expect(scope.getStore()).toBeUndefined(); // nothing leaks out of the scope
  });

  it('acks a synchronous handler run through within', async () => {
    const queue = handWrittenQueue(['scoped sync']);
    const seen: (string | undefined)[] = [];
    const draining = new Pump(queue, () => void seen.push(scope.getStore())).draining({ graceful: true });
    await draining.stop();
    expect(seen).toEqual(['scope of scoped sync']);
    expect(queue.settled).toEqual([['scoped sync', 'ack']]);
  });

  it('nacks with the error a handler throws inside within', async () => {
    const queue = handWrittenQueue(['scoped bad', 'scoped good']);
    const failure = new Error('handler failed');
    const seen: (string | undefined)[] = [];
    const draining = new Pump(
      queue,
      async (message: string) => {
        seen.push(scope.getStore());
        if (message === 'scoped bad') throw failure;
      },
      { failSilently: true },
    ).draining({ graceful: true });
    await draining.stop();
    expect(seen).toEqual(['scope of scoped bad', 'scope of scoped good']);
    expect(queue.settled).toEqual([
      ['scoped bad', { error: failure }],
      ['scoped good', 'ack'],
    ]);
    expect(draining.stats).toEqual({ inFlight: 0, processed: 1, failed: 1 });
  });

  it('dispatches a delivery without within as before, outside any scope', async () => {
    const queue = handWrittenQueue(['plain', 'scoped b', 'plain again']);
    const seen: string[] = [];
    const draining = new Pump(queue, async (message: string) => {
      seen.push(`${message} in ${scope.getStore() ?? 'no scope'}`);
    }).draining({ graceful: true });
    await draining.stop();
    expect(seen).toEqual(['plain in no scope', 'scoped b in scope of scoped b', 'plain again in no scope']);
    expect(queue.entered).toEqual(['scoped b']);
    expect(queue.settled).toEqual([
      ['plain', 'ack'],
      ['scoped b', 'ack'],
      ['plain again', 'ack'],
    ]);
  });
});
