/**
 * The workers of one bench/flow.ts run, seen from the bench: worker processes started from the
 * bench file (see flow-worker.ts for what they say), or, for an in-process backend, FlowWorkers on
 * the bench's own queue object.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { FlowQueues } from './flow-backends.js';
import { type FlowMode, FlowWorker } from './flow-worker.js';

export interface Crew {
  /** Every worker starts draining. */
  go(): void;
  /** Deliveries handled so far, all workers together (as last reported). */
  readonly handled: number;
  /** Why a worker stopped on its own, if one did. */
  readonly failure: Error | undefined;
  /** Stops every worker; resolves with each one's start times. */
  stop(): Promise<number[][]>;
}

/** How long a stopping worker may take to settle what it holds and report. */
const STOP_TIMEOUT = 30_000;

class WorkerProcess {
  handled = 0;
  failure: Error | undefined;
  readonly ready: Promise<void>;
  readonly result: Promise<number[]>;
  readonly #child: ChildProcessByStdio<Writable, Readable, null>;

  constructor(benchFile: string, args: string[]) {
    this.#child = spawn(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), benchFile, '--bench-child', ...args],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    let ready!: () => void;
    let result!: (starts: number[]) => void;
    let gone!: (error: Error) => void;
    this.ready = new Promise((resolve, reject) => {
      ready = resolve;
      this.#child.once('exit', (code) =>
        reject(new Error(`a worker exited with ${code} before it was ready`)),
      );
    });
    this.result = new Promise((resolve, reject) => {
      result = resolve;
      gone = reject;
    });
    this.ready.catch(() => {}); // surfaced by whoever awaits it
    this.result.catch(() => {});
    this.#child.once('exit', (code) => {
      if (code !== 0) this.failure ??= new Error(`a worker exited with ${code}`);
      gone(this.failure ?? new Error('a worker exited before it reported'));
    });
    createInterface({ input: this.#child.stdout }).on('line', (line) => {
      const space = line.indexOf(' ');
      const [word, rest] = space === -1 ? [line, ''] : [line.slice(0, space), line.slice(space + 1)];
      if (word === 'ready') ready();
      else if (word === 'progress') this.handled = Number(rest);
      else if (word === 'failed') this.failure = new Error(rest);
      else if (word === 'result') {
        try {
          result(JSON.parse(rest) as number[]);
        } catch (error) {
          this.failure = new Error(`a worker's result did not parse: ${(error as Error).message}`);
        }
      }
    });
  }

  tell(order: 'go' | 'stop'): void {
    this.#child.stdin.write(`${order}\n`);
  }

  async stop(): Promise<number[]> {
    this.tell('stop');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), STOP_TIMEOUT);
    try {
      return await this.result;
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    this.#child.kill('SIGKILL');
  }
}

/** Starts `count` worker processes of `backendKey` on `name`; resolves once all of them are ready. */
export async function processCrew(
  benchUrl: string,
  backendKey: string,
  name: string,
  mode: FlowMode,
  count: number,
): Promise<Crew> {
  const file = fileURLToPath(benchUrl);
  const workers = Array.from({ length: count }, () => new WorkerProcess(file, [backendKey, name, mode]));
  try {
    await Promise.all(workers.map((worker) => worker.ready));
  } catch (error) {
    for (const worker of workers) worker.kill();
    throw error;
  }
  return {
    go: () => {
      for (const worker of workers) worker.tell('go');
    },
    get handled() {
      return workers.reduce((sum, worker) => sum + worker.handled, 0);
    },
    get failure() {
      return workers.find((worker) => worker.failure !== undefined)?.failure;
    },
    stop: () => Promise.all(workers.map((worker) => worker.stop())),
  };
}

/** `count` FlowWorkers in this process, each on its own handle from `open(name)`. */
export function inProcessCrew(access: FlowQueues, name: string, mode: FlowMode, count: number): Crew {
  const queues = Array.from({ length: count }, () => access.open(name));
  const workers = queues.map((queue) => new FlowWorker(queue, mode));
  return {
    go: () => {
      for (const worker of workers) worker.start();
    },
    get handled() {
      return workers.reduce((sum, worker) => sum + worker.handled, 0);
    },
    get failure() {
      const failure = workers.find((worker) => worker.failure !== undefined)?.failure;
      return failure === undefined || failure instanceof Error ? failure : new Error(String(failure));
    },
    async stop() {
      const starts = await Promise.all(workers.map((worker) => worker.stop()));
      await Promise.all(queues.map((queue) => access.release(queue)));
      return starts;
    },
  };
}
