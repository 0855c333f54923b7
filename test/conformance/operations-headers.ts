/**
 * The operations suite's `headers` cases: what a producer sent in `SendOptions.headers` (a trace
 * context) stays with the message once it is dead-lettered, and once an operator redrives it.
 */
import { expect, it } from 'vitest';
import type { Delivery } from '../../src/queuing/types.js';
import { receive } from '../support/deliveries.js';
import { type Numbered, type OperationsContext, statsBecome } from './operations-support.js';

const TRACED = {
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  tracestate: 'vendor=a',
} as const;
const OTHER = { 'x-correlation': 'order 42 ✓' } as const;

export function deadLetterHeaderCases({ queueName, open }: OperationsContext): void {
  it('a dead-lettered copy keeps its headers, rejected or out of attempts', async () => {
    const name = queueName('dead-headers');
    const queue = open<Numbered>(name, { maxAttempts: 2, backoff: { type: 'fixed', delay: 50 } });
    await queue.send({ n: 1 }, { headers: TRACED });
    await queue.send({ n: 2 }, { headers: OTHER });
    await queue.send({ n: 3 });
    const [d1, d2, d3] = byNumber(await receive(queue, 3));
    await d1!.nack({ requeue: false });
    await d2!.nack({ error: new Error('broken') });
    const [again] = await receive(queue, 1);
    expect([again!.message, again!.headers]).toEqual([{ n: 2 }, OTHER]);
    await again!.nack({ error: new Error('still broken') }); // the last attempt
    await d3!.nack({ requeue: false });
    await statsBecome(queue, { dead: 3, inFlight: 0 });

    // The dead-letter queue is itself a queue: its deliveries are the dead-lettered copies.
    const copies = byNumber(await receive(open<Numbered>(`${name}.dead`), 3));
    expect(copies.map((d) => [d.message.n, d.headers ?? {}])).toEqual([
      [1, TRACED],
      [2, OTHER],
      [3, {}],
    ]);
    await Promise.all(copies.map((d) => d.ack()));
  });

  it('redrive moves a dead letter back with its headers', async () => {
    const name = queueName('redrive-headers');
    const queue = open<Numbered>(name, { maxAttempts: 1 });
    await queue.send({ n: 1 }, { headers: TRACED });
    await queue.send({ n: 2 });
    const [d1, d2] = byNumber(await receive(queue, 2));
    await d1!.nack({ error: new Error('out of attempts') });
    await d2!.nack({ requeue: false });
    await statsBecome(queue, { dead: 2, inFlight: 0 });

    expect(await queue.redrive()).toBe(2);
    const redriven = byNumber(await receive(queue, 2));
    expect(redriven.map((d) => [d.message.n, d.attempt, d.headers ?? {}])).toEqual([
      [1, 1, TRACED],
      [2, 1, {}],
    ]);
    await Promise.all(redriven.map((d) => d.ack()));
  });
}

function byNumber<T extends Numbered>(deliveries: Delivery<T>[]): Delivery<T>[] {
  return [...deliveries].sort((a, b) => a.message.n - b.message.n);
}
