import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { QueueClosedError } from '../../src/errors.js';
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import type { Delivery } from '../../src/queuing/types.js';
import { stateOf } from '../support/async.js';

// Only timers are faked: stateOf() relies on a real setImmediate to let promise callbacks run.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

type Pending<T> = Promise<IteratorResult<Delivery<T>>>;

async function delivered<T>(next: Pending<T>): Promise<Delivery<T>> {
  expect(await stateOf(next)).toBe('fulfilled');
  const result = await next;
  if (result.done) throw new Error('the iteration ended where a delivery was expected');
  return result.value;
}

async function nextNow<T>(iterator: AsyncIterator<Delivery<T>>): Promise<Delivery<T>> {
  return delivered(iterator.next());
}

describe('MemoryQueue retry policy', () => {
  it('defaults to maxAttempts 1: a nacked message is not redelivered', async () => {
    const queue = new MemoryQueue<string>();
    const iterator = queue[Symbol.asyncIterator]();
    await queue.send('a');
    await (await nextNow(iterator)).nack({ error: new Error('boom') });
    const next = iterator.next();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await stateOf(next)).toBe('pending');
    await queue.close();
    expect(await next).toEqual({ value: undefined, done: true });
  });

  it('with maxAttempts 1 and a deadLetter, sends the failed message there', async () => {
    const dead = new MemoryQueue<string>();
    const queue = new MemoryQueue<string>({ deadLetter: dead });
    await queue.send('a');
    const iterator = queue[Symbol.asyncIterator]();
    await (await nextNow(iterator)).nack();
    expect(dead.size).toBe(1);
    expect((await nextNow(dead[Symbol.asyncIterator]())).message).toBe('a');
  });

  it('redelivers after a fixed backoff with attempt + 1, then dead-letters once attempts are spent', async () => {
    const dead = new MemoryQueue<string>();
    const queue = new MemoryQueue<string>({
      maxAttempts: 3,
      backoff: { type: 'fixed', delay: 100 },
      deadLetter: dead,
    });
    await queue.send('a');
    const iterator = queue[Symbol.asyncIterator]();
    let delivery = await nextNow(iterator);
    for (const attempt of [2, 3]) {
      await delivery.nack({ error: new Error('boom') });
      const next = iterator.next();
      await vi.advanceTimersByTimeAsync(99);
      expect(await stateOf(next)).toBe('pending');
      await vi.advanceTimersByTimeAsync(1);
      delivery = await delivered(next);
      expect(delivery).toMatchObject({ message: 'a', attempt });
      expect(dead.size).toBe(0);
    }
    await delivery.nack({ error: new Error('boom') });
    expect(dead.size).toBe(1);
    const next = iterator.next();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await stateOf(next)).toBe('pending');
  });

  it('follows an exponential backoff, capped by max', async () => {
    const queue = new MemoryQueue<string>({
      maxAttempts: 5,
      backoff: { type: 'exponential', delay: 100, max: 300 },
    });
    await queue.send('a');
    const iterator = queue[Symbol.asyncIterator]();
    let delivery = await nextNow(iterator);
    for (const wait of [100, 200, 300, 300]) {
      await delivery.nack();
      const next = iterator.next();
      await vi.advanceTimersByTimeAsync(wait - 1);
      expect(await stateOf(next)).toBe('pending');
      await vi.advanceTimersByTimeAsync(1);
      delivery = await delivered(next);
    }
    expect(delivery.attempt).toBe(5);
  });

  it('accepts a backoff function of the attempt', async () => {
    const backoff = vi.fn((attempt: number) => attempt * 50);
    const queue = new MemoryQueue<string>({ maxAttempts: 3, backoff });
    await queue.send('a');
    const iterator = queue[Symbol.asyncIterator]();
    await (await nextNow(iterator)).nack();
    const next = iterator.next();
    await vi.advanceTimersByTimeAsync(49);
    expect(await stateOf(next)).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect((await delivered(next)).attempt).toBe(2);
    expect(backoff).toHaveBeenCalledWith(1);
  });

  it('nack({ delay }) replaces the backoff', async () => {
    const queue = new MemoryQueue<string>({ maxAttempts: 2, backoff: { type: 'fixed', delay: 10 } });
    await queue.send('a');
    const iterator = queue[Symbol.asyncIterator]();
    await (await nextNow(iterator)).nack({ delay: 500 });
    const next = iterator.next();
    await vi.advanceTimersByTimeAsync(499);
    expect(await stateOf(next)).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect((await delivered(next)).attempt).toBe(2);
  });

  it('nack({ requeue: true }) puts the message back now, even with no attempts left', async () => {
    const queue = new MemoryQueue<string>();
    await queue.send('a');
    const iterator = queue[Symbol.asyncIterator]();
    await (await nextNow(iterator)).nack({ requeue: true });
    const again = await nextNow(iterator);
    expect(again.attempt).toBe(2);
    expect(again.message).toBe('a');
  });

  it('nack({ requeue: false }) dead-letters now, even with attempts left', async () => {
    const dead = new MemoryQueue<string>();
    const queue = new MemoryQueue<string>({ maxAttempts: 5, deadLetter: dead });
    await queue.send('a');
    const iterator = queue[Symbol.asyncIterator]();
    await (await nextNow(iterator)).nack({ requeue: false });
    expect(dead.size).toBe(1);
    await queue.close();
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
  });

  it('a backoff function that throws or gives no delay: that message is dead-lettered, nack resolves', async () => {
    const dead = new MemoryQueue<string>();
    const queue = new MemoryQueue<string>({
      maxAttempts: 3,
      deadLetter: dead,
      backoff: (attempt) => {
        if (attempt === 1) throw new Error('backoff bug');
        return Number.NaN;
      },
    });
    await queue.send('a');
    await queue.send('b', { key: 'k' });
    const iterator = queue[Symbol.asyncIterator]();
    await expect((await nextNow(iterator)).nack()).resolves.toBeUndefined();
    const b = await nextNow(iterator);
    await expect(b.nack({ requeue: true })).resolves.toBeUndefined(); // requeue needs no backoff
    const again = await nextNow(iterator);
    expect(again).toMatchObject({ message: 'b', attempt: 2 });
    await expect(again.nack()).resolves.toBeUndefined(); // NaN for attempt 2
    expect(dead.size).toBe(2);
    await queue.send('b', { key: 'k' }); // its key was freed with it
    expect(queue.size).toBe(1);
  });

  it('a dead-letter queue that refuses: nack rejects, the delivery stays unsettled and keeps its key', async () => {
    const dead = new MemoryQueue<string>({ name: 'dead' });
    await dead.close();
    const queue = new MemoryQueue<string>({ deadLetter: dead });
    await queue.send('a', { key: 'k' });
    const iterator = queue[Symbol.asyncIterator]();
    const delivery = await nextNow(iterator);
    await expect(delivery.nack()).rejects.toBeInstanceOf(QueueClosedError);
    await queue.send('a again', { key: 'k' }); // the message is still this queue's: no second copy
    expect(queue.size).toBe(0);
    await delivery.nack({ requeue: true });
    expect(await nextNow(iterator)).toMatchObject({ message: 'a', attempt: 2 });
  });

  it('keeps a closed queue iterating while a nacked message waits out its backoff', async () => {
    const queue = new MemoryQueue<string>({ maxAttempts: 2, backoff: { type: 'fixed', delay: 100 } });
    await queue.send('a');
    const iterator = queue[Symbol.asyncIterator]();
    const first = await nextNow(iterator);
    await queue.close();
    await first.nack();
    const next = iterator.next();
    await vi.advanceTimersByTimeAsync(100);
    const retried = await delivered(next);
    expect(retried.attempt).toBe(2);
    await retried.ack();
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
  });
});

