/**
 * Groups on a MemoryQueue (SPEC § 7): round-robin across the groups with ready messages (the default
 * group among them), the queue's order within a group, and a group kept through delays, retries, dead
 * letters and redrive, with the operator face and `maxsize` counting grouped messages.
 */
import { describe, expect, it } from 'vitest';
import { takeNow } from '../../src/queuing/hand-off.js';
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import type { Delivery, FlowIterator, Producer, SendOptions } from '../../src/queuing/types.js';
import { deferred, flush, stateOf } from '../support/async.js';

/** Takes everything ready now, acking each: `message@group` in hand-out order. */
async function drainNow(queue: MemoryQueue<string>): Promise<string[]> {
  const taken: string[] = [];
  for (let delivery = queue[takeNow](); delivery !== undefined; delivery = queue[takeNow]()) {
    taken.push(`${delivery.message}@${delivery.group ?? ''}`);
    await delivery.ack();
  }
  return taken;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('MemoryQueue groups', () => {
  it('takes the groups with ready messages in turn, the default group among them', async () => {
    const queue = new MemoryQueue<string>();
    for (const message of ['a1', 'a2', 'a3']) await queue.send(message, { group: 'a' });
    await queue.send('d1');
    for (const message of ['b1', 'b2']) await queue.send(message, { group: 'b' });
    await queue.send('d2');
    expect(await drainNow(queue)).toEqual(['a1@a', 'd1@', 'b1@b', 'a2@a', 'd2@', 'b2@b', 'a3@a']);
  });

  it('keeps messages sent before the first group in the default group, ahead of it in its turn', async () => {
    const queue = new MemoryQueue<string>();
    await queue.send('d1');
    await queue.send('d2');
    await queue.send('a1', { group: 'a' });
    expect(await drainNow(queue)).toEqual(['d1@', 'a1@a', 'd2@']);
  });

  it('hands out a message of a new group within one round, behind a backlog of 5,000', async () => {
    const queue = new MemoryQueue<string>();
    const order: string[] = [];
    const all = deferred();
    const draining = new Pump(queue, async (message: string) => {
      order.push(message);
      if (message === 'a-100') await queue.send('b', { group: 'b' });
      if (order.length === 5_001) all.resolve();
    }).draining({ graceful: true });
    for (let i = 0; i < 5_000; i++) void queue.send(`a-${i}`, { group: 'a' });
    await all.promise;
    await queue.close();
    await draining.stop();
    expect(order).toHaveLength(5_001);
    // two groups with ready messages: at most one of a's goes first
    expect(order.indexOf('b') - order.indexOf('a-100')).toBeLessThanOrEqual(2);
  });

  it('orders each group by priority, FIFO among equals, on a priority queue', async () => {
    const queue = new MemoryQueue<string>({ order: 'priority' });
    await queue.send('a-low', { group: 'a', priority: 1 });
    await queue.send('a-high', { group: 'a', priority: 9 });
    await queue.send('b-mid', { group: 'b', priority: 5 });
    await queue.send('a-high-2', { group: 'a', priority: 9 });
    await queue.send('b-top', { group: 'b', priority: 7 });
    expect(await drainNow(queue)).toEqual(['a-high@a', 'b-top@b', 'a-high-2@a', 'b-mid@b', 'a-low@a']);
  });

  it('orders each group newest first on a lifo queue', async () => {
    const queue = new MemoryQueue<string>({ order: 'lifo' });
    for (const message of ['a1', 'a2']) await queue.send(message, { group: 'a' });
    for (const message of ['b1', 'b2']) await queue.send(message, { group: 'b' });
    expect(await drainNow(queue)).toEqual(['a2@a', 'b2@b', 'a1@a', 'b1@b']);
  });

  it('sets delivery.group, and puts a delayed message in its group once due', async () => {
    const queue = new MemoryQueue<string>();
    await queue.send('later', { group: 'a', delay: 30 });
    await queue.send('now');
    expect(queue.size).toBe(2);
    expect(await drainNow(queue)).toEqual(['now@']);
    const iterator = queue[Symbol.asyncIterator]();
    const due = (await iterator.next()).value as Delivery<string>;
    expect([due.message, due.group]).toEqual(['later', 'a']);
    await due.ack();
    await iterator.return?.();
  });

  it('keeps the group on a retry, and frees nothing twice', async () => {
    const queue = new MemoryQueue<string>({ maxAttempts: 3, backoff: { type: 'fixed', delay: 5 } });
    const iterator = queue[Symbol.asyncIterator]() as FlowIterator<string>;
    iterator.flow({ groupConcurrency: 1 });
    await queue.send('x', { group: 'a' });
    const first = (await iterator.next()).value as Delivery<string>;
    await first.nack();
    const retried = (await iterator.next()).value as Delivery<string>;
    expect([retried.message, retried.group, retried.attempt]).toEqual(['x', 'a', 2]);
    await queue.send('y', { group: 'a' });
    expect((iterator as unknown as { [takeNow](): unknown })[takeNow]()).toBeUndefined(); // x still out
    await retried.ack();
    expect(((await iterator.next()).value as Delivery<string>).message).toBe('y');
    await iterator.return?.();
  });

  it('dead-letters a message in its group, and a redrive puts it back in that group', async () => {
    const dead = new MemoryQueue<string>({ name: 'dead' });
    const queue = new MemoryQueue<string>({ deadLetter: dead });
    await queue.send('x', { group: 'a', headers: { trace: '1' } });
    const delivery = queue[takeNow]()!;
    await delivery.nack();
    expect(await queue.deadLetters()).toMatchObject([{ message: 'x', attempt: 1 }]);
    const letter = dead[takeNow]()!;
    expect([letter.group, letter.headers]).toEqual(['a', { trace: '1' }]);
    await letter.nack({ requeue: true }); // back among the dead letters

    await queue.send('other', { group: 'b' });
    await queue.send('other-2', { group: 'b' });
    expect(await queue.redrive()).toBe(1);
    expect(await drainNow(queue)).toEqual(['other@b', 'x@a', 'other-2@b']);
  });

  it('sends a dead letter to another kind of producer with its group and headers', async () => {
    const sent: [string, SendOptions | undefined][] = [];
    const producer: Producer<string> = {
      send: async (message, options) => {
        sent.push([message, options]);
      },
    };
    const queue = new MemoryQueue<string>({ deadLetter: producer });
    await queue.send('grouped', { group: 'a' });
    await queue.send('both', { group: 'a', headers: { h: 'v' } });
    await queue.send('plain');
    for (let delivery = queue[takeNow](); delivery !== undefined; delivery = queue[takeNow]()) {
      await delivery.nack();
    }
    expect(sent).toEqual([
      ['grouped', { group: 'a' }],
      ['plain', undefined],
      ['both', { headers: { h: 'v' }, group: 'a' }],
    ]);
  });

  it('counts grouped messages toward maxsize: a sender waits for room', async () => {
    const queue = new MemoryQueue<string>({ maxsize: 2 });
    await queue.send('a1', { group: 'a' });
    await queue.send('b1', { group: 'b' });
    const waiting = queue.send('a2', { group: 'a' });
    await flush();
    expect(await stateOf(waiting)).toBe('pending');
    expect(queue.size).toBe(2);
    expect(await drainNow(queue)).toEqual(['a1@a', 'b1@b', 'a2@a']);
    expect(await stateOf(waiting)).toBe('fulfilled');
  });

  it('hands a waiting sender over on a rendezvous queue, one of its group at a time', async () => {
    const queue = new MemoryQueue<string>({ maxsize: 0 });
    const iterator = queue[Symbol.asyncIterator]() as FlowIterator<string>;
    iterator.flow({ groupConcurrency: 1 });
    const first = queue.send('a1', { group: 'a' });
    const second = queue.send('a2', { group: 'a' });
    const a1 = (await iterator.next()).value as Delivery<string>;
    expect(await stateOf(first)).toBe('fulfilled');
    const next = iterator.next();
    await flush();
    expect(await stateOf(next)).toBe('pending');
    expect(await stateOf(second)).toBe('pending');
    await a1.ack();
    expect(((await next).value as Delivery<string>).message).toBe('a2');
    expect(await stateOf(second)).toBe('fulfilled');
    await iterator.return?.();
  });

  it('shows grouped messages in stats, purges them, and holds them while paused', async () => {
    const queue = new MemoryQueue<string>();
    await queue.send('a1', { group: 'a' });
    await queue.send('a2', { group: 'a' });
    await queue.send('b1', { group: 'b', delay: 60_000 });
    const out = queue[takeNow]()!;
    expect(await queue.stats()).toMatchObject({ ready: 1, delayed: 1, inFlight: 1 });
    await queue.pause();
    expect(queue[takeNow]()).toBeUndefined();
    await queue.resume();
    expect(await queue.purge()).toBe(2);
    expect(await queue.stats()).toMatchObject({ ready: 0, delayed: 0, inFlight: 1 });
    await out.ack();
    await queue.send('b2', { group: 'b' });
    expect(await drainNow(queue)).toEqual(['b2@b']);
  });

  it('keeps deduplicating keys across groups', async () => {
    const queue = new MemoryQueue<string>();
    await queue.send('first', { group: 'a', key: 'k' });
    await queue.send('duplicate', { group: 'b', key: 'k' });
    expect(await drainNow(queue)).toEqual(['first@a']);
    await queue.send('again', { group: 'b', key: 'k' });
    expect(await drainNow(queue)).toEqual(['again@b']);
  });

  it('ends a closed queue’s iteration once its grouped messages are all handed out', async () => {
    const queue = new MemoryQueue<string>();
    const iterator = queue[Symbol.asyncIterator]() as FlowIterator<string>;
    iterator.flow({ groupConcurrency: 1 });
    await queue.send('a1', { group: 'a' });
    await queue.send('a2', { group: 'a' });
    await queue.close();
    const a1 = (await iterator.next()).value as Delivery<string>;
    const held = iterator.next(); // a is at its cap: waits though a2 is ready
    await sleep(5);
    expect(await stateOf(held)).toBe('pending');
    await a1.ack();
    const a2 = (await held).value as Delivery<string>;
    const end = iterator.next();
    await a2.ack();
    expect(await end).toEqual({ done: true, value: undefined });
  });
});
