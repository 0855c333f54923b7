import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Context } from '../../src/middleware/types.js';
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import { deferred, flush, stateOf } from '../support/async.js';
import { RecordingConsumer } from './recording.js';

afterEach(() => {
  vi.useRealTimers();
});

/** A dispatch that honours its signal: it runs until the pump aborts it. */
function untilAborted(_message: unknown, { signal }: Context<unknown>): Promise<never> {
  return new Promise((_, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

async function remaining<T>(queue: MemoryQueue<T>): Promise<{ message: T; attempt: number }[]> {
  await queue.close();
  const left = [];
  for await (const delivery of queue) {
    left.push({ message: delivery.message, attempt: delivery.attempt });
    await delivery.ack();
  }
  return left;
}

describe('Pump non-graceful stop (the default)', () => {
  it('aborts in-flight dispatches, does not count the abort as a failure, requeues the message', async () => {
    const queue = new MemoryQueue<string>();
    for (const message of ['a', 'b', 'c']) await queue.send(message);
    const signals: AbortSignal[] = [];
    const draining = new Pump(queue, (message: string, context: Context<string>) => {
      signals.push(context.signal);
      return untilAborted(message, context);
    }).draining();
    await flush();
    expect(draining.stats.inFlight).toBe(1);
    await draining.stop();
    expect(signals.map((signal) => signal.aborted)).toEqual([true]);
    await expect(draining.done).resolves.toBeUndefined();
    expect(draining.stats).toEqual({ inFlight: 0, processed: 0, failed: 0 });
    expect(await remaining(queue)).toEqual([
      { message: 'b', attempt: 1 },
      { message: 'c', attempt: 1 },
      { message: 'a', attempt: 2 },
    ]);
  });

  it('releases the in-flight deliveries of every loop with nack({ requeue: true })', async () => {
    const queue = new MemoryQueue<string>();
    const consumer = new RecordingConsumer(queue);
    for (const message of ['a', 'b', 'c']) await queue.send(message);
    const draining = new Pump(consumer, untilAborted).draining({ concurrency: 2 });
    await flush();
    await draining.stop();
    expect(consumer.settlements).toEqual([
      { message: 'a', nack: { requeue: true } },
      { message: 'b', nack: { requeue: true } },
    ]);
    expect(queue.size).toBe(3);
  });

  it('waits up to shutdownTimeout for a dispatch that ignores the signal, then requeues it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const queue = new MemoryQueue<string>();
    const consumer = new RecordingConsumer(queue);
    await queue.send('slow');
    const gate = deferred();
    const draining = new Pump(consumer, () => gate.promise).draining({ shutdownTimeout: 500 });
    await flush();
    const stopped = draining.stop();
    await vi.advanceTimersByTimeAsync(499);
    expect(await stateOf(stopped)).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(await stateOf(stopped)).toBe('fulfilled');
    expect(queue.size).toBe(1);
    expect(consumer.settlements).toEqual([{ message: 'slow', nack: { requeue: true } }]);

    gate.resolve(); // finishing late changes nothing: the message was already given back
    await flush();
    expect(consumer.settlements).toHaveLength(1);
    expect(draining.stats).toEqual({ inFlight: 0, processed: 0, failed: 0 });
    expect(await remaining(queue)).toEqual([{ message: 'slow', attempt: 2 }]);
  });

  it('waits 10 s by default for a dispatch that ignores the signal, then requeues it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const queue = new MemoryQueue<string>();
    const consumer = new RecordingConsumer(queue);
    await queue.send('slow');
    const draining = new Pump(consumer, () => new Promise(() => {})).draining();
    await flush();
    const stopped = draining.stop();
    await vi.advanceTimersByTimeAsync(9_999);
    expect(await stateOf(stopped)).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(await stateOf(stopped)).toBe('fulfilled');
    expect(consumer.settlements).toEqual([{ message: 'slow', nack: { requeue: true } }]);
  });

  it('with shutdownTimeout: Infinity, waits for a dispatch that ignores the signal however long', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const queue = new MemoryQueue<string>();
    const consumer = new RecordingConsumer(queue);
    await queue.send('slow');
    const gate = deferred();
    const draining = new Pump(consumer, () => gate.promise).draining({
      shutdownTimeout: Number.POSITIVE_INFINITY,
    });
    await flush();
    const stopped = draining.stop();
    await vi.advanceTimersByTimeAsync(60 * 60 * 1_000);
    expect(await stateOf(stopped)).toBe('pending');
    gate.resolve();
    await stopped;
    expect(consumer.settlements).toEqual([{ message: 'slow', ack: true }]);
  });

  it('acks a dispatch that ignores the signal but finishes within shutdownTimeout', async () => {
    const queue = new MemoryQueue<string>();
    const consumer = new RecordingConsumer(queue);
    await queue.send('a');
    await queue.send('b');
    const gate = deferred();
    const draining = new Pump(consumer, () => gate.promise).draining();
    await flush();
    const stopped = draining.stop();
    gate.resolve();
    await stopped;
    expect(consumer.settlements).toEqual([{ message: 'a', ack: true }]);
    expect(draining.stats).toEqual({ inFlight: 0, processed: 1, failed: 0 });
    expect(await remaining(queue)).toEqual([{ message: 'b', attempt: 1 }]);
  });

  it('releases a dispatch that fails once the stop aborted it, whatever its error (an AggregateError of aborts too)', async () => {
    const queue = new MemoryQueue<string>();
    await queue.send('a');
    const draining = new Pump(queue, (message: string, context: Context<string>) =>
      Promise.allSettled([untilAborted(message, context), untilAborted(message, context)]).then((results) => {
        throw new AggregateError(
          results.map((r) => (r as PromiseRejectedResult).reason),
          'both handlers failed',
        );
      }),
    ).draining();
    await flush();
    await draining.stop();
    expect(draining.stats).toEqual({ inFlight: 0, processed: 0, failed: 0 });
    expect(await remaining(queue)).toEqual([{ message: 'a', attempt: 2 }]);
  });

  it('releases a dispatch that rejects with the abort wrapped as the cause of its own error', async () => {
    const queue = new MemoryQueue<string>();
    await queue.send('a');
    const draining = new Pump(queue, (message: string, context: Context<string>) =>
      untilAborted(message, context).catch((error: unknown) => {
        throw new Error('request cancelled', { cause: error });
      }),
    ).draining();
    await flush();
    await draining.stop();
    expect(draining.stats).toEqual({ inFlight: 0, processed: 0, failed: 0 });
    expect(await remaining(queue)).toEqual([{ message: 'a', attempt: 2 }]);
  });

  it('resolves at once with nothing in flight, and stop() is idempotent', async () => {
    const queue = new MemoryQueue<string>();
    const draining = new Pump(queue, () => {}).draining({ concurrency: 3 });
    await flush();
    await draining.stop();
    await draining.stop();
    await draining[Symbol.asyncDispose]();
    await queue.send('a');
    await flush();
    expect(queue.size).toBe(1);
  });

  it('ignores concurrency changes after stopping', async () => {
    const queue = new MemoryQueue<string>();
    const dispatched: string[] = [];
    const draining = new Pump(queue, (message: string) => {
      dispatched.push(message);
    }).draining();
    await draining.stop();
    draining.concurrency = 4;
    await queue.send('a');
    await flush();
    expect(dispatched).toEqual([]);
  });
});

