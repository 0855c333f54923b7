/**
 * Flow control on a MemoryQueue (SPEC § 7) driven by pumps: the rate limit (a sliding window, checked
 * over every window of the handlers' start times), groupConcurrency, both changed while running, and
 * shared by every pump and iterator of the queue. Groups themselves: memory-flow-groups.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import { takeNow } from '../../src/queuing/hand-off.js';
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import type { Delivery, FlowIterator } from '../../src/queuing/types.js';
import { type Deferred, deferred, flush } from '../support/async.js';

/** Start times may trail hand-out times by a little (a dispatch deferred a microtask, a GC pause). */
const SLACK_MS = 5;

/** The shortest span of `limit + 1` consecutive starts: at least `interval` if no window held more. */
function tightestWindow(starts: readonly number[], limit: number): number {
  let tightest = Number.POSITIVE_INFINITY;
  for (let i = 0; i + limit < starts.length; i++)
    tightest = Math.min(tightest, starts[i + limit]! - starts[i]!);
  return tightest;
}

/** Counts each group's dispatches under way; remembers the most seen at once, per group and overall. */
class GroupMeter {
  readonly running = new Map<string, number>();
  peak = 0;
  peakTotal = 0;
  #total = 0;

  start(group: string): void {
    const now = (this.running.get(group) ?? 0) + 1;
    this.running.set(group, now);
    this.#total++;
    this.peak = Math.max(this.peak, now);
    this.peakTotal = Math.max(this.peakTotal, this.#total);
  }

  end(group: string): void {
    this.running.set(group, this.running.get(group)! - 1);
    this.#total--;
  }
}

/** Messages name their group: `g1:7` is message 7 of group g1. */
const groupOf = (message: string): string => message.split(':')[0]!;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('MemoryQueue rate limit', () => {
  it('never starts more than `limit` dispatches in any window of `interval`', async () => {
    const queue = new MemoryQueue<number>();
    const starts: number[] = [];
    const draining = new Pump(queue, async () => {
      starts.push(performance.now());
      await sleep(1);
    }).draining({ concurrency: 8, rateLimit: { limit: 10, interval: 150 }, graceful: true });
    for (let i = 0; i < 60; i++) await queue.send(i);
    await queue.close();
    await draining.stop();
    expect(starts).toHaveLength(60);
    expect(tightestWindow(starts, 10)).toBeGreaterThanOrEqual(150 - SLACK_MS);
  });

  it('is one window for every pump and iterator of the queue', async () => {
    const queue = new MemoryQueue<number>();
    const starts: number[] = [];
    const handler = async () => {
      starts.push(performance.now());
    };
    const limits = { concurrency: 4, rateLimit: { limit: 6, interval: 150 }, graceful: true };
    const first = new Pump(queue, handler).draining(limits);
    const second = new Pump(queue, handler).draining(limits);
    for (let i = 0; i < 36; i++) await queue.send(i);
    await queue.close();
    await Promise.all([first.stop(), second.stop()]);
    expect(starts).toHaveLength(36);
    expect(
      tightestWindow(
        starts.sort((a, b) => a - b),
        6,
      ),
    ).toBeGreaterThanOrEqual(150 - SLACK_MS);
  });

  it('applies a new limit within one interval, and none once it is removed', async () => {
    const queue = new MemoryQueue<number>();
    const starts: number[] = [];
    const draining = new Pump(queue, () => {
      starts.push(performance.now());
    }).draining({ concurrency: 4, rateLimit: { limit: 2, interval: 200 }, graceful: true });
    for (let i = 0; i < 400; i++) void queue.send(i);
    await sleep(50);
    expect(starts).toHaveLength(2); // the first window's two

    const raised = performance.now();
    draining.rateLimit = { limit: 10, interval: 200 };
    await sleep(250);
    const sinceRaise = starts.filter((start) => start >= raised);
    expect(sinceRaise.length).toBeGreaterThan(2);
    expect(tightestWindow(starts, 10)).toBeGreaterThanOrEqual(200 - SLACK_MS);

    const removed = performance.now();
    draining.rateLimit = undefined; // at 10 per 200 ms, the rest would take 7 s more
    await queue.close();
    await draining.stop();
    expect(starts).toHaveLength(400);
    expect(performance.now() - removed).toBeLessThan(3_000);
  });

  it('wakes a pump waiting on a full window, even on a queue that holds nothing else up', async () => {
    const queue = new MemoryQueue<string>();
    const seen: string[] = [];
    const draining = new Pump(queue, (message: string) => {
      seen.push(message);
    }).draining({ rateLimit: { limit: 1, interval: 100 }, graceful: true });
    await queue.send('first');
    await queue.send('second'); // waits out the window on the queue's own timer
    await queue.close();
    await draining.stop();
    expect(seen).toEqual(['first', 'second']);
  });
});

describe('MemoryQueue groupConcurrency', () => {
  it('never has more than `groupConcurrency` of one group out, with more loops than that', async () => {
    const queue = new MemoryQueue<string>();
    const meter = new GroupMeter();
    const draining = new Pump(queue, async (message: string) => {
      meter.start(groupOf(message));
      await sleep(1 + (message.length % 3));
      meter.end(groupOf(message));
    }).draining({ concurrency: 16, groupConcurrency: 2, graceful: true });
    for (let i = 0; i < 300; i++) await queue.send(`g${i % 5}:${i}`, { group: `g${i % 5}` });
    await queue.close();
    await draining.stop();
    expect(meter.peak).toBe(2);
    expect(meter.peakTotal).toBeLessThanOrEqual(10);
  });

  it('fills every group up to its cap and no further (the default group included)', async () => {
    const queue = new MemoryQueue<string>();
    const meter = new GroupMeter();
    const gate = deferred();
    const draining = new Pump(queue, async (message: string) => {
      meter.start(groupOf(message));
      await gate.promise;
      meter.end(groupOf(message));
    }).draining({ concurrency: 8, groupConcurrency: 2, graceful: true });
    for (let i = 0; i < 10; i++) await queue.send(`a:${i}`, { group: 'a' });
    for (let i = 0; i < 10; i++) await queue.send(`-:${i}`); // the default group
    await flush();
    expect(Object.fromEntries(meter.running)).toEqual({ a: 2, '-': 2 });
    expect(draining.stats.inFlight).toBe(4);
    gate.resolve();
    await queue.close();
    await draining.stop();
    expect(draining.stats.processed).toBe(20);
    expect(meter.peak).toBe(2);
  });

  it('frees a slot when a delivery is nacked, and its retry stays in its group', async () => {
    const queue = new MemoryQueue<string>({ maxAttempts: 2, backoff: { type: 'fixed', delay: 0 } });
    const dispatched: string[] = [];
    const gate = deferred();
    const draining = new Pump(
      queue,
      async (message: string, { attempt }) => {
        dispatched.push(`${message}#${attempt}`);
        if (message === 'a:1' && attempt === 1) throw new Error('first attempt fails');
        if (message === 'a:2') await gate.promise;
      },
      { failSilently: true },
    ).draining({ concurrency: 4, groupConcurrency: 1, graceful: true });
    void queue.send('a:1', { group: 'a' });
    void queue.send('a:2', { group: 'a' }); // sent before a:1 fails: its retry queues behind a:2
    await flush();
    // a:1 failed, freeing the slot for a:2; its retry waits for a:2 (one of group a at a time)
    expect(dispatched).toEqual(['a:1#1', 'a:2#1']);
    gate.resolve();
    await queue.close();
    await draining.stop();
    expect(dispatched).toEqual(['a:1#1', 'a:2#1', 'a:1#2']);
  });

  it('applies a changed cap to the next hand-out; lowering it takes nothing back', async () => {
    const queue = new MemoryQueue<string>();
    const meter = new GroupMeter();
    const gates: Deferred<void>[] = [];
    const draining = new Pump(queue, async (message: string) => {
      meter.start(groupOf(message));
      const gate = deferred();
      gates.push(gate);
      await gate.promise;
      meter.end(groupOf(message));
    }).draining({ concurrency: 8, groupConcurrency: 1, graceful: true });
    for (let i = 0; i < 12; i++) await queue.send(`a:${i}`, { group: 'a' });
    await flush();
    expect(meter.running.get('a')).toBe(1);

    draining.groupConcurrency = 3;
    await flush();
    expect(meter.running.get('a')).toBe(3);

    draining.groupConcurrency = 1;
    for (const gate of gates.splice(0, 2)) gate.resolve(); // two finish: still two out, over the cap
    await flush();
    expect(meter.running.get('a')).toBe(1);
    expect(gates).toHaveLength(1);

    draining.groupConcurrency = undefined; // no cap: every loop takes one
    await flush();
    expect(meter.running.get('a')).toBe(8);
    await queue.close();
    while (gates.length > 0) {
      for (const gate of gates.splice(0)) gate.resolve();
      await flush();
    }
    await draining.stop();
    expect(draining.stats.processed).toBe(12);
  });

  it('shares the slots between the pumps of one queue', async () => {
    const queue = new MemoryQueue<string>();
    const meter = new GroupMeter();
    const handler = async (message: string) => {
      meter.start(groupOf(message));
      await sleep(2);
      meter.end(groupOf(message));
    };
    const options = { concurrency: 4, groupConcurrency: 1, graceful: true };
    const first = new Pump(queue, handler).draining(options);
    const second = new Pump(queue, handler).draining(options);
    for (let i = 0; i < 60; i++) await queue.send(`g${i % 3}:${i}`, { group: `g${i % 3}` });
    await queue.close();
    await Promise.all([first.stop(), second.stop()]);
    expect(first.stats.processed + second.stats.processed).toBe(60);
    expect(meter.peak).toBe(1);
  });

  it('gives the slots back on a stop: what was out goes back to its group for the next consumer', async () => {
    const queue = new MemoryQueue<string>();
    const stuck = new Pump(queue, (_message: string, { signal }) => {
      return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    }).draining({ concurrency: 2, groupConcurrency: 1, shutdownTimeout: 0 });
    await queue.send('a:1', { group: 'a' });
    await queue.send('a:2', { group: 'a' });
    await flush();
    expect(stuck.stats.inFlight).toBe(1);
    await stuck.stop();

    const iterator = queue[Symbol.asyncIterator]() as FlowIterator<string>;
    iterator.flow({ groupConcurrency: 1 });
    const first = (await iterator.next()).value as Delivery<string>;
    expect([first.message, first.group]).toEqual(['a:2', 'a']); // a:1 went back behind it
    expect((iterator as unknown as { [takeNow](): unknown })[takeNow]()).toBeUndefined();
    await first.ack();
    const again = (await iterator.next()).value as Delivery<string>;
    expect([again.message, again.attempt]).toEqual(['a:1', 2]);
    await iterator.return?.();
  });

  it('lets go of the limits of an iterator once it is returned', async () => {
    const queue = new MemoryQueue<string>();
    const limited = queue[Symbol.asyncIterator]() as FlowIterator<string>;
    limited.flow({ groupConcurrency: 1 });
    await queue.send('a:1', { group: 'a' });
    await queue.send('a:2', { group: 'a' });
    const plain = queue[Symbol.asyncIterator]();
    expect(((await plain.next()).value as Delivery<string>).message).toBe('a:1');
    expect(queue[takeNow]()).toBeUndefined(); // the queue's limits hold for every consumer
    await limited.return?.();
    expect(queue[takeNow]()?.message).toBe('a:2');
  });
});

describe('MemoryQueue flow limits: refused values', () => {
  it('refuses bad limits and groups with InvalidOptionError', async () => {
    const queue = new MemoryQueue<string>();
    const pump = new Pump(queue, () => {});
    expect(() => pump.draining({ rateLimit: { limit: 0, interval: 1000 } })).toThrow(InvalidOptionError);
    expect(() => pump.draining({ rateLimit: { limit: 5, interval: -1 } })).toThrow(InvalidOptionError);
    expect(() => pump.draining({ groupConcurrency: 0 })).toThrow(InvalidOptionError);
    const iterator = queue[Symbol.asyncIterator]() as FlowIterator<string>;
    expect(() => iterator.flow({ rateLimit: { limit: 1, interval: 1.5 } })).toThrow(InvalidOptionError);
    expect(() => iterator.flow({ groupConcurrency: -2 })).toThrow(InvalidOptionError);
    await expect(queue.send('a', { group: 7 as never })).rejects.toThrow(InvalidOptionError);
    await expect(queue.send('a', { group: '' })).rejects.toThrow(InvalidOptionError);
    expect(queue.size).toBe(0);

    const draining = pump.draining({ rateLimit: { limit: 5, interval: 100 } });
    expect(() => {
      draining.rateLimit = { limit: 5, interval: 0 };
    }).toThrow(InvalidOptionError);
    expect(draining.rateLimit).toEqual({ limit: 5, interval: 100 });
    await draining.stop();
  });
});
