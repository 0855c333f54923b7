/**
 * The flow suite's consumers, seen from the test: each keeps the events it reported, answers waits
 * for an event, takes commands, and can be killed. One runs in a child process (flow-child.ts) when
 * the harness has a child module, else in this process (MemoryQueue, whose limits hold per process).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Queue } from '../../src/queuing/types.js';
import type { DurableQueueOptions } from './durable.js';
import {
  consume,
  type FlowCommand,
  type FlowConsumerOptions,
  type FlowEvent,
  type FlowMessage,
} from './flow-consumer.js';

const childProgram = fileURLToPath(new URL('./flow-child.ts', import.meta.url));
const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface FlowConsumer {
  /** Every event reported so far, in the order reported. */
  readonly events: readonly FlowEvent[];
  /** Why it ended, once it did (a child process exited). */
  readonly failure: Error | undefined;
  /** The first event (already reported or to come) that `match` accepts. */
  waitFor(match: (event: FlowEvent) => boolean, timeoutMs: number, what: string): Promise<FlowEvent>;
  /** Sends `command`; resolves once the consumer reported it applied (`set`) or stopped. */
  command(command: FlowCommand, timeoutMs?: number): Promise<FlowEvent>;
  /** SIGKILL for a child process; for an in-process consumer, a stop. */
  kill(): Promise<void>;
}

/** Events of one consumer, with the waits on them; a failure (the child died) rejects every wait. */
class EventLog {
  readonly events: FlowEvent[] = [];
  #waits: { match: (event: FlowEvent) => boolean; found: (event: FlowEvent) => void }[] = [];
  #failure: Error | undefined;

  get failure(): Error | undefined {
    return this.#failure;
  }

  /** How many `set`/`stopped` events commands already claimed. */
  #answers = 0;

  push(event: FlowEvent): void {
    this.events.push(event);
    this.#waits = this.#waits.filter((wait) => {
      if (!wait.match(event)) return true;
      wait.found(event);
      return false;
    });
  }

  fail(error: Error): void {
    this.#failure ??= error;
    for (const wait of this.#waits.splice(0)) wait.found(undefined as never);
  }

  waitFor(match: (event: FlowEvent) => boolean, timeoutMs: number, what: string): Promise<FlowEvent> {
    const seen = this.events.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waits = this.#waits.filter((wait) => wait.found !== found);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const found = (event: FlowEvent) => {
        clearTimeout(timer);
        if (this.#failure !== undefined) reject(this.#failure);
        else resolve(event);
      };
      if (this.#failure !== undefined) found(undefined as never);
      else this.#waits.push({ match, found });
    });
  }

  /** The next answer to a command: its `set` or `stopped` event. */
  answer(timeoutMs: number): Promise<FlowEvent> {
    const index = this.#answers++;
    let seen = 0;
    const isAnswer = (event: FlowEvent) => event.event === 'set' || event.event === 'stopped';
    return this.waitFor((event) => isAnswer(event) && seen++ === index, timeoutMs, 'the command applied');
  }
}

/** Consumers start within this: a child process loads TypeScript first, on a loaded machine. */
const START_TIMEOUT = 45_000;

/** A consumer process on `name`; resolves once it is draining. */
export async function spawnFlowChild(
  module: string,
  name: string,
  options: FlowConsumerOptions & { queue?: DurableQueueOptions },
): Promise<FlowConsumer> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', childProgram, module, name, JSON.stringify(options)],
    {
      cwd: repositoryRoot,
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const log = new EventLog();
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  child.stdin.on('error', () => {}); // a killed child's closed pipe
  createInterface({ input: child.stdout }).on('line', (line) => log.push(JSON.parse(line) as FlowEvent));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      log.fail(new Error(`the consumer process exited (${signal ?? code}): ${stderr}`));
      resolve();
    });
  });
  const consumer: FlowConsumer = {
    events: log.events,
    get failure() {
      return log.failure;
    },
    waitFor: (match, timeoutMs, what) => log.waitFor(match, timeoutMs, what),
    command(command, timeoutMs = 10_000) {
      const answer = log.answer(timeoutMs);
      child.stdin.write(`${JSON.stringify(command)}\n`);
      return answer;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
  await log.waitFor((event) => event.event === 'ready', START_TIMEOUT, 'the consumer process to start');
  return consumer;
}

/** A consumer in this process, draining `queue`. */
export function inProcessConsumer(queue: Queue<FlowMessage>, options: FlowConsumerOptions): FlowConsumer {
  const log = new EventLog();
  const running = consume(queue, options, (event) => log.push(event));
  running.done.catch((error: unknown) => log.fail(error as Error));
  let stopped: Promise<unknown> | undefined;
  const consumer: FlowConsumer = {
    events: log.events,
    get failure() {
      return log.failure;
    },
    waitFor: (match, timeoutMs, what) => log.waitFor(match, timeoutMs, what),
    command(command, timeoutMs = 10_000) {
      const answer = log.answer(timeoutMs);
      if ('stop' in command) stopped ??= running.command(command);
      else running.command(command).catch((error: unknown) => log.fail(error as Error));
      return answer;
    },
    async kill() {
      stopped ??= running.command({ stop: true });
      await stopped;
    },
  };
  return consumer;
}

/** Every consumer's events of one kind, as one list sorted by time. */
export function eventsOf(consumers: readonly FlowConsumer[], kind: FlowEvent['event']): FlowEvent[] {
  return consumers
    .flatMap((consumer) => consumer.events.filter((event) => event.event === kind))
    .sort((a, b) => a.t - b.t);
}

/** The distinct message numbers whose handlers reported `kind`, across `consumers`. */
export function numbersOf(consumers: readonly FlowConsumer[], kind: FlowEvent['event']): Set<number> {
  return new Set(eventsOf(consumers, kind).map((event) => event.n!));
}

/**
 * Resolves once `condition()` holds, checked every few milliseconds; fails naming `what()` after
 * `timeoutMs`, or at once with the failure of any of `consumers` that ended.
 */
export async function eventually(
  condition: () => boolean,
  timeoutMs: number,
  what: () => string,
  consumers: readonly FlowConsumer[] = [],
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    const ended = consumers.find((consumer) => consumer.failure !== undefined);
    if (ended !== undefined) throw ended.failure;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Sends each message with its own group, in parallel batches (a backlog is sent fast). */
export async function sendAll(producer: Queue<FlowMessage>, messages: readonly FlowMessage[]): Promise<void> {
  for (let start = 0; start < messages.length; start += 200) {
    const batch = messages.slice(start, start + 200);
    await Promise.all(batch.map((message) => producer.send(message, { group: message.group })));
  }
}
