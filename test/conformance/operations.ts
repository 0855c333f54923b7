/**
 * What every queue's operator face (`OperableQueue`, SPEC § 5) must prove, run unchanged against
 * MemoryQueue and each broker adapter:
 *
 *   const up = await brokerAvailable(harness.service);
 *   describe.runIf(up)('redis', () => operationsSuite(redisHarness));
 *
 * It takes the durable suite's harness (`OperationsHarness` is the part of `DurableHarness` it uses).
 * Each test uses its own queue name; everything opened is closed and purged after it. Delays are
 * short and real (a broker has no fake clock); no case asserts on timing beyond the contract's
 * "about one second" for a pause to take hold.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidOptionError, QueueClosedError } from '../../src/errors.js';
import type { OperableQueue } from '../../src/queuing/operations.js';
import type { Delivery, Queue } from '../../src/queuing/types.js';
import { sleep } from '../support/async.js';
import { expectNothing, receive } from '../support/deliveries.js';
import type { DurableQueueOptions } from './durable.js';
import { deadLetterHeaderCases } from './operations-headers.js';
import { pauseCases } from './operations-pause.js';
import { redriveCrashCases } from './operations-redrive-crash.js';
import {
  type Numbered,
  type OperationsContext,
  type OperationsHarness,
  operable,
  statsBecome,
} from './operations-support.js';

export type { OperationsHarness } from './operations-support.js';

const once = { maxAttempts: 1 } as const;

export function operationsSuite(harness: OperationsHarness): void {
  describe(`operations conformance: ${harness.name}`, () => {
    const opened: Queue<unknown>[] = [];
    const names: string[] = [];

    const context: OperationsContext = {
      queueName(label) {
        const name = `sluice-ops-${label}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
        names.push(name);
        return name;
      },
      open<T>(name: string, options: DurableQueueOptions = {}): OperableQueue<T> {
        const queue = harness.open<T>(name, { closeTimeout: 1_000, ...options });
        opened.push(queue as Queue<unknown>);
        return operable(queue);
      },
    };
    const { queueName, open } = context;

    afterEach(async () => {
      await Promise.allSettled(opened.splice(0).map((queue) => queue.close()));
      await Promise.all(names.splice(0).map((name) => harness.purge(name)));
    }, 60_000);

    /** Sends {n: 1..count} and rejects each in turn: `count` dead letters, oldest n first. */
    async function deadLetters(queue: OperableQueue<Numbered>, count: number): Promise<void> {
      for (let n = 1; n <= count; n++) await queue.send({ n });
      for (const delivery of byNumber(await receive(queue, count))) {
        await delivery.nack({ requeue: false, error: new Error(`letter ${delivery.message.n}`) });
      }
      await statsBecome(queue, { dead: count, inFlight: 0 });
    }

    it('stats counts ready, delayed, in-flight and dead messages exactly', async () => {
      const name = queueName('stats');
      const queue = open<Numbered>(name, once);
      expect(await queue.stats()).toEqual({ ready: 0, delayed: 0, inFlight: 0, dead: 0, paused: false });
      expect(await queue.deadLetters()).toEqual([]);
      expect(await queue.redrive()).toBe(0);
      expect(await queue.purge()).toBe(0);

      await queue.send({ n: 1 });
      await queue.send({ n: 2 });
      const [kept, rejected] = byNumber(await receive(open<Numbered>(name, once), 2));
      for (let n = 3; n <= 5; n++) await queue.send({ n });
      await queue.send({ n: 6 }, { delay: 60_000 });
      await queue.send({ n: 7 }, { delay: 60_000 });
      await statsBecome(queue, { ready: 3, delayed: 2, inFlight: 2, dead: 0, paused: false });

      await rejected!.nack({ requeue: false });
      await statsBecome(queue, { ready: 3, delayed: 2, inFlight: 1, dead: 1 });
      await kept!.ack();
      await statsBecome(queue, { ready: 3, delayed: 2, inFlight: 0, dead: 1, paused: false });
    });

    it('deadLetters lists the oldest first with id, message, reason, attempt and deadAt, and leaves them', async () => {
      const name = queueName('letters');
      const queue = open<Numbered & { order?: unknown }>(name, {
        maxAttempts: 2,
        backoff: { type: 'fixed', delay: 50 },
      });
      const order = { items: ['a', 'é ✓'], total: 12.5, note: null, nested: { deep: [1, { x: true }] } };
      const start = Date.now();
      await queue.send({ n: 1, order });
      await queue.send({ n: 2 });
      await queue.send({ n: 3 });
      const [d1, d2, d3] = byNumber(await receive(queue, 3));

      await d1!.nack({ requeue: false, error: new Error('hopeless') });
      await sleep(20);
      await d2!.nack({ error: new TypeError('broken') }); // attempts left: retried
      const [again] = await receive(queue, 1);
      expect([again!.message, again!.attempt]).toEqual([{ n: 2 }, 2]);
      await again!.nack({ error: new TypeError('still broken') }); // the last attempt
      await sleep(20);
      await d3!.nack({ requeue: false });
      await statsBecome(queue, { dead: 3, inFlight: 0 });
      const end = Date.now();

      const letters = await queue.deadLetters();
      expect(letters.map((l) => [l.message, l.reason, l.attempt])).toEqual([
        [{ n: 1, order }, 'rejected: hopeless', 1],
        [{ n: 2 }, 'failed 2 of 2 attempts: TypeError: still broken', 2],
        [{ n: 3 }, 'rejected', 1],
      ]);
      for (const letter of letters) {
        expect(typeof letter.id === 'string' && letter.id.length > 0).toBe(true);
        // A broker may keep the time in whole seconds.
        expect(letter.deadAt).toBeGreaterThanOrEqual(start - 1_000);
        expect(letter.deadAt).toBeLessThanOrEqual(end + 1_000);
      }
      expect(new Set(letters.map((l) => l.id)).size).toBe(3);

      expect(await queue.deadLetters()).toEqual(letters); // reading removes nothing
      expect((await queue.stats()).dead).toBe(3);
    });

    it('deadLetters pages with limit and after', async () => {
      const name = queueName('pages');
      const queue = open<Numbered>(name, once);
      await deadLetters(queue, 5);

      const first = await queue.deadLetters({ limit: 2 });
      expect(first.map((l) => l.message.n)).toEqual([1, 2]);
      const second = await queue.deadLetters({ limit: 2, after: first[1]!.id });
      expect(second.map((l) => l.message.n)).toEqual([3, 4]);
      const last = await queue.deadLetters({ after: second[1]!.id });
      expect(last.map((l) => l.message.n)).toEqual([5]);
      expect(await queue.deadLetters({ after: last[0]!.id })).toEqual([]);
      expect((await queue.deadLetters({ limit: 1_000 })).map((l) => l.id)).toEqual(
        [...first, ...second, ...last].map((l) => l.id),
      );
    });

    it('redrive moves every dead letter back as a new message with attempt 1', async () => {
      const name = queueName('redrive');
      const queue = open<Numbered>(name, once);
      await deadLetters(queue, 3);

      expect(await queue.redrive()).toBe(3);
      await statsBecome(queue, { dead: 0, ready: 3 });
      expect(await queue.deadLetters()).toEqual([]);
      const deliveries = byNumber(await receive(queue, 3));
      expect(deliveries.map((d) => [d.message, d.attempt])).toEqual([
        [{ n: 1 }, 1],
        [{ n: 2 }, 1],
        [{ n: 3 }, 1],
      ]);
      await Promise.all(deliveries.map((d) => d.ack()));
      expect(await queue.redrive()).toBe(0);
      await statsBecome(queue, { ready: 0, inFlight: 0, dead: 0 });
    });

    it('redrive({ limit }) moves the oldest first', async () => {
      const name = queueName('redrive-limit');
      const queue = open<Numbered>(name, once);
      await deadLetters(queue, 3);

      expect(await queue.redrive({ limit: 2 })).toBe(2);
      expect((await queue.deadLetters()).map((l) => l.message.n)).toEqual([3]);
      const deliveries = byNumber(await receive(queue, 2));
      expect(deliveries.map((d) => [d.message.n, d.attempt])).toEqual([
        [1, 1],
        [2, 1],
      ]);
      await Promise.all(deliveries.map((d) => d.ack()));
      await expectNothing(queue, 500);
      await statsBecome(queue, { dead: 1, ready: 0 });
    });

    it('redrive({ ids }) moves only those', async () => {
      const name = queueName('redrive-ids');
      const queue = open<Numbered>(name, once);
      await deadLetters(queue, 3);
      const letters = await queue.deadLetters();

      expect(await queue.redrive({ ids: [letters[1]!.id] })).toBe(1);
      expect((await queue.deadLetters()).map((l) => l.id)).toEqual([letters[0]!.id, letters[2]!.id]);
      const [delivery] = await receive(queue, 1);
      expect([delivery!.message, delivery!.attempt]).toEqual([{ n: 2 }, 1]);
      await delivery!.ack();
      expect(await queue.redrive({ ids: [letters[1]!.id] })).toBe(0); // it left the dead queue
      await expectNothing(queue, 500);
    });

    it('discardDeadLetters deletes the letters named and counts them', async () => {
      const name = queueName('discard');
      const queue = open<Numbered>(name, once);
      await deadLetters(queue, 3);
      const letters = await queue.deadLetters();

      expect(await queue.discardDeadLetters([letters[0]!.id, letters[2]!.id])).toBe(2);
      expect(await queue.deadLetters()).toEqual([letters[1]]);
      await statsBecome(queue, { dead: 1 });
      expect(await queue.discardDeadLetters([letters[0]!.id])).toBe(0);
      expect(await queue.discardDeadLetters([])).toBe(0);
      await expectNothing(queue, 300); // discarded, not redriven
    });

    it('purge deletes ready and delayed messages, not one in flight', async () => {
      const name = queueName('purge');
      const queue = open<Numbered>(name, once);
      await queue.send({ n: 1 });
      const [inFlight] = await receive(open<Numbered>(name, once), 1);
      await queue.send({ n: 2 });
      await queue.send({ n: 3 });
      await queue.send({ n: 4 }, { delay: 1_000 });
      await statsBecome(queue, { ready: 2, delayed: 1, inFlight: 1 });

      expect(await queue.purge()).toBe(3);
      await statsBecome(queue, { ready: 0, delayed: 0, inFlight: 1 });
      await inFlight!.ack();
      await statsBecome(queue, { inFlight: 0 });
      await expectNothing(queue, 2_000); // past the delay: the delayed one is gone too
    });

    it('rejects bad options with InvalidOptionError', async () => {
      const queue = open<Numbered>(queueName('input'));
      const refused = [
        () => queue.deadLetters({ limit: 0 }),
        () => queue.deadLetters({ limit: 1_001 }),
        () => queue.deadLetters({ limit: 1.5 }),
        () => queue.deadLetters({ after: '' }),
        () => queue.redrive({ limit: 0 }),
        () => queue.redrive({ limit: 1.5 }),
        () => queue.redrive({ ids: [1] as unknown as string[] }),
        () => queue.discardDeadLetters([1] as unknown as string[]),
        () => queue.discardDeadLetters('an id' as unknown as string[]),
      ];
      for (const call of refused) await expect(call()).rejects.toBeInstanceOf(InvalidOptionError);
    });

    it('rejects every operator method after close with QueueClosedError', async () => {
      const queue = open<Numbered>(queueName('closed'));
      await queue.close();
      const calls = [
        () => queue.stats(),
        () => queue.deadLetters(),
        () => queue.redrive(),
        () => queue.discardDeadLetters(['an-id']),
        () => queue.purge(),
        () => queue.pause(),
        () => queue.resume(),
      ];
      for (const call of calls) await expect(call()).rejects.toBeInstanceOf(QueueClosedError);
    });

    pauseCases(harness, context);
    redriveCrashCases(harness, context);
    deadLetterHeaderCases(context);
  });
}

function byNumber<T extends Numbered>(deliveries: Delivery<T>[]): Delivery<T>[] {
  return [...deliveries].sort((a, b) => a.message.n - b.message.n);
}
