/**
 * SluiceInstrumentation itself: switching it off and on, its providers, what `instrument()` accepts,
 * and the instrumented queue standing for the queue in everything but tracing.
 */
import { trace } from '@opentelemetry/api';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, QueueClosedError } from '../../src/errors.js';
import { SluiceInstrumentation } from '../../src/otel/index.js';
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import type { Queue } from '../../src/queuing/types.js';
import { until, within } from '../support/async.js';
import { idOf, parentOf, traced, useOtelGlobals } from './otel-fixture.js';

useOtelGlobals();

/** Sends `messages` through a pump on `queue` and resolves once its handler saw them all. */
async function roundTrip(queue: Queue<string>, messages: string[]): Promise<string[]> {
  const handled: string[] = [];
  const draining = new Pump(queue, (message: string) => void handled.push(message)).draining();
  for (const message of messages) await queue.send(message);
  await within(
    until(() => handled.length === messages.length),
    5_000,
    () => `handled ${handled}`,
  );
  await draining.stop();
  return handled;
}

describe('SluiceInstrumentation: on and off', () => {
  it('traces nothing once disabled while the queue still works, and traces again once enabled', async () => {
    const t = traced();
    const queue = t.otel.instrument(new MemoryQueue<string>({ name: 'orders' }));
    t.otel.disable();
    expect(await roundTrip(queue, ['a', 'b'])).toEqual(['a', 'b']);
    expect(t.spans()).toEqual([]);

    t.otel.enable();
    expect(await roundTrip(queue, ['c'])).toEqual(['c']);
    await t.ended(2);
    expect(
      t
        .spans()
        .map((span) => span.name)
        .sort(),
    ).toEqual(['process orders', 'send orders']);
    await queue.close();
  });

  it('ends the span of a delivery handed out before disable() when it settles after', async () => {
    const t = traced();
    const queue = t.otel.instrument(new MemoryQueue<string>({ name: 'orders' }));
    await queue.send('a');
    const iterator = queue[Symbol.asyncIterator]();
    const delivery = (await iterator.next()).value!;
    t.otel.disable();
    await delivery.nack({ error: new Error('declined') });
    await t.ended(2);
    expect(t.one('process orders').attributes['sluice.message.outcome']).toBe('dead_letter');
    await queue.close();
  });

  it('starts disabled with enabled: false, until enable()', async () => {
    const t = traced({ enabled: false });
    const queue = t.otel.instrument(new MemoryQueue<string>({ name: 'orders' }));
    await roundTrip(queue, ['a']);
    expect(t.spans()).toEqual([]);
    t.otel.enable();
    await roundTrip(queue, ['b']);
    await t.ended(2);
    await queue.close();
  });

  it('leaves a queue that was not instrumented untraced', async () => {
    const t = traced();
    const plain = new MemoryQueue<string>({ name: 'plain' });
    const instrumented = t.otel.instrument(new MemoryQueue<string>({ name: 'instrumented' }));
    await roundTrip(plain, ['a']);
    await roundTrip(instrumented, ['b']);
    await t.ended(2);
    expect(
      t
        .spans()
        .map((span) => span.name)
        .sort(),
    ).toEqual(['process instrumented', 'send instrumented']);
    await plain.close();
    await instrumented.close();
  });

  it('uses the global tracer provider by default, and the one setTracerProvider gives', async () => {
    const global = traced({ enabled: false });
    const other = traced({ enabled: false });
    trace.setGlobalTracerProvider(global.tracerProvider);
    const otel = new SluiceInstrumentation();
    expect(otel.instrumentationName).toBe('sluice');
    const queue = otel.instrument(new MemoryQueue<string>({ name: 'orders' }));
    await roundTrip(queue, ['a']);
    await global.ended(2);

    otel.setTracerProvider(other.tracerProvider);
    expect(otel.getConfig().tracerProvider).toBe(other.tracerProvider);
    await roundTrip(queue, ['b']);
    await other.ended(2);
    expect(global.spans()).toHaveLength(2);
    await queue.close();
  });
});

describe('SluiceInstrumentation under registerInstrumentations', () => {
  it('takes the providers it is given and is enabled by it, as any OpenTelemetry instrumentation', async () => {
    const t = traced({ enabled: false });
    const otel = new SluiceInstrumentation({ enabled: false });
    const queue = otel.instrument(new MemoryQueue<string>({ name: 'registered' }));
    const deregister = registerInstrumentations({
      instrumentations: [otel],
      tracerProvider: t.tracerProvider,
    });
    expect(otel.getConfig()).toMatchObject({ enabled: true, tracerProvider: t.tracerProvider });
    await roundTrip(queue, ['a']);
    await t.ended(2);
    expect(
      t
        .spans()
        .map((span) => span.name)
        .sort(),
    ).toEqual(['process registered', 'send registered']);
    deregister();
    expect(otel.getConfig().enabled).toBe(false);
    await roundTrip(queue, ['b']);
    expect(t.spans()).toHaveLength(2);
    await queue.close();
  });
});

