/**
 * What sluice/otel costs a queue, in one run on one machine (`npx tsx bench/otel.ts`):
 *
 * - memory: MemoryQueue + Pump as bench/memory.ts's fifo scenario at concurrency 1 (maxsize 1024, the
 *   producer awaiting each send, a no-op async handler), 200,000 messages: (a) plain, (b) instrumented
 *   with no SDK registered (the API's no-op tracer and meter), (c) instrumented on the SDK. Target: (b)
 *   within 15% of (a); (b)'s overhead is taken against plain passes alternating with it in its process.
 * - redis: RedisQueue + Pump on the local Redis, 20,000 messages sent at once by one queue handle, then
 *   drained by another at concurrency 16 (as bench/redis.ts): (a) plain vs (c) SDK. Target: (c)
 *   within 10% of (a) on processing.
 *
 * Each measurement runs in its own child process (the SDK variant registers global providers), after
 * a warm-up pass in that child; runs are interleaved, three each, medians reported. Overhead is the
 * extra time per message: rate(a) / rate(x) − 1. Redis must be reachable at SLUICE_REDIS_URL (default
 * redis://127.0.0.1:6379); each run uses its own queue names and deletes their keys.
 */
import { Redis } from 'ioredis';
import { MemoryQueue, Pump } from '../src/index.js';
import { RedisQueue } from '../src/transports/redis/index.js';
import { childArgs, reportToParent, runInChild } from './support/child.js';
import { rate } from './support/load.js';
import { sdkFloor } from './support/otel-floor.js';
import { type Telemetry, telemetryFor, VARIANTS, type Variant } from './support/otel-setup.js';
import { printTable } from './support/publish.js';
import { formatRate, machineLine, median } from './support/report.js';

const url = process.env.SLUICE_REDIS_URL ?? 'redis://127.0.0.1:6379';
const RUNS = 3;
const MAXSIZE = 1024;
const REDIS_CONCURRENCY = 16;

type Path = 'memory' | 'redis' | 'floor';

const PATHS: Readonly<Record<Path, { messages: number; warmUp: number; variants: Variant[] }>> = {
  memory: { messages: 200_000, warmUp: 50_000, variants: ['plain', 'api', 'sdk'] },
  redis: { messages: 20_000, warmUp: 2_000, variants: ['plain', 'sdk'] },
  floor: { messages: 100_000, warmUp: 20_000, variants: ['sdk'] },
};

interface Measurement {
  /** messages per second */
  processing: number;
  /** redis only: messages per second of the concurrent sends */
  enqueue?: number;
  /** memory, API only: the plain queue's rate in the same process, its passes alternating with these */
  plainAlongside?: number;
  /** SDK only: spans the exporter was given, and the processings the duration histogram counted (warm-up included) */
  spans: number;
  consumed: number;
}

let handled = 0;

async function work(_message: number): Promise<void> {
  handled++;
}

async function memoryPass(telemetry: Telemetry, count: number): Promise<number> {
  const queue = telemetry.instrument(new MemoryQueue<number>({ maxsize: MAXSIZE }));
  const draining = new Pump(queue, work).draining({ concurrency: 1, graceful: true });
  const start = performance.now();
  for (let i = 0; i < count; i++) await queue.send(i);
  await queue.close();
  await draining.stop();
  return rate(count, start);
}

/** Deletes every key of a sluice queue and of its dead-letter queue (docs/wire-protocol.md, Redis). */
async function deleteQueue(name: string): Promise<void> {
  const admin = new Redis(url);
  const keys = [
    ...(await admin.keys(`sluice:{${name}}:*`)),
    ...(await admin.keys(`sluice:{${name}.dead}:*`)),
  ];
  if (keys.length > 0) await admin.del(...keys);
  admin.disconnect();
}

async function redisPass(telemetry: Telemetry, name: string, count: number) {
  const producer = telemetry.instrument(new RedisQueue<number>(name, { url }));
  const consumer = telemetry.instrument(new RedisQueue<number>(name, { url }));
  try {
    let start = performance.now();
    await Promise.all(Array.from({ length: count }, (_, i) => producer.send(i)));
    const enqueue = rate(count, start);

    const target = handled + count;
    let allHandled!: () => void;
    const done = new Promise<void>((resolve) => (allHandled = resolve));
    start = performance.now();
    const draining = new Pump(consumer, async (message: number) => {
      await work(message);
      if (handled === target) allHandled();
    }).draining({ concurrency: REDIS_CONCURRENCY });
    await done;
    const processing = rate(count, start);
    await draining.stop();
    return { processing, enqueue };
  } finally {
    await Promise.all([producer.close(), consumer.close()]);
    await deleteQueue(name);
  }
}

async function measure(path: Path, variant: Variant): Promise<Measurement> {
  const telemetry = telemetryFor(variant);
  const { messages, warmUp } = PATHS[path];
  let figures: Pick<Measurement, 'processing' | 'enqueue' | 'plainAlongside'>;
  if (path === 'memory' && variant === 'api') {
    // A process's JIT may settle the plain queue's loop in a faster or a slower shape than another
    // process's: the API's few nanoseconds per message are measured against plain passes alternating
    // with them in this one process.
    const plain = telemetryFor('plain');
    await memoryPass(plain, warmUp);
    await memoryPass(telemetry, warmUp);
    const plainRates: number[] = [];
    const apiRates: number[] = [];
    for (let pass = 0; pass < 5; pass++) {
      plainRates.push(await memoryPass(plain, messages));
      apiRates.push(await memoryPass(telemetry, messages));
    }
    figures = { processing: median(apiRates), plainAlongside: median(plainRates) };
    if (handled !== 2 * warmUp + 10 * messages) throw new Error(`memory/api handled ${handled}`);
    handled = messages + warmUp; // checked above
  } else if (path === 'memory') {
    await memoryPass(telemetry, warmUp);
    figures = { processing: await memoryPass(telemetry, messages) };
  } else if (path === 'floor') {
    await sdkFloor(warmUp);
    figures = { processing: await sdkFloor(messages) };
    handled = messages + warmUp;
  } else {
    const name = `sluice-otel-bench-${variant}-${process.pid}`;
    await redisPass(telemetry, `${name}-warm-up`, warmUp);
    figures = await redisPass(telemetry, name, messages);
  }
  if (handled !== messages + warmUp) throw new Error(`${path}/${variant} handled ${handled}`);
  return { ...figures, ...(await telemetry.finish()) };
}

