/**
 * sluice/otel's spans on a MemoryQueue, in process: a PRODUCER span per send, a CONSUMER span per
 * processing under it (retries included), current while a Pump runs the handler, ended with the
 * outcome once the delivery settles.
 */
import { type Span, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { QueueClosedError } from '../../src/errors.js';
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import type { Delivery, Queue } from '../../src/queuing/types.js';
import { flush } from '../support/async.js';
import {
  idOf,
  operation,
  PaymentDeclinedError,
  parentOf,
  traced,
  traceOf,
  useOtelGlobals,
} from './otel-fixture.js';

useOtelGlobals();

/** Runs `body` in an active span of the test's own, ended after it: the root of the trace. */
function inRoot(tracer: ReturnType<typeof traced>['tracer'], body: () => Promise<void>): Promise<Span> {
  return tracer.startActiveSpan('root', async (root: Span) => {
    await body();
    root.end();
    return root;
  });
}

describe('sluice/otel spans: send and process', () => {
  it('sends in a PRODUCER span and processes in a CONSUMER span under it, with the conventions’ attributes', async () => {
    const t = traced();
    const queue = t.otel.instrument(new MemoryQueue<string>({ name: 'orders' }));
    const draining = new Pump(queue, async () => {}).draining();
    const root = await inRoot(t.tracer, () => queue.send('ord-1'));
    await t.ended(3);
    await draining.stop();

    const send = t.one('send orders');
    const process = t.one('process orders');
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(send.attributes).toEqual(operation('orders', 'send'));
    expect(parentOf(send)).toBe(root.spanContext().spanId);
    expect(process.kind).toBe(SpanKind.CONSUMER);
    expect(process.attributes).toEqual({
      ...operation('orders', 'process'),
      'sluice.message.attempt': 1,
      'sluice.message.outcome': 'ack',
    });
    expect(parentOf(process)).toBe(idOf(send));
    expect(traceOf(process)).toBe(traceOf(send));
    expect(process.status.code).toBe(SpanStatusCode.UNSET);
    expect(process.events).toEqual([]);
    expect(t.spans()).toHaveLength(3);
  });

  it('makes the process span current in the handler: its spans are children, its sends continue the trace', async () => {
    const t = traced();
    const queue = t.otel.instrument(new MemoryQueue<string>({ name: 'orders' }));
    const draining = new Pump(queue, async (message: string) => {
      await flush(); // the span must stay current across the handler's awaits
      t.tracer.startSpan(`handle ${message}`).end();
      if (message === 'order') await queue.send('invoice');
    }).draining();
    await queue.send('order');
    await t.ended(6);
    await draining.stop();

    // Found by parent, not by end order: the fast hand-off may process a message before its send span ends.
    const sendOrder = t.child(undefined, 'send orders');
    const processOrder = t.child(sendOrder, 'process orders');
    expect(processOrder.attributes['sluice.message.outcome']).toBe('ack');
    t.child(processOrder, 'handle order');
    const sendInvoice = t.child(processOrder, 'send orders');
    const processInvoice = t.child(sendInvoice, 'process orders');
    t.child(processInvoice, 'handle invoice');
    expect(t.spans()).toHaveLength(6);
    expect(new Set(t.spans().map(traceOf))).toEqual(new Set([traceOf(sendOrder)]));
  });

  it('shows each retry as another process span under the same send span', async () => {
    const t = traced();
    const queue = t.otel.instrument(
      new MemoryQueue<string>({ name: 'payments', maxAttempts: 3, backoff: () => 0 }),
    );
    const draining = new Pump(
      queue,
      async (_message: string, { attempt }) => {
        if (attempt === 1) throw new PaymentDeclinedError('card declined');
      },
      { failSilently: true },
    ).draining();
    await queue.send('pay-1');
    await t.ended(3);
    await draining.stop();

    const send = t.one('send payments');
    const processes = byAttempt(t.named('process payments'));
    expect(processes.map((span) => span.attributes['sluice.message.attempt'])).toEqual([1, 2]);
    expect(processes.map((span) => span.attributes['sluice.message.outcome'])).toEqual(['nack', 'ack']);
    expect(processes.map(parentOf)).toEqual([idOf(send), idOf(send)]);
    expect(new Set(processes.map(idOf)).size).toBe(2);
  });

  it('records a failure: exception event, status ERROR and error.type; the last attempt is a dead letter', async () => {
    const t = traced();
    const dead = new MemoryQueue<string>({ name: 'payments.dead' });
    const queue = t.otel.instrument(
      new MemoryQueue<string>({ name: 'payments', maxAttempts: 2, backoff: () => 0, deadLetter: dead }),
    );
    const draining = new Pump(
      queue,
      async () => {
        throw new PaymentDeclinedError('card declined');
      },
      { failSilently: true },
    ).draining();
    await queue.send('pay-1');
    await t.ended(3);
    await draining.stop();

    const processes = byAttempt(t.named('process payments'));
    expect(processes.map((span) => span.attributes['sluice.message.outcome'])).toEqual([
      'nack',
      'dead_letter',
    ]);
    for (const span of processes) {
      expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'card declined' });
      expect(span.attributes['error.type']).toBe('PaymentDeclinedError');
      expect(span.events.map((event) => event.name)).toEqual(['exception']);
      expect(span.events[0]?.attributes).toMatchObject({
        'exception.type': 'PaymentDeclinedError',
        'exception.message': 'card declined',
      });
    }
    expect(await dead.stats()).toMatchObject({ ready: 1 });
  });

  it('records a failed send on the send span and still rejects the sender', async () => {
    const t = traced();
    const queue = t.otel.instrument(new MemoryQueue<string>({ name: 'orders' }));
    await queue.close();
    await expect(queue.send('late')).rejects.toBeInstanceOf(QueueClosedError);

    const send = t.one('send orders');
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(send.status.code).toBe(SpanStatusCode.ERROR);
    expect(send.attributes).toEqual({ ...operation('orders', 'send'), 'error.type': 'QueueClosedError' });
    expect(send.events.map((event) => event.name)).toEqual(['exception']);
  });
});

