/**
 * SqliteQueue against MemoryQueue on the same workloads (`npx tsx bench/sqlite.ts`).
 *
 * - processing: 50,000 queued no-op messages drained through a Pump at concurrency 8. For SQLite
 *   every ack is durable (its promise resolves after the transaction committed); the clock stops
 *   once every message was handled and the queue closed (all acks written).
 * - enqueue: 50,000 sends, 1,000 in flight at a time, and one awaited at a time.
 * Each figure is the median of 3 runs, each run in a fresh child process and a fresh database file.
 * The target: processing ≥ 30,000 messages/s on SQLite.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryQueue } from '../src/queuing/memory/memory-queue.js';
import { Pump } from '../src/queuing/pump/pump.js';
import type { Queue } from '../src/queuing/types.js';
import { SqliteQueue } from '../src/transports/sqlite/index.js';
import { childArgs, reportToParent, runInChild } from './support/child.js';
import { printTable } from './support/publish.js';
import { formatRate, formatRatio, machineLine, median } from './support/report.js';

const MESSAGES = 50_000;
const CONCURRENCY = 8;
const IN_FLIGHT = 1_000;
const RUNS = 3;
const TARGET = 30_000;

type Kind = 'sqlite' | 'memory';
type Workload = 'processing' | 'enqueue-batched' | 'enqueue-sequential';

interface Numbered {
  n: number;
}

function openQueue(kind: Kind, path: string): Queue<Numbered> {
  return kind === 'sqlite' ? new SqliteQueue<Numbered>('bench', { path }) : new MemoryQueue<Numbered>();
}

async function sendAll(queue: Queue<Numbered>, inFlight: number): Promise<void> {
  for (let start = 0; start < MESSAGES; start += inFlight) {
    const batch: Promise<void>[] = [];
    for (let n = start; n < Math.min(start + inFlight, MESSAGES); n++) batch.push(queue.send({ n }));
    await Promise.all(batch);
  }
}

/** Messages per second for one workload, measured in this (child) process. */
async function measure(kind: Kind, workload: Workload): Promise<number> {
  const path = join(tmpdir(), `sluice-bench-${process.pid}.db`);
  const queue = openQueue(kind, path);
  try {
    if (workload !== 'processing') {
      const started = performance.now();
      await sendAll(queue, workload === 'enqueue-batched' ? IN_FLIGHT : 1);
      return MESSAGES / ((performance.now() - started) / 1000);
    }
    await sendAll(queue, IN_FLIGHT);
    let handled = 0;
    let allHandled!: () => void;
    const done = new Promise<void>((resolve) => {
      allHandled = resolve;
    });
    const started = performance.now();
    const draining = new Pump(queue, () => {
      if (++handled === MESSAGES) allHandled();
    }).draining({ concurrency: CONCURRENCY });
    await done;
    await draining.stop();
    await queue.close();
    return MESSAGES / ((performance.now() - started) / 1000);
  } finally {
    await queue.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
  }
}

async function medianRate(kind: Kind, workload: Workload): Promise<number> {
  const rates: number[] = [];
  for (let run = 0; run < RUNS; run++)
    rates.push(await runInChild<number>(import.meta.url, [kind, workload]));
  return median(rates);
}

const args = childArgs();
if (args !== undefined) {
  reportToParent(await measure(args[0] as Kind, args[1] as Workload));
} else {
  const workloads: [Workload, string][] = [
    ['processing', `process ${formatRate(MESSAGES)} no-op messages, Pump concurrency ${CONCURRENCY}`],
    ['enqueue-batched', `enqueue ${formatRate(MESSAGES)}, ${formatRate(IN_FLIGHT)} sends in flight`],
    ['enqueue-sequential', `enqueue ${formatRate(MESSAGES)}, one send awaited at a time`],
  ];
  const rows: string[][] = [];
  let processing = 0;
  for (const [workload, label] of workloads) {
    const sqlite = await medianRate('sqlite', workload);
    const memory = await medianRate('memory', workload);
    if (workload === 'processing') processing = sqlite;
    rows.push([label, formatRate(sqlite), formatRate(memory), formatRatio(memory / sqlite)]);
  }
  console.log(machineLine());
  console.log(`messages/s, median of ${RUNS} runs, each in a fresh process and database file\n`);
  printTable(
    `SqliteQueue vs MemoryQueue, messages/s, median of ${RUNS} runs, each in a fresh process and database file`,
    ['workload', 'SqliteQueue', 'MemoryQueue', 'MemoryQueue / SqliteQueue'],
    rows,
  );
  const verdict = processing >= TARGET ? 'met' : 'NOT met';
  console.log(`\nTarget: SqliteQueue processing ≥ ${formatRate(TARGET)} msg/s: ${verdict}`);
}
