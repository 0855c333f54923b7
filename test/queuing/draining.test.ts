import { describe, expect, it } from 'vitest';
import { QueueClosedError } from '../../src/errors.js';
import type { Next } from '../../src/middleware/types.js';
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import type { PumpContext } from '../../src/queuing/pump/pump.js';
import { defineCommand } from '../../src/routing/define.js';
import { CommandBus } from '../../src/routing/handler-bus.js';
import { flush, within } from '../support/async.js';

/** Finishes a macrotask later, so the messages are still being dispatched when the block ends. */
function slowly(done: string[]) {
  return async (message: string) => {
    await new Promise((resolve) => setTimeout(resolve, 1));
    done.push(message);
  };
}

describe('MemoryQueue.draining', () => {
  it('dispatches every accepted message before an `await using` block is left', async () => {
    const done: string[] = [];
    const queue = new MemoryQueue<string>();
    {
      await using q = queue.draining(slowly(done));
      await q.send('c1');
      await q.send('c2');
      expect(done).toEqual([]);
    }
    expect(done).toEqual(['c1', 'c2']);
    expect(queue.closed).toBe(true);
    await expect(queue.send('late')).rejects.toBeInstanceOf(QueueClosedError);
  });

  it('does the same on an explicit stop(), after which send rejects', async () => {
    const done: string[] = [];
    const q = new MemoryQueue<string>({ maxsize: 2 }).draining(slowly(done), { concurrency: 2 });
    for (let n = 0; n < 6; n++) await q.send(`m${n}`);
    await q.stop();
    expect([...done].sort()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
    expect(q.stats).toEqual({ inFlight: 0, processed: 6, failed: 0 });
    await expect(q.send('late')).rejects.toBeInstanceOf(QueueClosedError);
    await expect(q.done).resolves.toBeUndefined();
  });

  it('dispatches into a bus', async () => {
    const Add = defineCommand<{ n: number }, void>('add');
    let total = 0;
    const bus = new CommandBus().register(Add, async ({ payload }) => {
      await flush();
      total += payload.n;
    });
    {
      await using q = new MemoryQueue<ReturnType<typeof Add>>().draining(bus);
      for (let n = 1; n <= 10; n++) await q.send(Add({ n }));
    }
    expect(total).toBe(55);
  });

  it('exposes live concurrency and applies the pump middlewares given', async () => {
    const seen: string[] = [];
    const q = new MemoryQueue<string>().draining(() => {}, {
      concurrency: 3,
      middlewares: [
        async (message: string, next: Next<string, PumpContext<string>>) => {
          seen.push(message);
          return next();
        },
      ],
    });
    expect(q.concurrency).toBe(3);
    q.concurrency = 1;
    expect(q.concurrency).toBe(1);
    await q.send('a');
    await q.stop();
    expect(seen).toEqual(['a']);
  });

  it('without failSilently, rethrows the first error from stop() and stops dispatching', async () => {
    const failure = new Error('c2 failed');
    const done: string[] = [];
    const q = new MemoryQueue<string>().draining((message: string) => {
      if (message === 'c2') throw failure;
      done.push(message);
    });
    await q.send('c1');
    await q.send('c2');
    await q.send('c3');
    await expect(q.stop()).rejects.toBe(failure);
    expect(done).toEqual(['c1']);
  });

  it('closes a bounded queue when the pump stops on an error: senders are refused, disposal rethrows', async () => {
    const failure = new Error('c2 failed');
    const queue = new MemoryQueue<string>({ maxsize: 1 });
    const sent: string[] = [];
    const run = async () => {
      await using q = queue.draining((message: string) => {
        if (message === 'c2') throw failure;
      });
      for (let n = 1; n <= 10; n++) {
        await q.send(`c${n}`);
        sent.push(`c${n}`);
      }
    };
    const outcome = await within(
      run().then(
        () => 'completed',
        (error: unknown) => error,
      ),
      5_000,
      () => `sends still waiting after ${sent.join(', ')}`,
    );
    // disposal rethrew the pump's error; the send it interrupted was refused
    expect(outcome).toMatchObject({ name: 'SuppressedError', error: failure });
    const refused = (outcome as { suppressed: unknown }).suppressed;
    expect(refused).toBeInstanceOf(QueueClosedError);
    expect((refused as Error).cause).toBe(failure);
    expect(queue.closed).toBe(true);
  });

  it('with failSilently, swallows errors and dispatches the rest', async () => {
    const done: string[] = [];
    const q = new MemoryQueue<string>().draining(
      (message: string) => {
        if (message === 'c2') throw new Error('c2 failed');
        done.push(message);
      },
      { failSilently: true },
    );
    for (const message of ['c1', 'c2', 'c3']) await q.send(message);
    await q.stop();
    expect(done).toEqual(['c1', 'c3']);
    expect(q.stats).toEqual({ inFlight: 0, processed: 2, failed: 1 });
  });
});
