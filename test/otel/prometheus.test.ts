/**
 * sluice/otel's metrics as Prometheus scrapes them: the official exporter serves /metrics over HTTP,
 * and the names and labels it renders (dots to underscores, `_total` on counters) are what a
 * dashboard or an alert would query.
 */
import { createServer } from 'node:net';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SluiceInstrumentation } from '../../src/otel/index.js';
import { VERSION } from '../../src/otel/version.js';
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import { waitFor } from '../support/async.js';
import { PaymentDeclinedError } from './otel-fixture.js';

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The exposition format's samples (`name{label="value",…} number`) and `# TYPE` lines. */
function parse(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [, typed = '', type = ''] = /^# TYPE (\S+) (\S+)$/.exec(line) ?? [];
    if (typed !== '') types.set(typed, type);
    const [, name = '', rendered = '', value = ''] =
      /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line) ?? [];
    if (name === '') continue;
    const labels: Record<string, string> = {};
    for (const [, label = '', text = ''] of rendered.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[label] = text;
    samples.push({ name, labels, value: Number(value) });
  }
  return { samples, types };
}

/** A port nothing listens on now (the exporter takes port 0 for "use the default", 9464). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
    probe.once('error', reject);
  });
}

const ORDERS = {
  messaging_system: 'sluice',
  messaging_destination_name: 'orders',
  otel_scope_name: 'sluice',
  otel_scope_version: VERSION,
};
const SENT = { ...ORDERS, messaging_operation_type: 'send', messaging_operation_name: 'send' };
const PROCESSED = { ...ORDERS, messaging_operation_type: 'process', messaging_operation_name: 'process' };

describe('sluice/otel metrics scraped by Prometheus', () => {
  let meterProvider: MeterProvider;
  let url: string;

  beforeAll(async () => {
    const port = await freePort();
    const exporter = new PrometheusExporter({ host: '127.0.0.1', port, preventServerStart: true });
    await exporter.startServer();
    meterProvider = new MeterProvider({ readers: [exporter] });
    url = `http://127.0.0.1:${port}/metrics`;
  });

  afterAll(async () => {
    await meterProvider?.shutdown(); // stops the exporter's server
  });

  const scrape = async () => {
    const response = await fetch(url);
    expect(response.status).toBe(200);
    return parse(await response.text());
  };

  it('serves the counters, the histogram and the gauges under their rendered names and labels', async () => {
    const otel = new SluiceInstrumentation({ meterProvider });
    const dead = new MemoryQueue<string>({ name: 'orders.dead' });
    const queue = otel.instrument(new MemoryQueue<string>({ name: 'orders', deadLetter: dead }));
    const draining = new Pump(
      queue,
      async (message: string) => {
        if (message === 'bad') throw new PaymentDeclinedError('card declined');
      },
      { failSilently: true },
    ).draining();
    await queue.send('ok');
    await queue.send('bad');
    await queue.send('later', { delay: 60_000 });
    const processed = (samples: Sample[]) =>
      samples
        .filter((sample) => sample.name === 'messaging_process_duration_count')
        .reduce((sum, sample) => sum + sample.value, 0);
    await waitFor(async () => processed((await scrape()).samples) === 2, 'two processings timed');
    await draining.stop();

    const { samples, types } = await scrape();
    const failure = {
      ...PROCESSED,
      error_type: 'PaymentDeclinedError',
      sluice_message_outcome: 'dead_letter',
    };
    /** The samples of one rendered name, as [labels, value] pairs. */
    const of = (name: string) =>
      samples.filter((sample) => sample.name === name).map(({ labels, value }) => [labels, value]);
    expect(of('messaging_client_sent_messages_total')).toEqual([[SENT, 3]]);
    expect(of('messaging_client_consumed_messages_total')).toEqual([[PROCESSED, 2]]);
    expect(of('sluice_messages_failed_total')).toEqual([[failure, 1]]);
    const counts = of('messaging_process_duration_count');
    expect(counts).toHaveLength(2);
    expect(counts).toEqual(
      expect.arrayContaining([
        [PROCESSED, 1],
        [failure, 1],
      ]),
    );
    // Seconds, on the conventions' boundaries (`le` is the bucket's upper bound).
    const bounds = samples
      .filter((sample) => sample.name === 'messaging_process_duration_bucket')
      .filter((sample) => sample.labels.error_type === undefined)
      .map((sample) => sample.labels.le);
    expect(bounds.join(' ')).toBe('0.005 0.01 0.025 0.05 0.075 0.1 0.25 0.5 0.75 1 2.5 5 7.5 10 +Inf');
    const gauges = { ready: 0, delayed: 1, in_flight: 0, dead: 1 };
    for (const [figure, value] of Object.entries(gauges)) {
      expect(of(`sluice_queue_${figure}`), figure).toEqual([[ORDERS, value]]);
      expect(types.get(`sluice_queue_${figure}`)).toBe('gauge');
    }
    expect(types.get('messaging_client_sent_messages_total')).toBe('counter');
    expect(types.get('messaging_client_consumed_messages_total')).toBe('counter');
    expect(types.get('sluice_messages_failed_total')).toBe('counter');
    expect(types.get('messaging_process_duration')).toBe('histogram');

    await queue.close();
    await dead.close();
  });
});
