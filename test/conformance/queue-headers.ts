/**
 * The queue conformance suite's `headers` cases (SendOptions.headers → delivery.headers), run by
 * `queueConformanceSuite` on the queues it opens. Kept apart so that queue.ts stays one concept.
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import type { Delivery, Queue, SendOptions } from '../../src/queuing/types.js';
import { within } from '../support/async.js';
import { expectNothing } from '../support/deliveries.js';

interface Msg {
  n: number;
}

const ARRIVAL_MS = 3_000;
const QUIET_MS = 150;

/** What a tracer puts there, and a value JSON must escape, so no queue can pass by luck. */
const TRACED = {
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  tracestate: 'vendor=a,other=b',
  'x-correlation': 'é ✓ "quoted" \\ back',
} as const;

export function headerCases(open: () => Promise<Queue<Msg>>): void {
  describe('headers', () => {
    it('hands the headers sent to the consumer as delivery.headers; none (or {}) arrive as {}', async () => {
      const queue = await open();
      const sent: Record<string, string> = { ...TRACED };
      await queue.send({ n: 1 }, { headers: sent });
      sent.traceparent = 'changed after the send';
      await queue.send({ n: 2 });
      await queue.send({ n: 3 }, { headers: {} });
      const iterator = queue[Symbol.asyncIterator]();
      const deliveries = [await take(iterator), await take(iterator), await take(iterator)];
      expect(deliveries.map((d) => d.message.n)).toEqual([1, 2, 3]);
      const [traced, plain, empty] = deliveries;
      expect(traced!.headers).toEqual(TRACED);
      expect(plain!.headers ?? {}).toEqual({});
      expect(empty!.headers ?? {}).toEqual({});
      await Promise.all(deliveries.map((d) => d.ack()));
    });

    it('keeps the headers on every redelivery after a nack', async () => {
      const queue = await open();
      const iterator = queue[Symbol.asyncIterator]();
      await queue.send({ n: 1 }, { headers: TRACED });
      await (await take(iterator)).nack({ error: new Error('boom') });
      const second = await take(iterator);
      expect([second.attempt, second.headers]).toEqual([2, TRACED]);
      await second.nack({ requeue: true });
      const third = await take(iterator);
      expect([third.attempt, third.headers]).toEqual([3, TRACED]);
      await third.ack();
    });

    it.each([
      ['not an object', 'traceparent=00-a' as unknown as SendOptions['headers']],
      ['an array', [['traceparent', '00-a']] as unknown as SendOptions['headers']],
      ['null', null as unknown as SendOptions['headers']],
      ['an empty name', { '': 'x' }],
      ['a name with a control character', { 'x-a\nb': 'x' }],
      ['a name with a lone surrogate', { 'x-\uD800': 'x' }],
      ['a number value', { 'x-count': 1 as unknown as string }],
      ['a null value', { 'x-none': null as unknown as string }],
      ['a value with a lone surrogate', { 'x-a': 'ok \uDC00' }],
    ])('refuses headers with %s with InvalidOptionError and accepts nothing', async (_, headers) => {
      const queue = await open();
      const sent = queue.send({ n: 1 }, { headers });
      await expect(sent).rejects.toBeInstanceOf(InvalidOptionError);
      await expect(sent).rejects.toThrow('invalid headers');
      await queue.send({ n: 2 });
      const iterator = queue[Symbol.asyncIterator]();
      const delivery = await take(iterator);
      expect(delivery.message).toEqual({ n: 2 });
      await delivery.ack();
      await iterator.return?.();
      await expectNothing(queue, QUIET_MS);
    });
  });
}

async function take(iterator: AsyncIterator<Delivery<Msg>>): Promise<Delivery<Msg>> {
  const result = await within(iterator.next(), ARRIVAL_MS);
  if (result.done) throw new Error('the queue ended its iteration while a message was expected');
  return result.value;
}