describe('Pump stop and settlements under way', () => {
  it('resolves only once an ack that was under way has finished', async () => {
    const ackGate = deferred();
    const acked: string[] = [];
    const consumer = {
      async *[Symbol.asyncIterator]() {
        yield {
          message: 'm',
          attempt: 1,
          ack: async () => {
            await ackGate.promise;
            acked.push('m');
          },
          nack: async () => {},
          [Symbol.asyncDispose]: async () => {},
        };
        await new Promise(() => {}); // then nothing more, ever
      },
    };
    const handled = deferred();
    const draining = new Pump(consumer, async () => handled.resolve()).draining({ shutdownTimeout: 60_000 });
    await handled.promise;
    await flush();
    const stopped = draining.stop();
    await flush();
    expect(await stateOf(stopped)).toBe('pending');
    ackGate.resolve();
    await stopped;
    expect(acked).toEqual(['m']);
  });
});

describe('Pump and slow acks', () => {
  /** A consumer of `messages` whose acks resolve only when the test opens `ackGate`. */
  function slowAcking(messages: string[], ackGate: Promise<void>, acked: string[]) {
    return {
      async *[Symbol.asyncIterator]() {
        for (const message of messages) {
          yield {
            message,
            attempt: 1,
            ack: async () => {
              await ackGate;
              acked.push(message);
            },
            nack: async () => {},
            [Symbol.asyncDispose]: async () => {},
          };
        }
      },
    };
  }

  it('takes the next message while an ack is still under way, even at concurrency 1', async () => {
    const ackGate = deferred();
    const acked: string[] = [];
    const handled: string[] = [];
    const draining = new Pump(slowAcking(['a', 'b', 'c'], ackGate.promise, acked), async (m: string) => {
      handled.push(m);
    }).draining({ concurrency: 1, graceful: true });
    await flush();
    expect(handled).toEqual(['a', 'b', 'c']);
    expect(acked).toEqual([]);
    expect(await stateOf(draining.done)).toBe('pending'); // the consumer ended, its acks did not
    ackGate.resolve();
    await draining.stop();
    expect(acked).toEqual(['a', 'b', 'c']);
  });
});
