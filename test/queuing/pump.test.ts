import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import { timeout } from '../../src/middleware/timeout.js';
import type { Context } from '../../src/middleware/types.js';
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import { Pump, type PumpContext } from '../../src/queuing/pump/pump.js';
import { defineCommand } from '../../src/routing/define.js';
import { CommandBus } from '../../src/routing/handler-bus.js';
import { type Deferred, deferred, flush, stateOf } from '../support/async.js';
import { RecordingConsumer } from './recording.js';

/** A dispatcher that holds every message at its own gate and counts how many are running at once. */
function gated<T>() {
  const gates: Deferred<void>[] = [];
  const started: T[] = [];
  let running = 0;
  return {
    gates,
    started,
    get running() {
      return running;
    },
    async dispatch(message: T): Promise<void> {
      running++;
      started.push(message);
      const gate = deferred();
      gates.push(gate);
      try {
        await gate.promise;
      } finally {
        running--;
      }
    },
    /** Opens every gate that is waiting now. */
    openAll(): void {
      for (const gate of gates.splice(0)) gate.resolve();
    },
  };
}

async function filled(count: number): Promise<MemoryQueue<number>> {
  const queue = new MemoryQueue<number>();
  for (let n = 0; n < count; n++) await queue.send(n);
  return queue;
}

