/**
 * sluice/otel's metrics, read with the SDK's MeterProvider and a reader collected on demand: the
 * message counters, the processing histogram and, from each instrumented queue's stats(), gauges.
 */
import type { Attributes } from '@opentelemetry/api';
import {
  AggregationTemporality,
  type DataPoint,
  InstrumentType,
  MeterProvider,
  MetricReader,
} from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { QueueClosedError } from '../../src/errors.js';
import { SluiceInstrumentation } from '../../src/otel/index.js';
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import type { QueueStats } from '../../src/queuing/operations.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import type { Delivery, Queue } from '../../src/queuing/types.js';
import { waitFor } from '../support/async.js';
import { PaymentDeclinedError } from './otel-fixture.js';

/**
 * A reader that exports nothing by itself: the test collects when it wants to look. Gauges are read
 * as deltas: under cumulative temporality the SDK (2.x) keeps reporting the last value of a gauge's
 * attribute set no callback observes any more, which would hide a closed queue being dropped.
 */
class OnDemandReader extends MetricReader {
  constructor() {
    super({
      aggregationTemporalitySelector: (type) =>
        type === InstrumentType.OBSERVABLE_GAUGE
          ? AggregationTemporality.DELTA
          : AggregationTemporality.CUMULATIVE,
    });
  }

  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }

  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

const providers: MeterProvider[] = [];
afterEach(async () => {
  for (const provider of providers.splice(0)) await provider.shutdown();
});

/** An instrumentation measuring into its own MeterProvider (spans go to the global no-op provider). */
function measured() {
  const reader = new OnDemandReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  providers.push(meterProvider);
  const otel = new SluiceInstrumentation({ meterProvider });
  /** The data points of each metric, by name, as one collection sees them. */
  const collect = async () => {
    const { resourceMetrics, errors } = await reader.collect();
    expect(errors).toEqual([]);
    const scopes = resourceMetrics.scopeMetrics;
    expect(scopes.map((scope) => scope.scope.name)).toEqual(['sluice']);
    const byName = new Map(
      scopes.flatMap((scope) => scope.metrics).map((metric) => [metric.descriptor.name, metric]),
    );
    return {
      unitOf: (name: string) => byName.get(name)?.descriptor.unit,
      points: (name: string) => (byName.get(name)?.dataPoints ?? []) as DataPoint<unknown>[],
    };
  };
  return { otel, collect };
}

const ON = (queue: string) => ({ 'messaging.system': 'sluice', 'messaging.destination.name': queue });
const operation = (name: string) => ({ 'messaging.operation.type': name, 'messaging.operation.name': name });
const SEND_ON = (queue: string) => ({ ...ON(queue), ...operation('send') });
const PROCESS_ON = (queue: string) => ({ ...ON(queue), ...operation('process') });

/** The points' attributes and values, in any order (values mapped by `value`, e.g. a histogram's count). */
function expectPoints<V>(
  points: DataPoint<unknown>[],
  expected: [Attributes, V][],
  value = (v: unknown) => v,
) {
  const actual = points.map((point) => [point.attributes, value(point.value)]);
  expect(actual).toHaveLength(expected.length);
  expect(actual).toEqual(expect.arrayContaining(expected));
}

const countOf = (histogram: unknown) => (histogram as { count: number }).count;

