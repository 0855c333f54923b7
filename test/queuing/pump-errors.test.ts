import { describe, expect, it, vi } from 'vitest';
import { QueueClosedError } from '../../src/errors.js';
import type { Context, Next } from '../../src/middleware/types.js';
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import { Pump, type PumpContext } from '../../src/queuing/pump/pump.js';
import type { Consumer, Delivery } from '../../src/queuing/types.js';
import { flush } from '../support/async.js';
import { RecordingConsumer } from './recording.js';

async function queueOf(...messages: string[]): Promise<MemoryQueue<string>> {
  const queue = new MemoryQueue<string>();
  for (const message of messages) await queue.send(message);
  return queue;
}

function failOn(bad: string, error: Error) {
  return (message: string) => {
    if (message === bad) throw error;
  };
}

/** A queue whose dead-letter queue refuses everything (it was closed first). */
async function refusingDeadLetter(): Promise<MemoryQueue<string>> {
  const dead = new MemoryQueue<string>({ name: 'dead' });
  await dead.close();
  return new MemoryQueue<string>({ name: 'orders', deadLetter: dead });
}

async function remaining(queue: MemoryQueue<string>): Promise<[string, number][]> {
  await queue.close();
  const left: [string, number][] = [];
  for await (const delivery of queue) left.push([delivery.message, delivery.attempt]);
  return left;
}

/** A consumer of one delivery whose ack and nack throw synchronously, as a broken queue might. */
function throwingSettlements(failure: Error): Consumer<string> {
  const settle = (): Promise<void> => {
    throw failure;
  };
  const delivery = { message: 'a', attempt: 1, ack: settle, nack: settle, [Symbol.asyncDispose]: settle };
  let given = false;
  return {
    [Symbol.asyncIterator]: () => ({
      next: async (): Promise<IteratorResult<Delivery<string>>> => {
        if (given) return new Promise(() => {});
        given = true;
        return { done: false, value: delivery };
      },
    }),
  };
}

describe('Pump with failSilently: false (the default)', () => {
  it('stops at the first dispatch error and rethrows it from done and stop()', async () => {
    const queue = await queueOf('a', 'b', 'c');
    const consumer = new RecordingConsumer(queue);
    const failure = new Error('b failed');
    const draining = new Pump(consumer, failOn('b', failure)).draining();
    await expect(draining.done).rejects.toBe(failure);
    await expect(draining.stop()).rejects.toBe(failure);
    expect(consumer.settlements).toEqual([
      { message: 'a', ack: true },
      { message: 'b', nack: { error: failure } },
    ]);
    expect(draining.stats).toEqual({ inFlight: 0, processed: 1, failed: 1 });
    expect(queue.size).toBe(1); // 'c' was never pulled
  });

  it('rethrows the error when an `await using` block disposes the pump', async () => {
    const queue = await queueOf('a');
    const failure = new Error('boom');
    const run = async () => {
      await using draining = new Pump(queue, failOn('a', failure)).draining();
      await draining.done.catch(() => {});
    };
    await expect(run()).rejects.toBe(failure);
  });

  it('stops on a pump-middleware error too', async () => {
    const queue = await queueOf('a', 'b');
    const failure = new Error('middleware failed');
    const dispatched: string[] = [];
    const draining = new Pump(queue, (message: string) => {
      dispatched.push(message);
    })
      .use(async (message: string, next: Next<string, PumpContext<string>>) => {
        if (message === 'a') throw failure;
        return next();
      })
      .draining();
    await expect(draining.done).rejects.toBe(failure);
    await expect(draining.stop()).rejects.toBe(failure);
    expect(dispatched).toEqual([]);
    expect(queue.size).toBe(1);
  });

  it('aborts the other in-flight dispatches and requeues them without counting them as failures', async () => {
    const queue = await queueOf('slow', 'bad');
    const failure = new Error('bad failed');
    let slowSignal: AbortSignal | undefined;
    const draining = new Pump(queue, (message: string, { signal }: Context<string>) => {
      if (message === 'bad') throw failure;
      slowSignal = signal;
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    }).draining({ concurrency: 2 });
    await expect(draining.done).rejects.toBe(failure);
    expect(slowSignal?.aborted).toBe(true);
    expect(draining.stats).toEqual({ inFlight: 0, processed: 0, failed: 1 });
    await queue.close();
    const left = [];
    for await (const delivery of queue) left.push([delivery.message, delivery.attempt]);
    expect(left).toEqual([['slow', 2]]);
  });
});

