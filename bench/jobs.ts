/**
 * 200,000 no-op jobs with random priorities (0-9): sluice's Jobs + QueueMiddleware (10 workers,
 * MemoryQueue maxsize 1024, every push awaited so backpressure applies) against p-queue
 * (concurrency 10, priorities, the producer waits with `onSizeLessThan(1024)` whenever 1024 jobs are
 * waiting: the same bound). Each contender runs in its own child process, five runs, medians; a
 * child warms up, then times three rounds of 200,000 and reports its fastest. Peak RSS is the
 * child's high-water mark.
 *
 *   npx tsx bench/jobs.ts
 */
import PQueue from 'p-queue';
import { Jobs, QueueMiddleware } from '../src/jobs/index.js';
import { childArgs, reportToParent, runInChild } from './support/child.js';
import { printTable } from './support/publish.js';
import { formatMB, formatRate, formatRatio, machineLine, median, peakRss } from './support/report.js';

const JOBS = 200_000;
const WARMUP = 20_000;
const RUNS = 5;
/** Timed rounds per child; the fastest counts (a shared VM's slow spells only ever slow a round down). */
const ROUNDS = 3;
const PRIORITIES = 10;
const WORKERS = 10;
const MAXSIZE = 1024;

interface Result {
  perSecond: number;
  peakRss: number;
}

/** One contender: `run(count)` pushes `count` no-op jobs and resolves once all of them ran. */
type Contender = () => Promise<{ run(count: number): Promise<void>; close(): Promise<void> }>;

/** Random priorities drawn up front, so both contenders get the same work and no RNG in the loop. */
const priorities = Uint8Array.from({ length: JOBS }, () => Math.floor(Math.random() * PRIORITIES));

const contenders: Record<string, Contender> = {
  'sluice Jobs + QueueMiddleware': async () => {
    const jobs = new Jobs();
    jobs.use(new QueueMiddleware({ workers: WORKERS })); // default queue: priority order, maxsize 1024
    let left = 0;
    let finished: () => void = () => {};
    const noop = async () => {
      if (--left === 0) finished();
    };
    // A task's priority is part of its definition: one task per priority level.
    const tasks = Array.from({ length: PRIORITIES }, (_, p) => jobs.task(`noop-${p}`, noop, { priority: p }));
    await jobs.start();
    return {
      async run(count) {
        left = count;
        const done = new Promise<void>((resolve) => {
          finished = resolve;
        });
        for (let i = 0; i < count; i++) await tasks[priorities[i]!]!.push();
        await done;
      },
      close: () => jobs.stop(),
    };
  },
  'p-queue 9': async () => {
    const queue = new PQueue({ concurrency: WORKERS });
    const noop = async () => {};
    return {
      async run(count) {
        for (let i = 0; i < count; i++) {
          if (queue.size >= MAXSIZE) await queue.onSizeLessThan(MAXSIZE);
          void queue.add(noop, { priority: priorities[i]! });
        }
        await queue.onIdle();
      },
      close: async () => {},
    };
  },
};

async function measure(name: string): Promise<Result> {
  const contender = await contenders[name]!();
  await contender.run(WARMUP);
  let fastest = Number.POSITIVE_INFINITY;
  for (let round = 0; round < ROUNDS; round++) {
    const started = process.hrtime.bigint();
    await contender.run(JOBS);
    fastest = Math.min(fastest, Number(process.hrtime.bigint() - started) / 1e9);
  }
  await contender.close();
  return { perSecond: JOBS / fastest, peakRss: peakRss() };
}

async function main(): Promise<void> {
  const results = new Map<string, Result[]>();
  for (let run = 1; run <= RUNS; run++) {
    for (const name of Object.keys(contenders)) {
      const result = await runInChild<Result>(import.meta.url, [name]);
      results.set(name, [...(results.get(name) ?? []), result]);
      console.error(`run ${run}/${RUNS}  ${name}: ${formatRate(result.perSecond)} jobs/s`);
    }
  }
  const summary = [...results].map(([name, runs]) => ({
    name,
    perSecond: median(runs.map((r) => r.perSecond)),
    peakRss: Math.max(...runs.map((r) => r.peakRss)),
  }));
  const baseline = summary.find((s) => s.name === 'p-queue 9')!.perSecond;
  console.log(`\n## Jobs: ${formatRate(JOBS)} no-op jobs, random priorities, 10 workers, buffer 1024\n`);
  console.log(
    `${machineLine()}. Median of ${RUNS} runs, each the fastest of ${ROUNDS} rounds. Command: \`npx tsx bench/jobs.ts\`\n`,
  );
  printTable(
    `Jobs: ${formatRate(JOBS)} no-op jobs, random priorities, 10 workers, buffer 1024; median of ${RUNS} runs, each the fastest of ${ROUNDS} rounds`,
    ['contender', 'jobs/s', '× p-queue', 'peak RSS'],
    summary.map((s) => [
      s.name,
      formatRate(s.perSecond),
      formatRatio(s.perSecond / baseline),
      formatMB(s.peakRss),
    ]),
  );
}

const args = childArgs();
if (args) reportToParent(await measure(args[0]!));
else await main();