describe('SluiceInstrumentation with no SDK behind the API', () => {
  it('passes messages untouched, then traces sends within a thousand and consumers started after an SDK is registered', async () => {
    trace.disable(); // no tracer provider: the API's no-op
    const otel = new SluiceInstrumentation();
    const queue = otel.instrument(new MemoryQueue<string>({ name: 'late' }));
    const early = queue[Symbol.asyncIterator]();
    await queue.send('before');
    const delivery = (await early.next()).value!;
    expect(delivery.within).toBeUndefined(); // the queue's own delivery: nothing wrapped
    await delivery.ack();
    await early.return?.();

    const t = traced({ enabled: false });
    trace.setGlobalTracerProvider(t.tracerProvider);
    for (let i = 0; i < 1_001; i++) await queue.send(`after ${i}`);
    const sent = t.named('send late').length;
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThanOrEqual(1_001);
    await queue.purge();
    await roundTrip(queue, ['late consumer']);
    await t.ended(sent + 2);
    expect(t.named('process late')).toHaveLength(1);
    await queue.close();
  });

  it('starts a trace of its own for a message that carries no trace context, whatever is current', async () => {
    const t = traced();
    const raw = new MemoryQueue<string>({ name: 'orders' });
    const queue = t.otel.instrument(raw);
    await t.tracer.startActiveSpan('request', async (request) => {
      await raw.send('untraced'); // as a producer that is not instrumented would
      request.end();
    });
    const iterator = queue[Symbol.asyncIterator]();
    await t.tracer.startActiveSpan('poll', async (poll) => {
      await (await iterator.next()).value!.ack(); // taken while another span is current
      poll.end();
    });
    await t.ended(3);
    const process = t.one('process orders');
    expect(parentOf(process)).toBeUndefined();
    expect(process.spanContext().traceId).not.toBe(t.one('request').spanContext().traceId);
    await queue.close();
  });
});

describe('SluiceInstrumentation: instrument()', () => {
  it('refuses a config it cannot use with InvalidOptionError', () => {
    for (const config of [null, 'on', { tracerProvider: {} }, { meterProvider: 5 }, { enabled: 'yes' }]) {
      expect(() => new SluiceInstrumentation(config as never), JSON.stringify(config)).toThrow(
        InvalidOptionError,
      );
      expect(() => new SluiceInstrumentation({ enabled: false }).setConfig(config as never)).toThrow(
        InvalidOptionError,
      );
    }
  });

  it('refuses options it cannot use, and a queue without a name, with InvalidOptionError', () => {
    const { otel } = traced();
    const queue = new MemoryQueue<string>({ name: 'orders' });
    for (const options of [{ system: '' }, { system: 5 }, { consumerGroup: '' }, null, 'rabbitmq']) {
      expect(() => otel.instrument(queue, options as never), JSON.stringify(options)).toThrow(
        InvalidOptionError,
      );
    }
    const nameless: Queue<string> = {
      send: async () => {},
      close: async () => {},
      async *[Symbol.asyncIterator]() {},
    };
    expect(() => otel.instrument(nameless)).toThrow(InvalidOptionError);
    expect(() => otel.instrument({ ...nameless, name: '' } as Queue<string>)).toThrow(InvalidOptionError);
  });

  it('keeps the queue’s own members: name, size, maxsize, stats(), closed and close()', async () => {
    const { otel } = traced();
    const queue = otel.instrument(new MemoryQueue<string>({ name: 'orders', maxsize: 10 }));
    expect(queue).toBeInstanceOf(MemoryQueue);
    expect(queue.name).toBe('orders');
    await queue.send('a');
    await queue.send('b', { delay: 60_000 });
    expect(queue.size).toBe(2);
    expect(await queue.stats()).toMatchObject({ ready: 1, delayed: 1, inFlight: 0, dead: 0 });
    queue.maxsize = 20;
    expect(queue.maxsize).toBe(20);
    expect(queue.closed).toBe(false);
    await queue.close();
    expect(queue.closed).toBe(true);
    await expect(queue.send('c')).rejects.toBeInstanceOf(QueueClosedError);
  });

  it('traces what draining() of an instrumented MemoryQueue sends and dispatches', async () => {
    const t = traced();
    const handled: string[] = [];
    const queue = t.otel.instrument(new MemoryQueue<string>({ name: 'orders' }));
    const draining = queue.draining((message) => {
      handled.push(message);
      t.tracer.startSpan('handler').end();
    });
    await draining.send('a');
    await draining.stop();
    await t.ended(3);

    expect(handled).toEqual(['a']);
    const send = t.one('send orders');
    const process = t.one('process orders');
    expect(parentOf(process)).toBe(idOf(send));
    expect(parentOf(t.one('handler'))).toBe(idOf(process));
  });
});