describe('Pump with failSilently: true', () => {
  it('nacks and swallows dispatch errors and goes on consuming', async () => {
    const queue = await queueOf('a', 'b', 'c', 'd');
    const consumer = new RecordingConsumer(queue);
    const failure = new Error('b failed');
    const draining = new Pump(consumer, failOn('b', failure), { failSilently: true }).draining({
      graceful: true,
    });
    await queue.close();
    await draining.stop();
    expect(consumer.settlements).toEqual([
      { message: 'a', ack: true },
      { message: 'b', nack: { error: failure } },
      { message: 'c', ack: true },
      { message: 'd', ack: true },
    ]);
    expect(draining.stats).toEqual({ inFlight: 0, processed: 3, failed: 1 });
    await expect(draining.done).resolves.toBeUndefined();
  });

  it('swallows pump-middleware errors too', async () => {
    const queue = await queueOf('a', 'b', 'c');
    const consumer = new RecordingConsumer(queue);
    const failure = new Error('middleware failed');
    const dispatched: string[] = [];
    const draining = new Pump(
      consumer,
      (message: string) => {
        dispatched.push(message);
      },
      { failSilently: true },
    )
      .use(async function* rejectB(message: string) {
        if (message === 'b') throw failure;
        yield;
      })
      .draining({ graceful: true });
    await queue.close();
    await draining.stop();
    expect(dispatched).toEqual(['a', 'c']);
    expect(consumer.settlements[1]).toEqual({ message: 'b', nack: { error: failure } });
    expect(draining.stats).toEqual({ inFlight: 0, processed: 2, failed: 1 });
  });

  it('redelivers a failed message through the queue retry policy', async () => {
    const queue = new MemoryQueue<string>({ maxAttempts: 3, backoff: { type: 'fixed', delay: 0 } });
    const attempts: number[] = [];
    const draining = new Pump(
      queue,
      (_message: string, context: Context<string>) => {
        attempts.push((context as PumpContext<string>).attempt);
        throw new Error('always fails');
      },
      { failSilently: true },
    ).draining();
    await queue.send('a');
    for (let i = 0; i < 5; i++) await flush();
    await draining.stop();
    expect(attempts).toEqual([1, 2, 3]);
    expect(draining.stats.failed).toBe(3);
  });
});

describe('Pump settlement failures', () => {
  it('reports the dispatch error, not the nack that failed after it, and puts the message back', async () => {
    const queue = await refusingDeadLetter();
    await queue.send('a');
    const failure = new Error('a failed');
    const draining = new Pump(queue, failOn('a', failure)).draining();
    await expect(draining.done).rejects.toBe(failure);
    expect(draining.stats).toEqual({ inFlight: 0, processed: 0, failed: 1 });
    expect(await remaining(queue)).toEqual([['a', 2]]);
  });

  it('with failSilently, a nack that fails still stops the pump: the message is kept, not lost', async () => {
    const queue = await refusingDeadLetter();
    const draining = new Pump(queue, failOn('a', new Error('a failed')), { failSilently: true }).draining({
      graceful: true,
    });
    await queue.send('a');
    await expect(draining.done).rejects.toBeInstanceOf(QueueClosedError);
    expect(await remaining(queue)).toEqual([['a', 2]]);
  });

  it('a backoff function that throws dead-letters that message and the pump goes on', async () => {
    const dead = new MemoryQueue<string>();
    const queue = new MemoryQueue<string>({
      maxAttempts: 3,
      deadLetter: dead,
      backoff: () => {
        throw new Error('backoff bug');
      },
    });
    const handled: string[] = [];
    const draining = new Pump(
      queue,
      (message: string) => {
        if (message === 'a') throw new Error('a failed');
        handled.push(message);
      },
      { failSilently: true },
    ).draining();
    await queue.send('a');
    await queue.send('b');
    await vi.waitFor(() => expect(handled).toEqual(['b']));
    expect(dead.size).toBe(1);
    await draining.stop();
  });

  it('turns an ack or a nack that throws synchronously into a failure that stops the pump', async () => {
    const failure = new Error('queue broken');
    const acking = new Pump(throwingSettlements(failure), () => {}).draining();
    await expect(acking.done).rejects.toBe(failure);
    const nacking = new Pump(
      throwingSettlements(failure),
      () => {
        throw new Error('dispatch failed');
      },
      { failSilently: true },
    ).draining();
    await expect(nacking.done).rejects.toBe(failure);
  });
});

describe('Pump consumer errors', () => {
  it('always stop the pump, even with failSilently', async () => {
    const failure = new Error('connection lost');
    let pulls = 0;
    const consumer: Consumer<string> = {
      [Symbol.asyncIterator]: () => ({
        next: async (): Promise<IteratorResult<Delivery<string>>> => {
          pulls++;
          if (pulls > 1) throw failure;
          const settle = async () => {};
          const delivery = { message: 'a', attempt: 1, ack: settle, nack: settle };
          return { done: false, value: { ...delivery, [Symbol.asyncDispose]: settle } };
        },
      }),
    };
    const dispatched: string[] = [];
    const draining = new Pump(
      consumer,
      (message: string) => {
        dispatched.push(message);
      },
      { failSilently: true },
    ).draining();
    await expect(draining.done).rejects.toBe(failure);
    await expect(draining.stop()).rejects.toBe(failure);
    expect(dispatched).toEqual(['a']);
  });
});
