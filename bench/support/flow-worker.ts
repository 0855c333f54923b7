/**
 * One worker of bench/flow.ts: a Pump draining the queue into a no-op handler that records when
 * each dispatch started. In a worker process it takes its orders on stdin ('go', 'stop') and answers
 * on stdout ('ready', 'progress <handled>', 'failed <reason>', 'result <starts as JSON>').
 */
import { createInterface } from 'node:readline';
import type { Draining } from '../../src/queuing/pump/draining.js';
import type { DrainingOptions } from '../../src/queuing/pump/draining-options.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import type { Queue } from '../../src/queuing/types.js';
import { backends, type FlowQueues } from './flow-backends.js';
import { CONCURRENCY, GROUP_CONCURRENCY, RATE_LIMIT } from './flow-settings.js';

/** plain: no group, no limits; grouped: every message in a group, groupConcurrency; rate: rateLimit. */
export type FlowMode = 'plain' | 'grouped' | 'rate';

/** How often a worker process tells the bench how many it handled. */
const PROGRESS_EVERY = 100;

/** Messages a worker process drains on a queue of its own before it says it is ready. */
const WARM_UP = 1_000;

function drainingOptions(mode: FlowMode, rateLimit = RATE_LIMIT): DrainingOptions {
  if (mode === 'rate') return { concurrency: CONCURRENCY, rateLimit };
  if (mode === 'grouped') return { concurrency: CONCURRENCY, groupConcurrency: GROUP_CONCURRENCY };
  return { concurrency: CONCURRENCY };
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable across the machine's processes. */
const now = () => performance.timeOrigin + performance.now();

export class FlowWorker {
  readonly starts: number[] = [];
  /** Why the pump stopped on its own, once it did. */
  failure: unknown;
  #draining: Draining<number> | undefined;

  constructor(
    private readonly queue: Queue<number>,
    private readonly mode: FlowMode,
  ) {}

  get handled(): number {
    return this.starts.length;
  }

  /** Throws when the queue refuses the mode's limits. */
  start(onFailure: (error: unknown) => void = () => {}): void {
    this.#draining = new Pump(this.queue, () => {
      this.starts.push(now());
    }).draining(drainingOptions(this.mode));
    this.#draining.done.catch((error: unknown) => {
      this.failure = error;
      onFailure(error);
    });
  }

  /** Stops the pump (what is in flight is settled or released) and returns the start times. */
  async stop(): Promise<number[]> {
    await this.#draining?.stop().catch(() => {}); // its error, if any, is `failure` already
    return this.starts;
  }
}

/**
 * Runs the mode's path once over a queue of the worker's own, limits lifted out of the way: without
 * it, the first hand-outs of a cold process start their handlers tens of milliseconds late, and a
 * window read at handler start then catches them together with the next window's.
 */
async function warmUp(queues: FlowQueues, name: string, mode: FlowMode): Promise<void> {
  const queue = queues.open(name);
  await Promise.all(
    Array.from({ length: WARM_UP }, (_, n) =>
      queue.send(n, mode === 'grouped' ? { group: `g${n % 10}` } : {}),
    ),
  );
  let handled = 0;
  let resolve: () => void = () => {};
  const done = new Promise<void>((settle) => {
    resolve = settle;
  });
  const options = drainingOptions(mode, { limit: WARM_UP * 10, interval: 1_000 });
  const draining = new Pump(queue, () => {
    if (++handled === WARM_UP) resolve();
  }).draining(options);
  await done;
  await draining.stop();
  await queues.release(queue);
  await queues.purge(name);
}

const say = (line: string) => process.stdout.write(`${line}\n`);

/** Exits once `line` is written: a pipe takes a long line in several writes, which exit would cut. */
function sayLast(line: string, code: number): void {
  process.stdout.write(`${line}\n`, () => process.exit(code));
}

/** An error's name and message, and its causes', which name what the broker said. */
function reason(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const own = `${error.name}: ${error.message}`;
  return error.cause === undefined ? own : `${own} (${reason(error.cause)})`;
}

/** The worker process's side: `args` are the backend's key, the queue's name and the mode. */
export async function runWorkerProcess(args: readonly string[]): Promise<void> {
  const [key, name, mode] = args as [string, string, FlowMode];
  const queues = await backends[key]!.queues();
  await warmUp(queues, `${name}-warm-${process.pid}`, mode);
  const queue = queues.open(name);
  const worker = new FlowWorker(queue, mode);
  const failed = (error: unknown) => {
    sayLast(`failed ${reason(error).replaceAll('\n', ' ')}`, 1);
  };
  let progress: NodeJS.Timeout | undefined;
  say('ready');
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'go') {
      try {
        worker.start(failed);
      } catch (error) {
        failed(error);
      }
      progress = setInterval(() => say(`progress ${worker.handled}`), PROGRESS_EVERY);
    } else if (line === 'stop') {
      clearInterval(progress);
      const starts = await worker.stop();
      await queues.release(queue);
      // Tenths of a millisecond: the jitter the windows are read with is far larger.
      sayLast(`result ${JSON.stringify(starts.map((start) => Math.round(start * 10) / 10))}`, 0);
      return;
    }
  }
  process.exit(1); // the bench went away without a 'stop'
}
