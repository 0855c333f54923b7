import { describe, expect, it } from 'vitest';
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import type { Producer } from '../../src/queuing/types.js';
import { sleep } from '../support/async.js';
import { receive } from '../support/deliveries.js';
import type { DurableQueueOptions } from './durable.js';
import { operationsSuite } from './operations.js';

/** In-process "handles": the same queue for the same name, `${name}.dead` its dead-letter queue. */
const queues = new Map<string, MemoryQueue<unknown>>();

function open<T>(name: string, options: DurableQueueOptions = {}): MemoryQueue<T> {
  let queue = queues.get(name);
  if (queue === undefined) {
    const { maxAttempts, backoff, deadLetter = `${name}.dead` } = options;
    const dead = name.endsWith('.dead') ? undefined : open(deadLetter);
    queue = new MemoryQueue<unknown>({ name, maxAttempts, backoff, deadLetter: dead });
    queues.set(name, queue);
  }
  return queue as MemoryQueue<T>;
}

operationsSuite({
  name: 'MemoryQueue',
  open,
  async purge(name) {
    for (const each of [name, `${name}.dead`]) {
      await queues.get(each)?.close();
      queues.delete(each);
    }
  },
});

describe('MemoryQueue operations', () => {
  it('has no dead letters to show without a deadLetter, or with one that is not a MemoryQueue', async () => {
    const sent: unknown[] = [];
    const producer: Producer<number> = { send: async (message) => void sent.push(message) };
    for (const queue of [new MemoryQueue<number>(), new MemoryQueue<number>({ deadLetter: producer })]) {
      await queue.send(1);
      const [delivery] = await receive(queue, 1);
      await delivery!.nack({ requeue: false });
      expect(await queue.stats()).toEqual({ ready: 0, delayed: 0, inFlight: 0, dead: 0, paused: false });
      expect(await queue.deadLetters()).toEqual([]);
      expect(await queue.redrive()).toBe(0);
      expect(await queue.discardDeadLetters(['0'])).toBe(0);
    }
    expect(sent).toEqual([1]);
  });

  it('records a failed backoff as the reason, and shows letters sent to the dead queue directly', async () => {
    const dead = new MemoryQueue<string>();
    const backoff = () => {
      throw new Error('no delay');
    };
    const queue = new MemoryQueue<string>({ deadLetter: dead, maxAttempts: 3, backoff });
    await queue.send('a');
    const [delivery] = await receive(queue, 1);
    await delivery!.nack();
    await dead.send('b', { priority: 2 });
    const letters = await queue.deadLetters();
    expect(letters.map((l) => [l.message, l.reason, l.attempt])).toEqual([
      ['a', 'backoff failed on attempt 1: no delay', 1],
      ['b', '', 1],
    ]);
    expect(await dead.deadLetters()).toEqual([]); // the dead queue has no dead-letter queue of its own
  });

  it('redrive keeps the priority and a dead queue shared by two queues shows both their letters', async () => {
    const dead = new MemoryQueue<string>();
    const first = new MemoryQueue<string>({ deadLetter: dead, order: 'priority' });
    const second = new MemoryQueue<string>({ deadLetter: dead });
    await first.send('low', { priority: 1 });
    await first.send('high', { priority: 9 });
    await second.send('other');
    for (const delivery of [...(await receive(first, 2)), ...(await receive(second, 1))])
      await delivery.nack();
    expect((await first.deadLetters()).map((l) => l.message)).toEqual(['high', 'low', 'other']);

    await first.send('middle', { priority: 5 });
    const ids = (await first.deadLetters()).filter((l) => l.message !== 'other').map((l) => l.id);
    expect(await first.redrive({ ids })).toBe(2);
    expect((await receive(first, 3)).map((d) => d.message)).toEqual(['high', 'middle', 'low']);
    expect((await second.stats()).dead).toBe(1);
  });

  it('purge makes room for senders waiting on a full queue', async () => {
    const queue = new MemoryQueue<number>({ maxsize: 1 });
    await queue.send(1);
    const waiting = queue.send(2);
    expect(await queue.purge()).toBe(1);
    await waiting;
    expect((await queue.stats()).ready).toBe(1);
  });

  it('close ends a pause: consumers drain what is held, then their iteration ends', async () => {
    const queue = new MemoryQueue<number>();
    await queue.pause();
    await queue.send(1);
    const iterator = queue[Symbol.asyncIterator]();
    const next = iterator.next();
    await sleep(20);
    await queue.close();
    expect((await next).value.message).toBe(1);
    expect((await iterator.next()).done).toBe(true);
  });

  it('a paused pump takes nothing, then drains on resume', async () => {
    const queue = new MemoryQueue<number>();
    const seen: number[] = [];
    const draining = queue.draining((n: number) => void seen.push(n), { concurrency: 2 });
    await queue.pause();
    for (let n = 0; n < 5; n++) await queue.send(n);
    await sleep(20);
    expect(seen).toEqual([]);
    expect((await queue.stats()).ready).toBe(5);
    await queue.resume();
    await draining.stop();
    expect(seen).toEqual([0, 1, 2, 3, 4]);
  });
});