describe('sluice/otel spans: deliveries taken by hand', () => {
  it('traces deliveries of a for-await loop (no Pump): the span ends on ack, and within makes it current', async () => {
    const t = traced();
    const queue = t.otel.instrument(new MemoryQueue<string>({ name: 'orders' }));
    await queue.send('ord-1');
    for await (const delivery of queue) {
      expect(delivery.message).toBe('ord-1');
      delivery.within?.(() => t.tracer.startSpan('inside').end());
      await flush();
      expect(t.named('process orders')).toEqual([]);
      await delivery.ack();
      break;
    }
    await t.ended(3);

    const send = t.one('send orders');
    const process = t.one('process orders');
    expect(process.kind).toBe(SpanKind.CONSUMER);
    expect(process.attributes['sluice.message.outcome']).toBe('ack');
    expect(parentOf(process)).toBe(idOf(send));
    expect(parentOf(t.one('inside'))).toBe(idOf(process));
    await queue.close();
  });

  it('keeps the sender’s headers next to traceparent, without changing the object passed to send', async () => {
    const t = traced();
    const queue = t.otel.instrument(new MemoryQueue<string>({ name: 'orders' }));
    const headers = { 'x-correlation-id': 'corr-7' };
    await queue.send('ord-1', { headers, priority: 1 });
    const send = t.one('send orders');
    const iterator = queue[Symbol.asyncIterator]();
    const { value: delivery } = (await iterator.next()) as IteratorYieldResult<Delivery<string>>;

    expect(delivery.headers).toEqual({
      'x-correlation-id': 'corr-7',
      traceparent: `00-${traceOf(send)}-${idOf(send)}-01`,
    });
    expect(headers).toEqual({ 'x-correlation-id': 'corr-7' });
    await delivery.ack();
    await iterator.return?.();
    await queue.close();
  });

  it('dead-letters at once on nack({ requeue: false }), whatever attempts are left', async () => {
    const t = traced();
    const queue = t.otel.instrument(new MemoryQueue<string>({ name: 'orders', maxAttempts: 5 }));
    await queue.send('poison');
    const iterator = queue[Symbol.asyncIterator]();
    const { value: delivery } = (await iterator.next()) as IteratorYieldResult<Delivery<string>>;
    await delivery.nack({ requeue: false, error: new PaymentDeclinedError('unpayable') });
    await t.ended(2);

    const process = t.one('process orders');
    expect(process.attributes).toMatchObject({
      'sluice.message.attempt': 1,
      'sluice.message.outcome': 'dead_letter',
      'error.type': 'PaymentDeclinedError',
    });
    expect(process.status.code).toBe(SpanStatusCode.ERROR);
    await iterator.return?.();
    await queue.close();
  });

  it('sets messaging.message.id from a broker delivery’s id, and the system and consumer group given', async () => {
    const t = traced();
    const queue = t.otel.instrument(withIds(new MemoryQueue<string>({ name: 'orders' })), {
      system: 'kafka',
      consumerGroup: 'billing',
    });
    await queue.send('ord-1');
    for await (const delivery of queue) {
      await delivery.ack();
      break;
    }
    await t.ended(2);

    expect(t.one('send orders').attributes).toEqual(operation('orders', 'send', 'kafka'));
    expect(t.one('process orders').attributes).toEqual({
      ...operation('orders', 'process', 'kafka'),
      'messaging.consumer.group.name': 'billing',
      'messaging.message.id': 'msg-1',
      'sluice.message.attempt': 1,
      'sluice.message.outcome': 'ack',
    });
    await queue.close();
  });
});

/** Process spans of one message, first attempt first (whatever order they ended in). */
function byAttempt(spans: ReadableSpan[]): ReadableSpan[] {
  const attempt = (span: ReadableSpan) => Number(span.attributes['sluice.message.attempt']);
  return [...spans].sort((a, b) => attempt(a) - attempt(b));
}

/** A queue written by hand over a MemoryQueue whose deliveries carry an id, as a broker's do. */
function withIds(inner: MemoryQueue<string>): Queue<string> & { readonly name: string } {
  let sequence = 0;
  return {
    name: inner.name,
    send: (message, options) => inner.send(message, options),
    close: () => inner.close(),
    async *[Symbol.asyncIterator]() {
      for await (const delivery of inner) {
        yield {
          id: `msg-${++sequence}`,
          message: delivery.message,
          attempt: delivery.attempt,
          headers: delivery.headers,
          ack: () => delivery.ack(),
          nack: (options) => delivery.nack(options),
          [Symbol.asyncDispose]: () => delivery[Symbol.asyncDispose](),
        } as Delivery<string>;
      }
    },
  };
}
