import { describe, expect, it } from 'vitest';
import { QueueClosedError } from '../../src/errors.js';
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import type { Delivery } from '../../src/queuing/types.js';
import { flush, stateOf } from '../support/async.js';

/** Takes `count` deliveries that must already be available, acking each; returns their messages. */
async function takeAcked<T>(queue: MemoryQueue<T>, count: number): Promise<T[]> {
  const iterator = queue[Symbol.asyncIterator]();
  const messages: T[] = [];
  for (let i = 0; i < count; i++) {
    const next = iterator.next();
    expect(await stateOf(next)).toBe('fulfilled');
    const result = await next;
    if (result.done) throw new Error(`iteration ended after ${i} of ${count} messages`);
    messages.push(result.value.message);
    await result.value.ack();
  }
  return messages;
}

/** Deterministic pseudo-random integers in [0, bound): the order tests must be reproducible. */
function seeded(seed: number): (bound: number) => number {
  let state = seed;
  return (bound) => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state % bound;
  };
}

describe('MemoryQueue order', () => {
  it('is fifo by default', async () => {
    const queue = new MemoryQueue<number>();
    for (let n = 0; n < 100; n++) await queue.send(n);
    expect(await takeAcked(queue, 100)).toEqual([...Array(100).keys()]);
  });

  it('keeps fifo order across the ring buffer growing while consumed', async () => {
    const queue = new MemoryQueue<number>();
    const received: number[] = [];
    let next = 0;
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 37; i++) await queue.send(next++);
      received.push(...(await takeAcked(queue, 20)));
    }
    received.push(...(await takeAcked(queue, queue.size)));
    expect(received).toEqual([...Array(370).keys()]);
  });

  it('lifo delivers the newest first', async () => {
    const queue = new MemoryQueue<number>({ order: 'lifo' });
    for (let n = 1; n <= 5; n++) await queue.send(n);
    expect(await takeAcked(queue, 2)).toEqual([5, 4]);
    await queue.send(6);
    expect(await takeAcked(queue, 4)).toEqual([6, 3, 2, 1]);
  });

  it('priority delivers the highest priority first and FIFO among many equal priorities', async () => {
    const queue = new MemoryQueue<{ id: number; priority: number }>({ order: 'priority' });
    const random = seeded(42);
    const sent = Array.from({ length: 2_000 }, (_, id) => ({ id, priority: random(5) - 2 }));
    for (const message of sent) await queue.send(message, { priority: message.priority });
    const expected = [...sent].sort((a, b) => b.priority - a.priority || a.id - b.id);
    expect(await takeAcked(queue, sent.length)).toEqual(expected);
  });

  it('priority is FIFO for 1,000 messages of one priority', async () => {
    const queue = new MemoryQueue<number>({ order: 'priority' });
    for (let n = 0; n < 1_000; n++) await queue.send(n, { priority: 7 });
    expect(await takeAcked(queue, 1_000)).toEqual([...Array(1_000).keys()]);
  });

  it('priority treats a send without priority as priority 0, including negative priorities', async () => {
    const queue = new MemoryQueue<string>({ order: 'priority' });
    await queue.send('low', { priority: -1 });
    await queue.send('default');
    await queue.send('high', { priority: 1 });
    expect(await takeAcked(queue, 3)).toEqual(['high', 'default', 'low']);
  });
});

