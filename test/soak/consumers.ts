import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { sleep } from '../support/async.js';
import type { Random } from '../support/random.js';

const program = fileURLToPath(new URL('./soak-consumer.ts', import.meta.url));
const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));
/** How much of a consumer's stderr is kept for the report of one that stopped. */
const STDERR_TAIL = 4_000;
/** How long a consumer told to stop (SIGTERM) may take to close before it is killed. */
const STOP_GRACE_MS = 10_000;

export interface ConsumerSetup {
  /** The harness module the consumer opens the queue through (`childModule`). */
  module: string;
  queue: string;
  options: object;
}

/** A consumer process that ended although nobody killed or stopped it. */
export interface ConsumerStop {
  pid: number;
  /** What it printed (`stopped`), else how it exited and the end of its stderr. */
  why: string;
}

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
  /** The soak killed or stopped it: its exit is not a consumer giving up. */
  ended: boolean;
}

/**
 * The soak's consumer processes: started, killed at random and replaced. Each message they report
 * handled goes to `handled`; one that stops by itself goes to `stopped` and is replaced.
 */
export class Consumers {
  kills = 0;
  /** Handlings that failed on purpose (and were nacked). */
  failures = 0;
  readonly #running = new Set<Running>();
  #closing = false;

  constructor(
    private readonly setup: ConsumerSetup,
    private readonly random: Random,
    private readonly handled: (n: number) => void,
    private readonly stopped: (stop: ConsumerStop) => void,
  ) {}

  start(): void {
    const { module, queue, options } = this.setup;
    const seed = String(this.random.int(2 ** 31));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', program, module, queue, JSON.stringify(options), seed],
      { cwd: repositoryRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    let printedStop: string | undefined;
    child.stderr!.on('data', (chunk) => {
      stderr = (stderr + chunk).slice(-STDERR_TAIL);
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const report = JSON.parse(line) as { n?: number; failed?: number; stopped?: string };
      if (report.n !== undefined) this.handled(report.n);
      if (report.failed !== undefined) this.failures++;
      if (report.stopped !== undefined) printedStop = report.stopped;
    });
    const running: Running = {
      child,
      ended: false,
      exited: new Promise((resolve) => {
        child.once('close', (code, signal) => {
          this.#running.delete(running);
          if (!running.ended) {
            const why = printedStop ?? `exited with ${signal ?? `code ${code}`}; stderr: ${stderr.trim()}`;
            this.stopped({ pid: child.pid!, why });
            if (!this.#closing) this.start();
          }
          resolve();
        });
      }),
    };
    this.#running.add(running);
  }

  /** SIGKILLs one consumer chosen at random, as a crash would, and starts another in its place. */
  async killOne(): Promise<void> {
    const victim = this.random.pick([...this.#running]);
    if (victim === undefined) return;
    victim.ended = true;
    victim.child.kill('SIGKILL');
    this.kills++;
    await victim.exited;
    if (!this.#closing) this.start();
  }

  /** Asks every consumer to stop, kills those that take too long, and starts no more. */
  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(
      [...this.#running].map(async (running) => {
        running.ended = true;
        running.child.kill('SIGTERM');
        const outcome = await Promise.race([running.exited.then(() => 'exited'), sleep(STOP_GRACE_MS)]);
        if (outcome !== 'exited') running.child.kill('SIGKILL');
        await running.exited;
      }),
    );
  }
}
