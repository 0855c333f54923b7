/**
 * MemoryQueue + Pump against p-queue, fastq and a hand-written floor, each contender in its own child
 * process (so peak RSS is its own), three runs each, medians reported.
 *
 *   npx tsx bench/memory.ts
 *
 * - fifo: 1,000,000 no-op messages through a buffer of 1024, the producer awaiting each send so a
 *   full buffer holds it back (p-queue: `onSizeLessThan`; fastq and the floors: the same gate by hand).
 *   Two hand-written floors: worker loops on an array (what the issue asked for) and a callback queue
 *   with no per-message objects (the fastest shape we know; it bounds any ratio over fastq).
 * - priority: 200,000 messages with random priorities 0–100, all queued, then drained by 4 workers.
 */
import fastq from 'fastq';
import PQueue from 'p-queue';
import { MemoryQueue, Pump } from '../src/index.js';
import { childArgs, reportToParent, runInChild } from './support/child.js';
import { printTable } from './support/publish.js';
import { formatMB, formatRate, formatRatio, machineLine, median, peakRss } from './support/report.js';

const MAXSIZE = 1024;
const RUNS = 5;
const SLUICE = 'sluice';

type Contender = (count: number, concurrency: number) => Promise<void>;

interface Scenario {
  name: string;
  messages: number;
  concurrency: number;
  contenders: Record<string, Contender>;
}

interface Measurement {
  seconds: number;
  /** RSS right before the run: the tsx child's own baseline. */
  startRss: number;
  peakRss: number;
}

let handled = 0;

/** The work every contender does per message; the count proves none skipped a message. */
async function work(_message: number): Promise<void> {
  handled++;
}

const RESOLVED = Promise.resolve();

const fifo: Record<string, Contender> = {
  async [SLUICE](count, concurrency) {
    const queue = new MemoryQueue<number>({ maxsize: MAXSIZE });
    const draining = new Pump(queue, work).draining({ concurrency, graceful: true });
    for (let i = 0; i < count; i++) await queue.send(i);
    await queue.close();
    await draining.stop();
  },

  async 'p-queue'(count, concurrency) {
    const queue = new PQueue({ concurrency });
    for (let i = 0; i < count; i++) {
      await queue.onSizeLessThan(MAXSIZE);
      void queue.add(() => work(i));
    }
    await queue.onIdle();
  },

  async fastq(count, concurrency) {
    // fastq has no bound of its own (and its length() walks a linked list), so count waiting tasks.
    let waiting = 0;
    let wakeProducer: (() => void) | undefined;
    const queue = fastq.promise((message: number) => {
      waiting--;
      wakeProducer?.();
      wakeProducer = undefined;
      return work(message);
    }, concurrency);
    const send = (message: number): Promise<void> => {
      if (waiting >= MAXSIZE)
        return new Promise<void>((resolve) => (wakeProducer = resolve)).then(() => send(message));
      waiting++;
      void queue.push(message);
      return RESOLVED;
    };
    for (let i = 0; i < count; i++) await send(i);
    await queue.drained();
  },

  /** The least a bounded buffer with worker loops can do: a ring of numbers, no deliveries, no acks. */
  async 'array floor'(count, concurrency) {
    const ring = new Array<number>(MAXSIZE);
    let head = 0;
    let size = 0;
    let closed = false;
    const idleWorkers: (() => void)[] = [];
    let wakeProducer: (() => void) | undefined;
    const worker = async () => {
      for (;;) {
        if (size === 0) {
          if (closed) return;
          await new Promise<void>((resolve) => idleWorkers.push(resolve));
          continue;
        }
        const message = ring[head]!;
        head = (head + 1) % MAXSIZE;
        size--;
        wakeProducer?.();
        wakeProducer = undefined;
        await work(message);
      }
    };
    const send = (message: number): Promise<void> => {
      if (size === MAXSIZE)
        return new Promise<void>((resolve) => (wakeProducer = resolve)).then(() => send(message));
      ring[(head + size) % MAXSIZE] = message;
      size++;
      idleWorkers.pop()?.();
      return RESOLVED;
    };
    const workers = Array.from({ length: concurrency }, worker);
    for (let i = 0; i < count; i++) await send(i);
    closed = true;
    for (const wake of idleWorkers.splice(0)) wake();
    await Promise.all(workers);
  },

  /**
   * The least any queue can do here: `send` starts the handler itself while fewer than `concurrency`
   * run, a finished handler starts the next buffered message; no objects per message, no acks. With
   * an awaited send and an async handler, nothing in JavaScript goes much faster than this.
   */
  async 'callback floor'(count, concurrency) {
    const ring = new Array<number>(MAXSIZE);
    let head = 0;
    let size = 0;
    let running = 0;
    let wakeProducer: (() => void) | undefined;
    let drained: (() => void) | undefined;
    const finished = (): void => {
      if (size === 0) {
        if (--running === 0) drained?.();
        return;
      }
      const message = ring[head]!;
      head = (head + 1) % MAXSIZE;
      size--;
      wakeProducer?.();
      wakeProducer = undefined;
      void work(message).then(finished);
    };
    const send = (message: number): Promise<void> => {
      if (running < concurrency) {
        running++;
        void work(message).then(finished);
        return RESOLVED;
      }
      if (size === MAXSIZE)
        return new Promise<void>((resolve) => (wakeProducer = resolve)).then(() => send(message));
      ring[(head + size) % MAXSIZE] = message;
      size++;
      return RESOLVED;
    };
    for (let i = 0; i < count; i++) await send(i);
    if (running > 0) await new Promise<void>((resolve) => (drained = resolve));
  },
};