describe('MemoryQueue maxsize', () => {
  it('defaults to Infinity: sends never wait', async () => {
    const queue = new MemoryQueue<number>();
    expect(queue.maxsize).toBe(Number.POSITIVE_INFINITY);
    const sends = Array.from({ length: 10_000 }, (_, n) => queue.send(n));
    await Promise.all(sends);
    expect(queue.size).toBe(10_000);
  });

  it('0 is a rendezvous: send resolves only when a consumer takes the message', async () => {
    const queue = new MemoryQueue<string>({ maxsize: 0 });
    const sent = queue.send('a');
    expect(await stateOf(sent)).toBe('pending');
    expect(queue.size).toBe(0);
    const iterator = queue[Symbol.asyncIterator]();
    const next = await iterator.next();
    expect(next.value?.message).toBe('a');
    expect(await stateOf(sent)).toBe('fulfilled');
  });

  it('0 hands a message straight to a consumer already waiting', async () => {
    const queue = new MemoryQueue<string>({ maxsize: 0 });
    const iterator = queue[Symbol.asyncIterator]();
    const next = iterator.next();
    await queue.send('a');
    expect((await next).value?.message).toBe('a');
  });

  it('makes senders wait while full and admits them in arrival order', async () => {
    const queue = new MemoryQueue<string>({ maxsize: 1 });
    await queue.send('a');
    const admitted: string[] = [];
    const waiting = ['b', 'c', 'd'].map((m) => queue.send(m).then(() => admitted.push(m)));
    await flush();
    expect(admitted).toEqual([]);
    expect(await takeAcked(queue, 1)).toEqual(['a']);
    await flush();
    expect(admitted).toEqual(['b']);
    expect(await takeAcked(queue, 2)).toEqual(['b', 'c']);
    await Promise.all(waiting);
    expect(admitted).toEqual(['b', 'c', 'd']);
    expect(await takeAcked(queue, 1)).toEqual(['d']);
  });

  it('growing maxsize at run time wakes waiting senders, in order', async () => {
    const queue = new MemoryQueue<string>({ maxsize: 1 });
    await queue.send('a');
    const b = queue.send('b');
    const c = queue.send('c');
    const d = queue.send('d');
    queue.maxsize = 3;
    expect(queue.maxsize).toBe(3);
    expect(await stateOf(b)).toBe('fulfilled');
    expect(await stateOf(c)).toBe('fulfilled');
    expect(await stateOf(d)).toBe('pending');
    expect(queue.size).toBe(3);
    queue.maxsize = Number.POSITIVE_INFINITY;
    expect(await stateOf(d)).toBe('fulfilled');
    expect(await takeAcked(queue, 4)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('shrinking maxsize never drops buffered messages; senders wait until size is below it', async () => {
    const queue = new MemoryQueue<number>({ maxsize: 5 });
    for (let n = 0; n < 5; n++) await queue.send(n);
    queue.maxsize = 2;
    expect(queue.size).toBe(5);
    const late = queue.send(5);
    expect(await takeAcked(queue, 3)).toEqual([0, 1, 2]);
    expect(await stateOf(late)).toBe('pending');
    expect(await takeAcked(queue, 1)).toEqual([3]);
    expect(await stateOf(late)).toBe('fulfilled');
    expect(await takeAcked(queue, 2)).toEqual([4, 5]);
  });
});

describe('MemoryQueue close', () => {
  it('rejects waiting senders with QueueClosedError; their messages were not accepted', async () => {
    const queue = new MemoryQueue<string>({ maxsize: 1, name: 'orders' });
    await queue.send('kept');
    const waiting = queue.send('refused');
    await queue.close();
    expect(queue.closed).toBe(true);
    await expect(waiting).rejects.toBeInstanceOf(QueueClosedError);
    await expect(waiting).rejects.toThrow('orders');
    const received: string[] = [];
    for await (const delivery of queue) {
      received.push(delivery.message);
      await delivery.ack();
    }
    expect(received).toEqual(['kept']);
  });

  it('rejects a rendezvous sender nobody took', async () => {
    const queue = new MemoryQueue<string>({ maxsize: 0 });
    const waiting = queue.send('a');
    await queue.close();
    await expect(waiting).rejects.toBeInstanceOf(QueueClosedError);
  });

  it('lets consumers drain what the queue holds, then ends their iteration', async () => {
    const queue = new MemoryQueue<number>();
    for (let n = 0; n < 3; n++) await queue.send(n);
    await queue.close();
    expect(queue.size).toBe(3);
    await expect(queue.send(9)).rejects.toBeInstanceOf(QueueClosedError);
    const received: number[] = [];
    for await (const delivery of queue) {
      received.push(delivery.message);
      await delivery.ack();
    }
    expect(received).toEqual([0, 1, 2]);
  });

  it('ends every waiting consumer when closed empty, and is idempotent', async () => {
    const queue = new MemoryQueue<number>();
    const iterators = [queue[Symbol.asyncIterator](), queue[Symbol.asyncIterator]()];
    const pending = iterators.map((iterator) => iterator.next());
    await queue.close();
    await queue.close();
    expect(await Promise.all(pending)).toEqual([
      { value: undefined, done: true },
      { value: undefined, done: true },
    ]);
    expect(await iterators[0]!.next()).toEqual({ value: undefined, done: true });
  });
});

describe('MemoryQueue with several consumers', () => {
  it('gives each message to exactly one of several loops', async () => {
    const queue = new MemoryQueue<number>({ maxsize: 4 });
    const byConsumer: number[][] = [[], [], []];
    const consumers = byConsumer.map(async (received) => {
      for await (const delivery of queue) {
        received.push(delivery.message);
        await flush(); // hold the message a while so the others get work
        await delivery.ack();
      }
    });
    for (let n = 0; n < 60; n++) await queue.send(n);
    await queue.close();
    await Promise.all(consumers);
    const all = byConsumer.flat().sort((a, b) => a - b);
    expect(all).toEqual([...Array(60).keys()]);
    for (const received of byConsumer) expect(received.length).toBeGreaterThan(0);
  });

  it('serves several pending next() calls of one iterator and ends them on return()', async () => {
    const queue = new MemoryQueue<string>();
    const iterator = queue[Symbol.asyncIterator]();
    const first = iterator.next();
    const second = iterator.next();
    const third = iterator.next();
    await queue.send('a');
    await queue.send('b');
    const got = [await first, await second].map((r) => (r.value as Delivery<string>).message);
    expect(got).toEqual(['a', 'b']);
    await iterator.return?.();
    expect(await third).toEqual({ value: undefined, done: true });
    await queue.send('c');
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
    expect(queue.size).toBe(1);
  });
});

describe('MemoryQueue timers and the process', () => {
  /** Timers holding the process alive (an unref'd timer is not listed). */
  const heldTimers = () =>
    process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;

  it('holds the process for delays and backoffs only while the queue is open or an iterator is live', async () => {
    const queue = new MemoryQueue<string>({ maxAttempts: 2, backoff: { type: 'fixed', delay: 60_000 } });
    await queue.send('a');
    const iterator = queue[Symbol.asyncIterator]();
    const first = await iterator.next();
    const before = heldTimers();
    await queue.send('b', { delay: 60_000 });
    await (first.value as Delivery<string>).nack();
    expect(heldTimers()).toBe(before + 2); // an open queue holds it, as setTimeout does
    await queue.close();
    expect(heldTimers()).toBe(before + 2); // a live iterator may still take what they make ready
    await iterator.return?.();
    expect(heldTimers()).toBe(before); // closed, and nobody consumes: the process may exit
    const again = queue[Symbol.asyncIterator]();
    expect(heldTimers()).toBe(before + 2);
    await again.return?.();
    expect(heldTimers()).toBe(before);
  });
});
