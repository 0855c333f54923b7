/**
 * Flow control across processes (SPEC § 7), on each broker queue, 3 worker processes each draining
 * with a Pump at concurrency 32 into a no-op handler that records when it started:
 *
 * - rate limit: `rateLimit: { limit: 5000, interval: 1000 }` on a queue pre-filled with `--seconds`
 *   (default 7) seconds' worth of messages. The achieved rate over the steady part (whole seconds
 *   after the first, until the queue ran dry) as a share of the limit, and the most starts in any
 *   one-second window, the window sliding over every start of all workers merged (and in any window
 *   50 ms narrower, which leaves out the jitter between hand-out and handler start at its edges).
 *   Target on Redis and PostgreSQL: ≥ 95% of the limit, and no window above it.
 * - groups: 100,000 messages sent round-robin over 1,000 groups (pre-filled), drained with
 *   `groupConcurrency: 1`, against the same queue's throughput with the same number of messages
 *   sent with no group and drained with no limits, in the same run (first start to last start).
 *   Target on Redis and PostgreSQL: grouped ≥ 50% of ungrouped. A backend too slow for 100,000
 *   runs fewer (flow-backends.ts), and the output says so.
 * The other brokers' figures are reported. `memory` (named only) runs the same with three pumps on
 * one MemoryQueue in this process, as a smoke check. A drain that does not end within its time is
 * reported from what it handled, marked so.
 *
 *   npx tsx bench/flow.ts [redis|postgres|sqlite|amqp|nats|memory ...] [--messages=N] [--seconds=N]
 */
import { loadavg } from 'node:os';
import { childArgs } from './support/child.js';
import {
  backends,
  DEFAULT_BACKENDS,
  type FlowBackend,
  type FlowQueues,
  GROUPED_MESSAGES,
} from './support/flow-backends.js';
import { type Crew, inProcessCrew, processCrew } from './support/flow-crew.js';
import { CONCURRENCY, GROUP_CONCURRENCY, RATE_LIMIT } from './support/flow-settings.js';
import { merged, mostInAnyWindow, steadyRate, throughput } from './support/flow-windows.js';
import { type FlowMode, runWorkerProcess } from './support/flow-worker.js';
import { concurrently } from './support/load.js';
import { printTable } from './support/publish.js';
import { formatRate, machineLine } from './support/report.js';

const WORKERS = 3;
const GROUPS = 1_000;
const groupNames = (count: number) => Array.from({ length: count }, (_, i) => `tenant-${i}`);
const SENDS_IN_FLIGHT = 500;
/** How long a drain of the groups test may run before it is reported from what it handled. */
const DRAIN_TIMEOUT = 180_000;
const RATE_TARGET = 0.95;
/**
 * Handlers start a little after the limiter handed their message out, by a delay that varies with
 * the machine's load (a worker's whole fetch waits on its event loop): a window this much narrower,
 * the conformance suite's slack, tells such jitter at a window's edges from a limiter letting too
 * many by.
 */
const EDGE_SLACK = 50;
const GROUPED_TARGET = 0.5;

interface Drained {
  /** Every start, all workers merged, sorted. */
  starts: number[];
  messages: number;
  /** The machine's one-minute load average when the drain began. */
  load: number;
}

type Outcome = Drained | { error: string };

function option(name: string): number | undefined {
  const given = process.argv.find((arg) => arg.startsWith(`--${name}=`));
  return given === undefined ? undefined : Number(given.slice(name.length + 3));
}

async function prefill(
  queues: FlowQueues,
  name: string,
  mode: FlowMode,
  messages: number,
  groups: readonly string[],
): Promise<void> {
  const producer = queues.open(name);
  try {
    await concurrently(messages, SENDS_IN_FLIGHT, (i) =>
      producer.send(i, mode === 'grouped' ? { group: groups[i % groups.length]! } : undefined),
    );
  } finally {
    await queues.release(producer);
  }
}