describe('Pump', () => {
  it('throws InvalidOptionError for concurrency < 1 before anything starts', async () => {
    const queue = await filled(1);
    const dispatched: number[] = [];
    const pump = new Pump(queue, (n: number) => {
      dispatched.push(n);
    });
    for (const concurrency of [0, -2, Number.NaN]) {
      expect(() => pump.draining({ concurrency })).toThrow(InvalidOptionError);
    }
    await flush();
    expect(dispatched).toEqual([]);
    expect(queue.size).toBe(1);
  });

  it('dispatches in the order the consumer yields with concurrency 1', async () => {
    const queue = await filled(200);
    const dispatched: number[] = [];
    const draining = new Pump(queue, async (n: number) => {
      if (n % 7 === 0) await flush();
      dispatched.push(n);
    }).draining({ graceful: true });
    await queue.close();
    await draining.stop();
    expect(dispatched).toEqual([...Array(200).keys()]);
    expect(draining.stats).toEqual({ inFlight: 0, processed: 200, failed: 0 });
  });

  it('passes the signal, the message and the attempt in the context', async () => {
    const queue = new MemoryQueue<string>({ maxAttempts: 2, backoff: { type: 'fixed', delay: 0 } });
    const contexts: PumpContext<string>[] = [];
    const draining = new Pump(
      queue,
      (_message: string, context: Context<string>) => {
        contexts.push(context as PumpContext<string>);
        if (contexts.length === 1) throw new Error('first try fails');
      },
      { failSilently: true },
    ).draining();
    await queue.send('a');
    await flush();
    await flush();
    await draining.stop();
    expect(contexts.map(({ message, attempt }) => ({ message, attempt }))).toEqual([
      { message: 'a', attempt: 1 },
      { message: 'a', attempt: 2 },
    ]);
    expect(contexts[0]!.signal).toBeInstanceOf(AbortSignal);
  });

  it('dispatches into a bus: the handler gets the result path and the signal', async () => {
    const Greet = defineCommand<{ name: string }, string>('greet');
    const greeted: string[] = [];
    const bus = new CommandBus().register(Greet, (message, context) => {
      expect(context.signal.aborted).toBe(false);
      greeted.push(message.payload.name);
      return `hi ${message.payload.name}`;
    });
    const queue = new MemoryQueue<ReturnType<typeof Greet>>();
    const draining = new Pump(queue, bus).draining({ graceful: true });
    await queue.send(Greet({ name: 'Ada' }));
    await queue.send(Greet({ name: 'Grace' }));
    await queue.close();
    await draining.stop();
    expect(greeted).toEqual(['Ada', 'Grace']);
    expect(draining.stats.processed).toBe(2);
  });

  it('acks a delivery on success and nacks it with the error on failure', async () => {
    const queue = new MemoryQueue<string>();
    const consumer = new RecordingConsumer(queue);
    const failure = new Error('bad b');
    const draining = new Pump(
      consumer,
      (message: string) => {
        if (message === 'b') throw failure;
      },
      { failSilently: true },
    ).draining({ graceful: true });
    for (const message of ['a', 'b', 'c']) await queue.send(message);
    await queue.close();
    await draining.stop();
    expect(consumer.settlements).toEqual([
      { message: 'a', ack: true },
      { message: 'b', nack: { error: failure } },
      { message: 'c', ack: true },
    ]);
    expect(draining.stats).toEqual({ inFlight: 0, processed: 2, failed: 1 });
  });

  it('re-tunes concurrency while running: more loops start now, surplus loops finish first', async () => {
    const queue = await filled(20);
    const dispatcher = gated<number>();
    const draining = new Pump(queue, (n: number) => dispatcher.dispatch(n)).draining({ concurrency: 2 });
    await flush();
    expect(dispatcher.running).toBe(2);
    expect(draining.stats.inFlight).toBe(2);

    draining.concurrency = 4;
    expect(draining.concurrency).toBe(4);
    await flush();
    expect(dispatcher.running).toBe(4);
    expect(dispatcher.started).toEqual([0, 1, 2, 3]);

    draining.concurrency = 1;
    await flush();
    expect(dispatcher.running).toBe(4); // nothing is interrupted
    dispatcher.openAll();
    await flush();
    expect(dispatcher.running).toBe(1);
    dispatcher.openAll();
    await flush();
    expect(dispatcher.running).toBe(1);
    expect(draining.stats).toMatchObject({ inFlight: 1, processed: 5 });

    expect(() => {
      draining.concurrency = 0;
    }).toThrow(InvalidOptionError);
    expect(draining.concurrency).toBe(1);
    dispatcher.openAll();
    await draining.stop();
  });

  it.each([
    ['waiting on the queue (withdrawn at once)', (queue: MemoryQueue<number>) => queue],
    [
      'whose pending next() cannot be withdrawn',
      (queue: MemoryQueue<number>) => new RecordingConsumer(queue),
    ],
  ])(
    'lowering concurrency with idle loops %s: never more dispatches than the new cap, in order',
    async (_, consumerOf) => {
      const queue = new MemoryQueue<number>();
      const dispatcher = gated<number>();
      const draining = new Pump(consumerOf(queue), (n: number) => dispatcher.dispatch(n)).draining({
        concurrency: 4,
      });
      await flush(); // four loops wait on the empty queue
      draining.concurrency = 1;
      for (let n = 0; n < 4; n++) await queue.send(n);
      await flush();
      expect(dispatcher.running).toBe(1);
      for (let i = 0; i < 4; i++) {
        dispatcher.openAll();
        await flush();
        expect(dispatcher.running).toBeLessThanOrEqual(1);
      }
      expect(dispatcher.started).toEqual([0, 1, 2, 3]);
      expect(draining.stats).toEqual({ inFlight: 0, processed: 4, failed: 0 });
      await draining.stop();
    },
  );

  it('waits for a thenable that is not a native promise, and nacks on its rejection', async () => {
    const queue = new MemoryQueue<string>();
    const consumer = new RecordingConsumer(queue);
    const failure = new Error('thenable rejected');
    const draining = new Pump(
      consumer,
      () => ({
        // biome-ignore lint/suspicious/noThenProperty: a thenable that is not a native promise is the point
        then(_resolve: () => void, reject: (error: unknown) => void) {
          setTimeout(() => reject(failure), 1);
        },
      }),
      { failSilently: true },
    ).draining({ graceful: true });
    await queue.send('a');
    await queue.close();
    await draining.stop();
    expect(consumer.settlements).toEqual([{ message: 'a', nack: { error: failure } }]);
    expect(draining.stats).toEqual({ inFlight: 0, processed: 0, failed: 1 });
  });

  it('waits for a promise made in another realm', async () => {
    const queue = new MemoryQueue<string>();
    const foreign = runInNewContext(
      'async () => { await new Promise((resolve) => setTimeout(resolve, 1)); throw new Error("failed later"); }',
      { setTimeout },
    ) as () => Promise<void>;
    const draining = new Pump(queue, foreign, { failSilently: true }).draining({ graceful: true });
    await queue.send('a');
    await queue.close();
    await draining.stop();
    expect(draining.stats).toEqual({ inFlight: 0, processed: 0, failed: 1 });
  });

  it('lets every in-flight dispatch listen on its signal without a listener-leak warning', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const queue = await filled(32);
      await queue.close();
      const draining = new Pump(queue, () => flush())
        .use(timeout(10_000))
        .draining({ concurrency: 16, graceful: true });
      await draining.stop();
      await flush();
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('runs pump middlewares of both styles around each dispatch, outer first', async () => {
    const queue = new MemoryQueue<string>();
    const log: string[] = [];
    const pump = new Pump(queue, (message: string) => {
      log.push(`dispatch ${message}`);
      return message.toUpperCase();
    });
    expect(
      pump.use(async (message: string, next, context) => {
        log.push(`classic before ${message} attempt ${context.attempt}`);
        const result = await next(`${message}!`);
        log.push(`classic after ${result}`);
        return result;
      }),
    ).toBe(pump);
    pump.use(async function* audit(message: string): AsyncGenerator<undefined, void, string> {
      log.push(`generator before ${message}`);
      const result = yield;
      log.push(`generator after ${result}`);
    });
    const draining = pump.draining({ graceful: true });
    await queue.send('a');
    await queue.close();
    await draining.stop();
    expect(log).toEqual([
      'classic before a attempt 1',
      'generator before a!',
      'dispatch a!',
      'generator after A!',
      'classic after A!',
    ]);
  });

  it('lets a generator pump middleware retry the dispatch', async () => {
    const queue = new MemoryQueue<string>();
    let tries = 0;
    const pump = new Pump(queue, () => {
      tries++;
      if (tries < 3) throw new Error(`try ${tries}`);
    }).use(async function* retryTwice(): AsyncGenerator<undefined, unknown, unknown> {
      for (let attempt = 1; ; attempt++) {
        try {
          return yield;
        } catch (error) {
          if (attempt === 3) throw error;
        }
      }
    });
    const draining = pump.draining({ graceful: true });
    await queue.send('a');
    await queue.close();
    await draining.stop();
    expect(tries).toBe(3);
    expect(draining.stats).toEqual({ inFlight: 0, processed: 1, failed: 0 });
  });

  it('stops on leaving an `await using` block and dispatches nothing afterwards', async () => {
    const queue = new MemoryQueue<string>();
    const dispatched: string[] = [];
    {
      await using draining = new Pump(queue, (message: string) => {
        dispatched.push(message);
      }).draining();
      await queue.send('inside');
      await flush();
      expect(draining.stats.processed).toBe(1);
    }
    await queue.send('after');
    await flush();
    expect(dispatched).toEqual(['inside']);
    expect(queue.size).toBe(1);
  });

  it('graceful: leaving an `await using` block waits until the closed queue is drained', async () => {
    const queue = await filled(3);
    const dispatched: number[] = [];
    {
      await using _draining = new Pump(queue, async (n: number) => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        dispatched.push(n);
      }).draining({ graceful: true });
      await queue.close();
      expect(dispatched).toEqual([]);
    }
    expect(dispatched).toEqual([0, 1, 2]);
  });

  it('graceful stop() resolves only once the consumer ended and everything was dispatched', async () => {
    const queue = await filled(2);
    const dispatcher = gated<number>();
    const draining = new Pump(queue, (n: number) => dispatcher.dispatch(n)).draining({ graceful: true });
    const stopped = draining.stop();
    await flush();
    dispatcher.openAll();
    await flush();
    dispatcher.openAll();
    await queue.send(2);
    await flush();
    dispatcher.openAll();
    expect(await stateOf(stopped)).toBe('pending');
    await queue.close();
    await stopped;
    expect(dispatcher.started).toEqual([0, 1, 2]);
    expect(draining.stats).toEqual({ inFlight: 0, processed: 3, failed: 0 });
    await expect(draining.done).resolves.toBeUndefined();
  });
});