describe('sluice/otel metrics: counters and the processing histogram', () => {
  it('counts sends, hand-outs and failures, and times processings by outcome', async () => {
    const { otel, collect } = measured();
    const dead = new MemoryQueue<string>({ name: 'payments.dead' });
    const queue = otel.instrument(
      new MemoryQueue<string>({ name: 'payments', maxAttempts: 2, backoff: () => 0, deadLetter: dead }),
    );
    const draining = new Pump(
      queue,
      async (message: string, { attempt }) => {
        if (message === 'poison' || (message === 'flaky' && attempt === 1)) {
          throw new PaymentDeclinedError('card declined');
        }
      },
      { failSilently: true },
    ).draining();
    for (const message of ['ok', 'flaky', 'poison']) await queue.send(message);
    // ok once, flaky twice (retried), poison twice (then dead-lettered): five processings in all.
    await waitFor(
      async () =>
        (await collect()).points('messaging.process.duration').reduce((n, p) => n + countOf(p.value), 0) ===
        5,
      'five processings timed',
    );
    await draining.stop();
    // A queue that refuses every send (as a broker that is down would), open while collected.
    const refusing = otel.instrument({
      name: 'refusing',
      send: () => Promise.reject(new QueueClosedError('refusing')),
      [Symbol.asyncIterator]: () => ({ next: async () => ({ done: true, value: undefined }) }),
      close: async () => {},
    } as Queue<string> & { name: string });
    await expect(refusing.send('late')).rejects.toBeInstanceOf(QueueClosedError);

    const { points, unitOf } = await collect();
    const declined = { ...PROCESS_ON('payments'), 'error.type': 'PaymentDeclinedError' };
    expectPoints(points('messaging.client.sent.messages'), [
      [SEND_ON('payments'), 3],
      [SEND_ON('refusing'), 0],
      [{ ...SEND_ON('refusing'), 'error.type': 'QueueClosedError' }, 1],
    ]);
    expectPoints(points('messaging.client.consumed.messages'), [
      [PROCESS_ON('payments'), 5],
      [PROCESS_ON('refusing'), 0],
    ]);
    expectPoints(points('sluice.messages.failed'), [
      [{ ...declined, 'sluice.message.outcome': 'nack' }, 2],
      [{ ...declined, 'sluice.message.outcome': 'dead_letter' }, 1],
    ]);
    expectPoints(
      points('messaging.process.duration'),
      [
        [PROCESS_ON('payments'), 2],
        [{ ...declined, 'sluice.message.outcome': 'nack' }, 2],
        [{ ...declined, 'sluice.message.outcome': 'dead_letter' }, 1],
      ],
      countOf,
    );
    expect(unitOf('messaging.process.duration')).toBe('s');
    expect(unitOf('messaging.client.sent.messages')).toBe('{message}');
    expect(await dead.stats()).toMatchObject({ ready: 1 });
    await Promise.all([queue.close(), refusing.close(), dead.close()]);
  });
});

describe('sluice/otel metrics: gauges from stats()', () => {
  const GAUGES = [
    'sluice.queue.ready',
    'sluice.queue.delayed',
    'sluice.queue.in_flight',
    'sluice.queue.dead',
  ];

  it('reports ready, delayed, in-flight and dead messages, asking stats() only when collected', async () => {
    const { otel, collect } = measured();
    const dead = new MemoryQueue<string>({ name: 'orders.dead' });
    const memory = new MemoryQueue<string>({ name: 'orders', deadLetter: dead });
    const stats = vi.spyOn(memory, 'stats');
    const queue = otel.instrument(memory);
    for (const message of ['a', 'b', 'c', 'd', 'e']) await queue.send(message);
    await queue.send('later', { delay: 60_000 });
    const iterator = queue[Symbol.asyncIterator]();
    const next = async () => ((await iterator.next()) as IteratorYieldResult<Delivery<string>>).value;
    await (await next()).nack({ requeue: false });
    const inFlight = await next();
    expect(stats).not.toHaveBeenCalled();

    const { points } = await collect();
    expect(stats).toHaveBeenCalledTimes(1);
    const expected = { ready: 3, delayed: 1, in_flight: 1, dead: 1 };
    for (const [figure, value] of Object.entries(expected)) {
      expectPoints(points(`sluice.queue.${figure}`), [[ON('orders'), value]]);
    }

    await inFlight.ack();
    await iterator.return?.();
    await queue.close();
    await dead.close();
  });

  it('no longer asks or reports an instrumented queue once it is closed', async () => {
    const { otel, collect } = measured();
    const memory = new MemoryQueue<string>({ name: 'orders' });
    const stats = vi.spyOn(memory, 'stats');
    const orders = otel.instrument(memory);
    const emails = otel.instrument(new MemoryQueue<string>({ name: 'emails' }));
    await orders.send('o');
    await emails.send('e1');
    await emails.send('e2');
    expectPoints((await collect()).points('sluice.queue.ready'), [
      [ON('orders'), 1],
      [ON('emails'), 2],
    ]);

    await orders.close();
    const { points } = await collect();
    expect(stats).toHaveBeenCalledTimes(1);
    for (const gauge of GAUGES)
      expect(points(gauge).map((point) => point.attributes)).toEqual([ON('emails')]);
    await emails.close();
  });

  it('leaves out a queue whose stats() rejects, and reports the others', async () => {
    const { otel, collect } = measured();
    otel.instrument(unreachable('broken'));
    const orders = otel.instrument(new MemoryQueue<string>({ name: 'orders' }));
    await orders.send('o');

    const { points } = await collect();
    expectPoints(points('sluice.queue.ready'), [[ON('orders'), 1]]);
    for (const gauge of GAUGES) expect(points(gauge)).toHaveLength(1);
    await orders.close();
  });
});

/** A queue written by hand whose broker cannot be reached: every stats() rejects. */
function unreachable(name: string): Queue<string> & { name: string; stats(): Promise<QueueStats> } {
  return {
    name,
    send: async () => {},
    close: async () => {},
    async *[Symbol.asyncIterator]() {},
    stats: () => Promise.reject(new Error(`${name}: connection refused`)),
  };
}