async function until(crew: Crew, messages: number, timeout: number): Promise<void> {
  const deadline = Date.now() + timeout;
  while (crew.handled < messages && crew.failure === undefined && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** An error's message and its causes', which name what the broker said. */
function explain(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause === undefined ? error.message : `${error.message} (${explain(error.cause)})`;
}

/** Fills a fresh queue with `messages`, drains it with the workers, and purges it. */
async function drain(key: string, mode: FlowMode, messages: number, timeout: number): Promise<Outcome> {
  const backend = backends[key]!;
  const name = `bench-flow-${key}-${mode}-${process.pid}`;
  const groups = groupNames(backend.groups ?? GROUPS);
  let queues: FlowQueues | undefined;
  try {
    queues = await backend.queues();
    await queues.purge(name);
    await prefill(queues, name, mode, messages, groups);
    const crew = backend.inProcess
      ? inProcessCrew(queues, name, mode, WORKERS)
      : await processCrew(import.meta.url, key, name, mode, WORKERS);
    const load = loadavg()[0]!;
    let starts: number[];
    try {
      crew.go();
      await until(crew, messages, timeout);
    } finally {
      starts = merged(await crew.stop());
    }
    if (crew.failure !== undefined) throw crew.failure;
    return { starts, messages, load };
  } catch (error) {
    process.exitCode = 1;
    return { error: explain(error) };
  } finally {
    await queues?.purge(name).catch(() => {});
  }
}

const percent = (ratio: number) => `${(ratio * 100).toFixed(1)}%`;
const verdict = (met: boolean) => (met ? 'met' : 'MISSED');

/** Why a drain failed, listed under the tables (a table cell says `failed`). */
const failures: string[] = [];

function failed(backend: FlowBackend, what: string, outcome: { error: string }): string {
  failures.push(`${backend.label}, ${what}: ${outcome.error}`);
  return 'failed';
}

/** Messages per second, with how far the drain got when it did not end in time. */
function rateCell(drained: Drained): string {
  const rate = formatRate(throughput(drained.starts));
  const handled = drained.starts.length;
  return handled >= drained.messages ? rate : `${rate} (${formatRate(handled)} handled, timed out)`;
}

function groupsRow(backend: FlowBackend, messages: number, plain: Outcome, grouped: Outcome): string[] {
  const cells = [
    'error' in plain ? failed(backend, 'ungrouped', plain) : rateCell(plain),
    'error' in grouped ? failed(backend, 'grouped', grouped) : rateCell(grouped),
  ];
  const load = [plain, grouped].map((outcome) => ('error' in outcome ? '–' : outcome.load.toFixed(1)));
  if ('error' in plain || 'error' in grouped)
    return [backend.label, formatRate(messages), ...cells, '', '', load.join(' / ')];
  const ratio = throughput(grouped.starts) / throughput(plain.starts);
  return [
    backend.label,
    formatRate(messages),
    ...cells,
    percent(ratio),
    backend.targeted ? `≥ ${percent(GROUPED_TARGET)}: ${verdict(ratio >= GROUPED_TARGET)}` : 'reported',
    load.join(' / '),
  ];
}

function rateRow(backend: FlowBackend, messages: number, limited: Outcome): string[] {
  if ('error' in limited)
    return [backend.label, formatRate(messages), failed(backend, 'rate limit', limited), '', '', '', '', ''];
  const { perSecond, windows } = steadyRate(limited.starts, RATE_LIMIT.interval);
  const share = perSecond / RATE_LIMIT.limit;
  const most = mostInAnyWindow(limited.starts, RATE_LIMIT.interval);
  const mostWithSlack = mostInAnyWindow(limited.starts, RATE_LIMIT.interval - EDGE_SLACK);
  const fast = share >= RATE_TARGET;
  const met =
    fast && most > RATE_LIMIT.limit && mostWithSlack <= RATE_LIMIT.limit
      ? `MISSED (met with ${EDGE_SLACK} ms edge slack)`
      : verdict(fast && most <= RATE_LIMIT.limit);
  return [
    backend.label,
    formatRate(messages),
    windows > 0 ? `${formatRate(perSecond)} (${windows} s)` : 'no steady part',
    percent(share),
    formatRate(most),
    formatRate(mostWithSlack),
    backend.targeted ? `≥ ${percent(RATE_TARGET)}, ≤ ${formatRate(RATE_LIMIT.limit)}: ${met}` : 'reported',
    limited.load.toFixed(1),
  ];
}

async function main(): Promise<void> {
  const named = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
  const unknown = named.filter((key) => backends[key] === undefined);
  if (unknown.length > 0) {
    throw new Error(
      `unknown backend(s) ${unknown.join(', ')}: pick from ${Object.keys(backends).join(', ')}`,
    );
  }
  const keys = named.length > 0 ? named : DEFAULT_BACKENDS;
  const seconds = option('seconds') ?? 7;
  const rateMessages = RATE_LIMIT.limit * seconds;
  const groupsRows: string[][] = [];
  const rateRows: string[][] = [];
  const scaled: string[] = [];
  for (const key of keys) {
    const backend = backends[key]!;
    const messages = option('messages') ?? backend.groupedMessages;
    if (messages !== GROUPED_MESSAGES) scaled.push(`${backend.label}: ${formatRate(messages)} messages`);
    console.error(`${backend.label}: ungrouped, ${formatRate(messages)} messages…`);
    const plain = await drain(key, 'plain', messages, DRAIN_TIMEOUT);
    const groupCount = backend.groups ?? GROUPS;
    if (groupCount !== GROUPS) scaled.push(`${backend.label}: ${formatRate(groupCount)} groups`);
    console.error(
      `${backend.label}: ${formatRate(groupCount)} groups, groupConcurrency ${GROUP_CONCURRENCY}…`,
    );
    const grouped = await drain(key, 'grouped', messages, DRAIN_TIMEOUT);
    groupsRows.push(groupsRow(backend, messages, plain, grouped));
    console.error(`${backend.label}: rate limit, ${formatRate(rateMessages)} messages…`);
    const limited = await drain(key, 'rate', rateMessages, (seconds * 2 + 30) * 1000);
    rateRows.push(rateRow(backend, rateMessages, limited));
    await backend.queues().then(
      (queues) => queues.finish?.(),
      () => {}, // its drains reported why it did not load
    );
  }
  const [one, five] = loadavg();
  console.log(
    `\n## Flow control across ${WORKERS} worker processes (Pump concurrency ${CONCURRENCY} each)\n`,
  );
  console.log(
    `${machineLine()}; load average ${one!.toFixed(1)} (1 min), ${five!.toFixed(1)} (5 min) at the end: ` +
      'a shared machine, figures move with its load (the last column: 1-minute load when each drain began).',
  );
  console.log(`Command: \`npx tsx bench/flow.ts ${process.argv.slice(2).join(' ')}\`\n`);
  console.log(
    `### Rate limit ${formatRate(RATE_LIMIT.limit)} per ${formatRate(RATE_LIMIT.interval)} ms, queue pre-filled\n`,
  );
  printTable(
    `Flow control across ${WORKERS} worker processes (Pump concurrency ${CONCURRENCY} each): rate limit ${formatRate(RATE_LIMIT.limit)} per ${formatRate(RATE_LIMIT.interval)} ms, queue pre-filled`,
    [
      'backend',
      'messages',
      'steady msg/s',
      'of limit',
      'most in any 1 s',
      `most in any ${RATE_LIMIT.interval - EDGE_SLACK} ms`,
      'target',
      'load',
    ],
    rateRows,
  );
  console.log(
    `\n### ${formatRate(GROUPS)} groups, groupConcurrency ${GROUP_CONCURRENCY}, against the same queue ungrouped\n`,
  );
  printTable(
    `Flow control across ${WORKERS} worker processes: ${formatRate(GROUPS)} groups, groupConcurrency ${GROUP_CONCURRENCY}, against the same queue ungrouped`,
    ['backend', 'messages', 'ungrouped msg/s', 'grouped msg/s', 'grouped / ungrouped', 'target', 'load'],
    groupsRows,
  );
  if (scaled.length > 0)
    console.log(
      `\nScaled down from the issue's ${formatRate(GROUPED_MESSAGES)} messages and ${formatRate(GROUPS)} groups: ${scaled.join('; ')}.`,
    );
  if (failures.length > 0) console.log(`\nFailed:\n${failures.map((failure) => `- ${failure}`).join('\n')}`);
}

const args = childArgs();
if (args !== undefined) await runWorkerProcess(args);
else await main();
