/**
 * The consumer the flow suite runs, in a child process (flow-child.ts) or in the test's own process
 * (MemoryQueue): a pump draining the queue with flow limits, whose handler reports when each message
 * starts and ends. It must not import vitest: a child process loads it too.
 */
import { Pump } from '../../src/queuing/pump/pump.js';
import type { Queue, RateLimit } from '../../src/queuing/types.js';

/** What the suite sends: `group` repeats the send's group, so the handler can report it. */
export interface FlowMessage {
  readonly n: number;
  readonly group?: string;
}

export interface FlowEvent {
  /**
   * `ready`: draining; `start`/`end`: a handler began or finished (`end` is reported before the
   * pump acks, so a message's slot is held from before its `start` until after its `end`); `set`:
   * a limit change was applied; `stopped`: the draining stopped.
   */
  readonly event: 'ready' | 'start' | 'end' | 'set' | 'stopped';
  readonly n?: number;
  /** The message's group; null for the default group. */
  readonly group?: string | null;
  readonly attempt?: number;
  /** Milliseconds since the epoch with sub-millisecond precision, comparable across processes. */
  readonly t: number;
  readonly pid: number;
}

export interface FlowConsumerOptions {
  readonly concurrency?: number;
  readonly rateLimit?: RateLimit;
  readonly groupConcurrency?: number;
  /** Milliseconds each handler holds its message before it returns. Default 0. */
  readonly hold?: number;
  /** Messages (by `n`) whose first attempt the handler never finishes: the process is to be killed. */
  readonly stuck?: readonly number[];
}

/** A limit change (null removes a limit: JSON has no undefined), or the end of the draining. */
export type FlowCommand =
  | { readonly set: { readonly rateLimit?: RateLimit | null; readonly groupConcurrency?: number | null } }
  | { readonly stop: true };

export interface RunningConsumer {
  command(command: FlowCommand): Promise<void>;
  /** Rejects with what stopped the draining: the queue failed it. */
  readonly done: Promise<void>;
}

/** The wall clock with the monotonic clock's precision: the same scale in every process. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** Starts draining `queue` under `options`, reporting each event to `report`. */
export function consume(
  queue: Queue<FlowMessage>,
  options: FlowConsumerOptions,
  report: (event: FlowEvent) => void,
): RunningConsumer {
  const { concurrency = 1, rateLimit, groupConcurrency, hold = 0, stuck = [] } = options;
  const pump = new Pump(queue, async (message: FlowMessage, context) => {
    const { n, group = null } = message;
    report({ event: 'start', n, group, attempt: context.attempt, t: now(), pid: process.pid });
    if (context.attempt === 1 && stuck.includes(n)) await new Promise(() => {});
    if (hold > 0) await new Promise((resolve) => setTimeout(resolve, hold));
    report({ event: 'end', n, group, attempt: context.attempt, t: now(), pid: process.pid });
  });
  const draining = pump.draining({ concurrency, rateLimit, groupConcurrency });
  report({ event: 'ready', t: now(), pid: process.pid });
  return {
    done: draining.done,
    async command(command) {
      if ('stop' in command) {
        await draining.stop();
        report({ event: 'stopped', t: now(), pid: process.pid });
        return;
      }
      const limits = command.set;
      if ('rateLimit' in limits) draining.rateLimit = limits.rateLimit ?? undefined;
      if ('groupConcurrency' in limits) draining.groupConcurrency = limits.groupConcurrency ?? undefined;
      report({ event: 'set', t: now(), pid: process.pid });
    },
  };
}