const percent = (value: number) => `${value >= 0 ? '+' : ''}${(value * 100).toFixed(1)}%`;

async function main(): Promise<void> {
  const measured = new Map<string, Measurement[]>();
  for (let run = 1; run <= RUNS; run++) {
    for (const [path, { variants, messages }] of Object.entries(PATHS) as [Path, (typeof PATHS)[Path]][]) {
      for (const variant of variants) {
        const result = await runInChild<Measurement>(import.meta.url, [path, variant]);
        const key = `${path}/${variant}`;
        measured.set(key, [...(measured.get(key) ?? []), result]);
        console.error(
          `run ${run}/${RUNS}  ${path} ${messages} ${variant}: ${formatRate(result.processing)} msg/s` +
            (result.enqueue === undefined ? '' : `, enqueue ${formatRate(result.enqueue)} msg/s`),
        );
      }
    }
  }

  const medianOf = (key: string, field: 'processing' | 'enqueue') =>
    median(measured.get(key)!.map((m) => m[field]!));
  const rows: string[][] = [];
  const overheads = new Map<string, number>();
  for (const [path, { variants, messages }] of Object.entries(PATHS) as [Path, (typeof PATHS)[Path]][]) {
    if (path === 'floor') continue;
    const fields = path === 'redis' ? (['processing', 'enqueue'] as const) : (['processing'] as const);
    for (const field of fields) {
      const plain = medianOf(`${path}/plain`, field);
      for (const variant of variants) {
        const value = medianOf(`${path}/${variant}`, field);
        const alongside = measured.get(`${path}/${variant}`)![0]!.plainAlongside;
        const overhead =
          alongside === undefined
            ? plain / value - 1
            : median(measured.get(`${path}/${variant}`)!.map((m) => m.plainAlongside! / m.processing - 1));
        overheads.set(`${path}/${variant}/${field}`, overhead);
        const what =
          path === 'memory'
            ? `MemoryQueue + Pump, ${messages.toLocaleString('en-US')} msgs, concurrency 1`
            : `RedisQueue ${field}, ${messages.toLocaleString('en-US')} msgs` +
              (field === 'processing' ? `, Pump concurrency ${REDIS_CONCURRENCY}` : ', all at once');
        rows.push([
          what,
          VARIANTS[variant],
          formatRate(value),
          variant === 'plain' ? '—' : percent(overhead),
        ]);
      }
    }
  }

  console.log(`\n## sluice/otel overhead (median of ${RUNS} runs, one child process per run)\n`);
  console.log(`${machineLine()}. Command: \`npx tsx bench/otel.ts\`\n`);
  printTable(
    `sluice/otel overhead, median of ${RUNS} runs, one child process per run`,
    ['path', 'variant', 'msgs/s', 'overhead vs (a)'],
    rows,
  );
  console.log(
    '\nOverhead = extra time per message, rate(a) ÷ rate(variant) − 1 ((b): against plain passes alternating with it in its own process, median of the runs’ ratios). The SDK runs a BatchSpanProcessor' +
      ' (defaults) into an exporter that drops spans, and a MeterProvider whose reader collects once, at the end.',
  );
  const floorMicros = 1e6 / medianOf('floor/sdk', 'processing');
  const redisMicros = 1e6 / medianOf('redis/plain', 'processing');
  console.log(
    `- The SDK alone, no queue (two spans, one propagation, one histogram record per message: bench/support/otel-floor.ts):` +
      ` ${floorMicros.toFixed(2)} µs per message, ${percent(floorMicros / redisMicros)} of the plain Redis path's` +
      ` ${redisMicros.toFixed(2)} µs per message: no instrumentation on this SDK can cost the Redis path less.`,
  );
  for (const path of ['memory', 'redis'] as const) {
    const sdk = measured.get(`${path}/sdk`)!;
    const { messages, warmUp } = PATHS[path];
    const expected = 2 * (messages + warmUp);
    console.log(
      `- ${path}, SDK: spans exported ${sdk.map((m) => m.spans.toLocaleString('en-US')).join(' / ')} of` +
        ` ${expected.toLocaleString('en-US')} ended (a shortfall is spans the BatchSpanProcessor dropped, its queue full);` +
        ` processings timed ${sdk.map((m) => m.consumed).join(' / ')} (expected ${messages + warmUp})`,
    );
  }
  const memoryApi = overheads.get('memory/api/processing')!;
  const redisSdk = overheads.get('redis/sdk/processing')!;
  console.log('\nTargets:');
  console.log(
    `- memory, API without SDK: ${percent(memoryApi)} (target ≤ +15%): ${memoryApi <= 0.15 ? 'met' : 'MISSED'}`,
  );
  console.log(
    `- redis processing, SDK: ${percent(redisSdk)} (target ≤ +10%): ${redisSdk <= 0.1 ? 'met' : 'MISSED'}`,
  );
}

const args = childArgs();
if (args) reportToParent(await measure(args[0] as Path, args[1] as Variant));
else await main();