describe('MemoryQueue delays', () => {
  it('holds a delayed message until its time; a shorter delay sent later comes first', async () => {
    const queue = new MemoryQueue<string>();
    await queue.send('slow', { delay: 300 });
    await queue.send('fast', { delay: 100 });
    expect(queue.size).toBe(2); // held, though not ready
    const iterator = queue[Symbol.asyncIterator]();
    const first = iterator.next();
    await vi.advanceTimersByTimeAsync(99);
    expect(await stateOf(first)).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect((await delivered(first)).message).toBe('fast');
    const second = iterator.next();
    await vi.advanceTimersByTimeAsync(199);
    expect(await stateOf(second)).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    const slow = await delivered(second);
    expect(slow).toMatchObject({ message: 'slow', attempt: 1 });
  });

  it('queues a message that became ready behind those ready before it', async () => {
    const queue = new MemoryQueue<string>({ order: 'priority' });
    await queue.send('delayed', { delay: 100 });
    await queue.send('waiting');
    await vi.advanceTimersByTimeAsync(100);
    await queue.send('later');
    const iterator = queue[Symbol.asyncIterator]();
    const order = [];
    for (let i = 0; i < 3; i++) order.push((await nextNow(iterator)).message);
    expect(order).toEqual(['waiting', 'delayed', 'later']);
  });

  it('lets consumers of a closed queue wait for delayed messages, then ends', async () => {
    const queue = new MemoryQueue<string>();
    await queue.send('a', { delay: 1_000 });
    await queue.close();
    const iterator = queue[Symbol.asyncIterator]();
    const next = iterator.next();
    await vi.advanceTimersByTimeAsync(1_000);
    expect((await delivered(next)).message).toBe('a');
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
  });

  it('counts delayed messages toward maxsize: a ready send waits behind them, a delayed send never', async () => {
    const queue = new MemoryQueue<string>({ maxsize: 2 });
    await queue.send('ready');
    await queue.send('delayed', { delay: 100 });
    const plain = queue.send('plain');
    expect(await stateOf(plain)).toBe('pending'); // 'ready' and 'delayed' fill the queue
    expect(await stateOf(queue.send('later', { delay: 50 }))).toBe('fulfilled'); // past maxsize
    expect(queue.size).toBe(3);
    const iterator = queue[Symbol.asyncIterator]();
    expect((await nextNow(iterator)).message).toBe('ready');
    expect(await stateOf(plain)).toBe('pending'); // still 2 held: 'delayed' and 'later'
    await vi.advanceTimersByTimeAsync(50);
    expect((await nextNow(iterator)).message).toBe('later');
    expect(await stateOf(plain)).toBe('fulfilled');
    expect((await nextNow(iterator)).message).toBe('plain');
    await vi.advanceTimersByTimeAsync(50);
    expect((await nextNow(iterator)).message).toBe('delayed');
  });

  it('while delayed messages hold more than maxsize, a send waits even for an idle consumer', async () => {
    const queue = new MemoryQueue<string>({ maxsize: 1 });
    await queue.send('d1', { delay: 100 });
    await queue.send('d2', { delay: 200 });
    const iterator = queue[Symbol.asyncIterator]();
    const idle = iterator.next();
    const plain = queue.send('plain');
    expect(await stateOf(plain)).toBe('pending');
    await vi.advanceTimersByTimeAsync(100);
    expect((await delivered(idle)).message).toBe('d1');
    expect(await stateOf(plain)).toBe('pending'); // 'd2' fills the queue, and nobody waits
    expect((await nextNow(iterator)).message).toBe('plain'); // straight to the consumer: not overfull now
    expect(await stateOf(plain)).toBe('fulfilled');
    await vi.advanceTimersByTimeAsync(100);
    expect((await nextNow(iterator)).message).toBe('d2');
  });

  it('resolves waiting senders in arrival order when one admitted to an idle pump loop lets it take the next', async () => {
    const queue = new MemoryQueue<string>({ maxsize: 1 });
    // 'd1' keeps one loop busy; the other dispatches each sender it is handed at once and takes the next
    const draining = new Pump(queue, (message: string) =>
      message === 'd1' ? new Promise<void>(() => {}) : undefined,
    ).draining({ concurrency: 2 });
    await queue.send('d1', { delay: 100 });
    await queue.send('d2', { delay: 200 });
    const resolved: string[] = [];
    const sends = ['a', 'b'].map((message) => queue.send(message).then(() => resolved.push(message)));
    expect(await stateOf(sends[0]!)).toBe('pending'); // the delayed messages overfill the queue
    await vi.advanceTimersByTimeAsync(100); // 'd1' is ready: the queue is no longer overfull
    await Promise.all(sends);
    expect(resolved).toEqual(['a', 'b']);
    expect(draining.stats).toMatchObject({ processed: 2 });
  });

  it('with maxsize 0, accepts a delayed send at once, and hands a later plain send to a consumer first', async () => {
    const queue = new MemoryQueue<string>({ maxsize: 0 });
    expect(await stateOf(queue.send('a', { delay: 100 }))).toBe('fulfilled');
    const iterator = queue[Symbol.asyncIterator]();
    const first = iterator.next();
    const now = queue.send('now');
    expect((await delivered(first)).message).toBe('now');
    expect(await stateOf(now)).toBe('fulfilled');
    const next = iterator.next();
    await vi.advanceTimersByTimeAsync(99);
    expect(await stateOf(next)).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect((await delivered(next)).message).toBe('a');
  });

  it('close() keeps the delayed messages it accepted, past maxsize too', async () => {
    const queue = new MemoryQueue<string>({ maxsize: 1 });
    await queue.send('first', { delay: 100 });
    await queue.send('second', { delay: 100 });
    await queue.close();
    const iterator = queue[Symbol.asyncIterator]();
    const next = iterator.next();
    await vi.advanceTimersByTimeAsync(100);
    expect((await delivered(next)).message).toBe('first');
    expect((await nextNow(iterator)).message).toBe('second');
  });

  it('holds a message delayed beyond the 24.8-day setTimeout limit until its time', async () => {
    const thirtyDays = 30 * 24 * 60 * 60 * 1_000;
    const queue = new MemoryQueue<string>();
    await queue.send('a', { delay: thirtyDays });
    const next = queue[Symbol.asyncIterator]().next();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await stateOf(next)).toBe('pending');
    await vi.advanceTimersByTimeAsync(thirtyDays - 1_000);
    expect((await delivered(next)).message).toBe('a');
  });
});

