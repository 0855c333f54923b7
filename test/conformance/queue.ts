/**
 * The basic queue conformance suite: the behaviour every `Queue<T>` implementation shares, whatever
 * stores the messages. MemoryQueue runs it from `memory.test.ts`; each broker adapter runs it, unchanged,
 * from its own `test/transports/<broker>.conformance.test.ts`:
 *
 * ```ts
 * queueConformanceSuite({
 *   name: 'redis',
 *   create: <T>() => new RedisQueue<T>(uniqueName(), { url, backoff: { type: 'fixed', delay: 20 } }),
 *   teardown: () => purgeEverything(),
 * });
 * ```
 *
 * Harness:
 * - `name` labels the suite.
 * - `create()` returns a NEW, EMPTY queue that no other test uses. It must honour `priority`, allow at
 *   least 3 attempts (`maxAttempts ≥ 3`) and redeliver a nacked message within ~1 s (a short backoff).
 *   The suite closes every queue it created after each test.
 * - `teardown()` (optional) runs after each test, once those queues are closed (purge broker state).
 * - `bounded(maxsize)` (optional) returns a new empty queue whose `send` waits while `maxsize` messages
 *   are held; the backpressure tests run only when it is given.
 *
 * The suite uses real, short delays (tens to hundreds of ms) because brokers cannot use fake timers.
 * Messages are plain JSON objects so any transport can carry them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DeliverySettledError, InvalidOptionError, QueueClosedError } from '../../src/errors.js';
import type { Delivery, NackOptions, Queue, SendOptions } from '../../src/queuing/types.js';
import { within } from '../support/async.js';
import { headerCases } from './queue-headers.js';

export interface QueueHarness {
  name: string;
  create<T>(): Queue<T> | Promise<Queue<T>>;
  teardown?(): Promise<void>;
  bounded?<T>(maxsize: number): Queue<T> | Promise<Queue<T>>;
}

interface Msg {
  n: number;
}

/** How long the suite waits for a delivery that must arrive; generous for a loaded broker. */
const ARRIVAL_MS = 3_000;
/** How long the suite watches for a delivery that must NOT arrive. */
const QUIET_MS = 150;