const priority: Record<string, Contender> = {
  async [SLUICE](count, concurrency) {
    const priorities = randomPriorities(count);
    const queue = new MemoryQueue<number>({ order: 'priority' });
    for (let i = 0; i < count; i++) void queue.send(i, { priority: priorities[i]! });
    await queue.close();
    await new Pump(queue, work).draining({ concurrency, graceful: true }).stop();
  },

  async 'p-queue'(count, concurrency) {
    const priorities = randomPriorities(count);
    const queue = new PQueue({ concurrency, autoStart: false });
    for (let i = 0; i < count; i++) void queue.add(() => work(i), { priority: priorities[i]! });
    queue.start();
    await queue.onIdle();
  },
};

const scenarios: Scenario[] = [
  { name: 'fifo, maxsize 1024, concurrency 1', messages: 1_000_000, concurrency: 1, contenders: fifo },
  { name: 'fifo, maxsize 1024, concurrency 16', messages: 1_000_000, concurrency: 16, contenders: fifo },
  { name: 'priority 0–100, concurrency 4', messages: 200_000, concurrency: 4, contenders: priority },
];

/** The same pseudo-random priorities 0–100 for every contender (mulberry32, fixed seed). */
function randomPriorities(count: number): Uint8Array {
  const priorities = new Uint8Array(count);
  let seed = 0x5eed;
  for (let i = 0; i < count; i++) {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    priorities[i] = ((t ^ (t >>> 14)) >>> 0) % 101;
  }
  return priorities;
}

async function measure(scenarioIndex: number, contender: string): Promise<Measurement> {
  const scenario = scenarios[scenarioIndex]!;
  const startRss = process.memoryUsage.rss();
  const started = performance.now();
  await scenario.contenders[contender]!(scenario.messages, scenario.concurrency);
  const seconds = (performance.now() - started) / 1000;
  if (handled !== scenario.messages) throw new Error(`${contender} handled ${handled}/${scenario.messages}`);
  return { seconds, startRss, peakRss: peakRss() };
}

async function main(): Promise<void> {
  const measurements = new Map<string, Measurement[]>();
  for (let run = 1; run <= RUNS; run++) {
    for (const [index, scenario] of scenarios.entries()) {
      for (const contender of Object.keys(scenario.contenders)) {
        const result = await runInChild<Measurement>(import.meta.url, [String(index), contender]);
        const key = `${index}/${contender}`;
        measurements.set(key, [...(measurements.get(key) ?? []), result]);
        const rate = formatRate(scenario.messages / result.seconds);
        console.error(`run ${run}/${RUNS}  ${scenario.name}  ${contender}: ${rate} msg/s`);
      }
    }
  }

  const rows: string[][] = [];
  const rates = new Map<string, number>();
  for (const [index, scenario] of scenarios.entries()) {
    const rateOf = (contender: string) =>
      median(measurements.get(`${index}/${contender}`)!.map((m) => scenario.messages / m.seconds));
    const sluiceRate = rateOf(SLUICE);
    for (const contender of Object.keys(scenario.contenders)) {
      const runs = measurements.get(`${index}/${contender}`)!;
      const rate = rateOf(contender);
      rates.set(`${index}/${contender}`, rate);
      rows.push([
        scenario.name,
        contender,
        formatRate(rate),
        formatMB(median(runs.map((m) => m.peakRss))),
        formatMB(median(runs.map((m) => m.peakRss - m.startRss))),
        contender === SLUICE ? '—' : formatRatio(sluiceRate / rate),
      ]);
    }
  }

  console.log(`\n## MemoryQueue + Pump (median of ${RUNS} runs, one child process per run)\n`);
  console.log(`${machineLine()}. Command: \`npx tsx bench/memory.ts\`\n`);
  printTable(
    `MemoryQueue + Pump, median of ${RUNS} runs, one child process per run`,
    ['scenario', 'contender', 'msgs/s', 'peak RSS', 'RSS growth', 'sluice ÷ peer'],
    rows,
  );
  const idleRss = median([...measurements.values()].flat().map((m) => m.startRss));
  console.log(
    `\nPeak RSS is the child's high-water mark, including the tsx loader (an idle child is ~${formatMB(idleRss)});` +
      ' RSS growth is what the run added on top.',
  );
  const rate = (index: number, contender: string) => rates.get(`${index}/${contender}`)!;
  console.log('\nTargets:');
  for (const index of [0, 1]) {
    const c = scenarios[index]!.concurrency;
    console.log(
      `- concurrency ${c}: ${formatRate(rate(index, SLUICE))} msg/s (target ≥ 2,000,000), ` +
        `${formatRatio(rate(index, SLUICE) / rate(index, 'p-queue'))} p-queue (≥ 3×), ` +
        `${formatRatio(rate(index, SLUICE) / rate(index, 'fastq'))} fastq (≥ 4×); ` +
        `the callback floor itself is ${formatRatio(rate(index, 'callback floor') / rate(index, 'fastq'))} fastq`,
    );
  }
  console.log(`- priority: ${formatRatio(rate(2, SLUICE) / rate(2, 'p-queue'))} p-queue (≥ 40×)`);
}

const args = childArgs();
if (args) reportToParent(await measure(Number(args[0]), args[1]!));
else await main();