describe('MemoryQueue deduplication key', () => {
  it('accepts a send whose key is held without a second copy', async () => {
    const queue = new MemoryQueue<string>();
    await queue.send('first', { key: 'k' });
    await queue.send('second', { key: 'k' });
    await queue.send('other', { key: 'j' });
    expect(queue.size).toBe(2);
  });

  it('keeps the key while the message is delayed, delivered or backing off, frees it on ack', async () => {
    const queue = new MemoryQueue<string>({ maxAttempts: 2, backoff: { type: 'fixed', delay: 100 } });
    await queue.send('a', { key: 'k', delay: 50 });
    await queue.send('dup', { key: 'k' });
    expect(queue.size).toBe(1);
    await vi.advanceTimersByTimeAsync(50);
    const iterator = queue[Symbol.asyncIterator]();
    const first = await nextNow(iterator);
    await queue.send('dup', { key: 'k' });
    await first.nack();
    await queue.send('dup', { key: 'k' });
    await vi.advanceTimersByTimeAsync(100);
    const retried = await nextNow(iterator);
    expect(retried).toMatchObject({ message: 'a', attempt: 2 });
    expect(queue.size).toBe(0);
    await retried.ack();
    await queue.send('b', { key: 'k' });
    expect((await nextNow(iterator)).message).toBe('b');
  });

  it('a duplicate of a message still waiting for room is accepted with it, never before', async () => {
    const queue = new MemoryQueue<string>({ maxsize: 1 });
    await queue.send('filler');
    const original = queue.send('a', { key: 'k' });
    const duplicate = queue.send('a again', { key: 'k' });
    expect(await stateOf(duplicate)).toBe('pending');
    const iterator = queue[Symbol.asyncIterator]();
    expect((await nextNow(iterator)).message).toBe('filler');
    expect(await stateOf(original)).toBe('fulfilled');
    expect(await stateOf(duplicate)).toBe('fulfilled');
    expect(queue.size).toBe(1);
  });

  it('a duplicate of a message still waiting for room is refused with it when the queue closes', async () => {
    for (const maxsize of [0, 1]) {
      const queue = new MemoryQueue<string>({ maxsize });
      if (maxsize > 0) await queue.send('filler');
      const original = queue.send('a', { key: 'k' });
      const duplicate = queue.send('a again', { key: 'k' });
      await queue.close();
      await expect(original).rejects.toBeInstanceOf(QueueClosedError);
      await expect(duplicate).rejects.toBeInstanceOf(QueueClosedError);
    }
  });

  it('frees the key when the message is dropped or dead-lettered', async () => {
    const queue = new MemoryQueue<string>();
    await queue.send('a', { key: 'k' });
    const iterator = queue[Symbol.asyncIterator]();
    await (await nextNow(iterator)).nack();
    await queue.send('b', { key: 'k' });
    expect((await nextNow(iterator)).message).toBe('b');
  });
});