export function queueConformanceSuite(harness: QueueHarness): void {
  describe(`Queue conformance: ${harness.name}`, () => {
    const opened: Queue<unknown>[] = [];

    async function open<T = Msg>(): Promise<Queue<T>> {
      const queue = await harness.create<T>();
      opened.push(queue as Queue<unknown>);
      return queue;
    }

    async function openBounded<T = Msg>(maxsize: number): Promise<Queue<T>> {
      const queue = await harness.bounded!<T>(maxsize);
      opened.push(queue as Queue<unknown>);
      return queue;
    }

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((queue) => queue.close()));
      await harness.teardown?.();
    });

    describe('ordering', () => {
      it('delivers messages of equal priority in the order they were sent', async () => {
        const queue = await open();
        for (let n = 1; n <= 10; n++) await queue.send({ n });
        expect(await receiveAll(queue, 10)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      });

      it('delivers higher priority first, FIFO among equal priorities', async () => {
        const queue = await open();
        await queue.send({ n: 1 }, { priority: 1 });
        await queue.send({ n: 2 }, { priority: 5 });
        await queue.send({ n: 3 }, { priority: -2 });
        await queue.send({ n: 4 }, { priority: 1 });
        await queue.send({ n: 5 }, { priority: 5 });
        await queue.send({ n: 6 });
        expect(await receiveAll(queue, 6)).toEqual([2, 5, 1, 4, 6, 3]);
      });
    });

    describe('delay', () => {
      it('delivers a shorter delay sent later before a longer delay sent earlier', async () => {
        const queue = await open();
        await queue.send({ n: 1 }, { delay: 300 });
        await queue.send({ n: 2 }, { delay: 50 });
        expect(await receiveAll(queue, 2)).toEqual([2, 1]);
      });

      it('does not hand out a delayed message before its time, and waiting is not an attempt', async () => {
        const queue = await open();
        const iterator = queue[Symbol.asyncIterator]();
        const sentAt = Date.now();
        await queue.send({ n: 1 }, { delay: 250 });
        const pending = iterator.next();
        expect(await settlesWithin(pending, 100)).toBe(false);
        const delivery = await within(pending, ARRIVAL_MS);
        expect(Date.now() - sentAt).toBeGreaterThanOrEqual(240);
        expect(delivery.value).toMatchObject({ message: { n: 1 }, attempt: 1 });
        await delivery.value.ack();
      });

      it('does not hold back ready messages behind a delayed one', async () => {
        const queue = await open();
        await queue.send({ n: 1 }, { delay: 300 });
        await queue.send({ n: 2 });
        const iterator = queue[Symbol.asyncIterator]();
        const first = await take(iterator);
        expect(first.message).toEqual({ n: 2 });
        await first.ack();
        await (await take(iterator)).ack();
      });
    });

    describe('settlement', () => {
      it('ack removes the message for good', async () => {
        const queue = await open();
        const iterator = queue[Symbol.asyncIterator]();
        await queue.send({ n: 1 });
        await (await take(iterator)).ack();
        await queue.send({ n: 2 });
        const marker = await take(iterator);
        expect(marker).toMatchObject({ message: { n: 2 }, attempt: 1 });
        await marker.ack();
        expect(await settlesWithin(iterator.next(), QUIET_MS)).toBe(false);
      });

      it('nack redelivers the message with attempt + 1 while attempts remain', async () => {
        const queue = await open();
        const iterator = queue[Symbol.asyncIterator]();
        await queue.send({ n: 7 });
        const first = await take(iterator);
        expect(first).toMatchObject({ message: { n: 7 }, attempt: 1 });
        await first.nack({ error: new Error('boom') });
        const second = await take(iterator);
        expect(second).toMatchObject({ message: { n: 7 }, attempt: 2 });
        await second.nack();
        const third = await take(iterator);
        expect(third).toMatchObject({ message: { n: 7 }, attempt: 3 });
        await third.ack();
      });

      it('nack({ requeue: true }) puts the message back now', async () => {
        const queue = await open();
        const iterator = queue[Symbol.asyncIterator]();
        await queue.send({ n: 1 });
        await (await take(iterator)).nack({ requeue: true });
        const again = await take(iterator);
        expect(again).toMatchObject({ message: { n: 1 }, attempt: 2 });
        await again.ack();
      });

      it('tells its maxAttempts: a nack on that attempt does not redeliver', async () => {
        const queue = await open();
        const { maxAttempts } = queue as Queue<Msg> & { maxAttempts?: unknown };
        expect(maxAttempts).toBeTypeOf('number');
        const iterator = queue[Symbol.asyncIterator]();
        await queue.send({ n: 1 });
        for (let attempt = 1; attempt < (maxAttempts as number); attempt++)
          await (await take(iterator)).nack({ delay: 0 });
        const last = await take(iterator);
        expect(last.attempt).toBe(maxAttempts);
        await last.nack();
        await queue.send({ n: 2 });
        const marker = await take(iterator);
        expect(marker.message).toEqual({ n: 2 });
        await marker.ack();
      });

      it('nack({ requeue: false }) does not redeliver', async () => {
        const queue = await open();
        const iterator = queue[Symbol.asyncIterator]();
        await queue.send({ n: 1 });
        await (await take(iterator)).nack({ requeue: false });
        await queue.send({ n: 2 });
        const marker = await take(iterator);
        expect(marker).toMatchObject({ message: { n: 2 }, attempt: 1 });
        await marker.ack();
        expect(await settlesWithin(iterator.next(), QUIET_MS)).toBe(false);
      });

      it('rejects a second ack or nack with DeliverySettledError', async () => {
        const queue = await open();
        const iterator = queue[Symbol.asyncIterator]();
        await queue.send({ n: 1 });
        await queue.send({ n: 2 });
        const acked = await take(iterator);
        await acked.ack();
        await expect(acked.ack()).rejects.toBeInstanceOf(DeliverySettledError);
        await expect(acked.nack()).rejects.toBeInstanceOf(DeliverySettledError);
        const nacked = await take(iterator);
        await nacked.nack({ requeue: false });
        await expect(nacked.ack()).rejects.toBeInstanceOf(DeliverySettledError);
        await expect(nacked.nack()).rejects.toBeInstanceOf(DeliverySettledError);
      });

      it('rejects nack options that are not an object, leaving the delivery to settle', async () => {
        const queue = await open();
        const iterator = queue[Symbol.asyncIterator]();
        await queue.send({ n: 1 });
        const delivery = await take(iterator);
        const nacked = delivery.nack(null as unknown as NackOptions);
        await expect(nacked).rejects.toBeInstanceOf(InvalidOptionError);
        await expect(nacked).rejects.toThrow('nack options');
        await delivery.ack();
        expect(await settlesWithin(iterator.next(), QUIET_MS)).toBe(false);
      });

      it('disposing an unsettled delivery nacks it (redelivered), a settled one is left alone', async () => {
        const queue = await open();
        const iterator = queue[Symbol.asyncIterator]();
        await queue.send({ n: 1 });
        {
          await using delivery = await take(iterator);
          expect(delivery.attempt).toBe(1);
        }
        const again = await take(iterator);
        expect(again).toMatchObject({ message: { n: 1 }, attempt: 2 });
        await again.ack();
        await again[Symbol.asyncDispose]();
        expect(await settlesWithin(iterator.next(), QUIET_MS)).toBe(false);
      });
    });

    describe('close', () => {
      it('rejects send after close with QueueClosedError', async () => {
        const queue = await open();
        await queue.close();
        await expect(queue.send({ n: 1 })).rejects.toBeInstanceOf(QueueClosedError);
      });

      it('ends an iteration waiting on an empty queue', async () => {
        const queue = await open();
        const iterator = queue[Symbol.asyncIterator]();
        const pending = iterator.next();
        await queue.close();
        expect(await within(pending, ARRIVAL_MS)).toEqual({ value: undefined, done: true });
      });
    });

    describe('bad send options', () => {
      it.each([
        ['priority', { priority: Number.NaN }],
        ['priority', { priority: Number.POSITIVE_INFINITY }],
        ['delay', { delay: -1 }],
        ['delay', { delay: Number.NaN }],
        ['send options', null as unknown as SendOptions],
      ])('rejects %s %o with InvalidOptionError and accepts nothing', async (option, options) => {
        const queue = await open();
        const sent = queue.send({ n: 1 }, options);
        await expect(sent).rejects.toBeInstanceOf(InvalidOptionError);
        await expect(sent).rejects.toThrow(option);
        await queue.send({ n: 2 });
        const iterator = queue[Symbol.asyncIterator]();
        const delivery = await take(iterator);
        expect(delivery.message).toEqual({ n: 2 });
        await delivery.ack();
        expect(await settlesWithin(iterator.next(), QUIET_MS)).toBe(false);
      });
    });

    headerCases(open);

    describe('consumers', () => {
      it('allows several pending next() calls on one iterator, each getting its own message', async () => {
        const queue = await open();
        const iterator = queue[Symbol.asyncIterator]();
        const pending = [iterator.next(), iterator.next(), iterator.next()];
        for (let n = 1; n <= 3; n++) await queue.send({ n });
        const results = await within(Promise.all(pending), ARRIVAL_MS);
        const deliveries = results.map((result) => result.value as Delivery<Msg>);
        expect(deliveries.map((d) => d.message.n).sort()).toEqual([1, 2, 3]);
        await Promise.all(deliveries.map((d) => d.ack()));
      });

      it('resolves pending next() calls as done when the iterator is returned', async () => {
        const queue = await open();
        const iterator = queue[Symbol.asyncIterator]();
        const pending = [iterator.next(), iterator.next()];
        await iterator.return?.();
        expect(await within(Promise.all(pending), ARRIVAL_MS)).toEqual([
          { value: undefined, done: true },
          { value: undefined, done: true },
        ]);
      });

      it('delivers each message exactly once across 4 concurrent consumers', async () => {
        const queue = await open();
        const total = 40;
        const seen: number[] = [];
        let allSeen!: () => void;
        const complete = new Promise<void>((resolve) => {
          allSeen = resolve;
        });
        const consume = async () => {
          for await (const delivery of queue) {
            seen.push(delivery.message.n);
            await delivery.ack();
            if (seen.length === total) allSeen();
          }
        };
        const consumers = [consume(), consume(), consume(), consume()];
        for (let n = 0; n < total; n++) await queue.send({ n });
        await within(complete, ARRIVAL_MS * 2);
        await queue.close();
        await within(Promise.all(consumers), ARRIVAL_MS);
        expect(seen).toHaveLength(total);
        expect(new Set(seen).size).toBe(total);
      });
    });

    describe.runIf(harness.bounded !== undefined)('backpressure', () => {
      it('makes send wait while the queue is full and resumes once a message is taken', async () => {
        const queue = await openBounded(2);
        await within(queue.send({ n: 1 }), ARRIVAL_MS);
        await within(queue.send({ n: 2 }), ARRIVAL_MS);
        const third = queue.send({ n: 3 });
        expect(await settlesWithin(third, QUIET_MS)).toBe(false);
        const iterator = queue[Symbol.asyncIterator]();
        const first = await take(iterator);
        await first.ack();
        await within(third, ARRIVAL_MS);
        expect(first.message).toEqual({ n: 1 });
        for (const n of [2, 3]) {
          const delivery = await take(iterator);
          expect(delivery.message).toEqual({ n });
          await delivery.ack();
        }
      });

      it('rejects a sender still waiting for room when the queue closes', async () => {
        const queue = await openBounded(1);
        await queue.send({ n: 1 });
        const waiting = queue.send({ n: 2 });
        expect(await settlesWithin(waiting, QUIET_MS)).toBe(false);
        await queue.close();
        await expect(waiting).rejects.toBeInstanceOf(QueueClosedError);
      });
    });
  });
}

/** Receives `count` messages on a new iterator, acking each; returns their `n`s in delivery order. */
async function receiveAll(queue: Queue<Msg>, count: number): Promise<number[]> {
  const iterator = queue[Symbol.asyncIterator]();
  const received: number[] = [];
  while (received.length < count) {
    const delivery = await take(iterator);
    received.push(delivery.message.n);
    await delivery.ack();
  }
  return received;
}

async function take<T>(iterator: AsyncIterator<Delivery<T>>): Promise<Delivery<T>> {
  const result = await within(iterator.next(), ARRIVAL_MS);
  if (result.done) throw new Error('the queue ended its iteration while a message was expected');
  return result.value;
}

/** True when the promise settles (either way) within `ms`. */
function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const quiet = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = promise.then(
    () => true,
    () => true,
  );
  return Promise.race([settled, quiet]).finally(() => clearTimeout(timer));
}
