/**
 * A MemoryQueue hands a sent message to an idle pump loop inside `send` (no promise per hand-off).
 * These pin what that must not change for the sender and the handler.
 */
import { describe, expect, it } from 'vitest';
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import type { Delivery, NackOptions } from '../../src/queuing/types.js';
import { flush } from '../support/async.js';

describe('Pump on a MemoryQueue: hand-off inside send', () => {
  it('starts an idle loop dispatch before send resolves', async () => {
    const queue = new MemoryQueue<string>();
    const started: string[] = [];
    const draining = new Pump(queue, async (message: string) => {
      started.push(message);
    }).draining();
    await flush();
    const sent = queue.send('now');
    expect(started).toEqual(['now']);
    await sent;
    await queue.close();
    await draining.stop();
  });

  it('keeps a handler error away from the sender: send resolves, the pump nacks and stops', async () => {
    const queue = new MemoryQueue<string>();
    const failure = new Error('handler threw synchronously');
    const draining = new Pump(queue, () => {
      throw failure;
    }).draining();
    await flush();
    await expect(queue.send('bad')).resolves.toBeUndefined();
    await expect(draining.done).rejects.toBe(failure);
    expect(draining.stats).toEqual({ inFlight: 0, processed: 0, failed: 1 });
  });

  it('does not nest a dispatch inside a handler that sends to its own queue (no stack growth)', async () => {
    // 20,000 idle loops and a chain of 20,000 sends, each from the previous message's handler:
    // handed off inside send, every dispatch would start one frame deeper and overflow the stack.
    const concurrency = 20_000;
    const queue = new MemoryQueue<number>();
    const depths: number[] = [];
    let depth = 0;
    const draining = new Pump(queue, (n: number) => {
      depth++;
      depths.push(depth);
      try {
        if (n < concurrency) void queue.send(n + 1);
      } finally {
        depth--;
      }
    }).draining({ concurrency, graceful: true });
    await flush();
    await queue.send(1);
    await flush();
    await queue.close();
    await draining.stop();
    expect(depths).toHaveLength(concurrency);
    expect(Math.max(...depths)).toBe(1);
    expect(draining.stats).toEqual({ inFlight: 0, processed: concurrency, failed: 0 });
  });

  it('does not dispatch a message sent after a stop: it stays on the queue', async () => {
    const queue = new MemoryQueue<string>();
    let release!: () => void;
    const handled: string[] = [];
    const draining = new Pump(queue, async (message: string) => {
      handled.push(message);
      if (message === 'slow') await new Promise<void>((resolve) => (release = resolve));
    }).draining({ concurrency: 2 });
    await flush();
    await queue.send('slow');
    const stopped = draining.stop();
    await queue.send('after stop');
    release();
    await stopped;
    expect(handled).toEqual(['slow']);
    expect(queue.size).toBe(1);
  });

  it('releases a delivery a consumer hands over only after the stop, without dispatching it', async () => {
    let handOver!: (result: IteratorResult<Delivery<string>>) => void;
    const nacks: NackOptions[] = [];
    const late: Delivery<string> = {
      message: 'late',
      attempt: 1,
      ack: async () => {},
      nack: async (options = {}) => void nacks.push(options),
      [Symbol.asyncDispose]: async () => {},
    };
    const consumer = {
      [Symbol.asyncIterator]: () => ({
        next: () => new Promise<IteratorResult<Delivery<string>>>((resolve) => (handOver = resolve)),
      }),
    };
    const handled: string[] = [];
    const draining = new Pump(consumer, (message: string) => void handled.push(message)).draining();
    await draining.stop();
    handOver({ value: late, done: false });
    await flush();
    expect(handled).toEqual([]);
    expect(nacks).toEqual([{ requeue: true }]);
  });
});
