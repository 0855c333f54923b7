/**
 * What the operations suite's files share: the harness it takes, the per-test context, and helpers
 * that wait for a queue's counts or read all of its dead letters.
 */
import { expect } from 'vitest';
import {
  type DeadLetter,
  OPERATOR_METHODS,
  type OperableQueue,
  type QueueStats,
} from '../../src/queuing/operations.js';
import type { Delivery, Queue } from '../../src/queuing/types.js';
import { sleep, within } from '../support/async.js';
import type { Service } from '../support/broker.js';
import type { DurableQueueOptions } from './durable.js';

/**
 * The durable suite's harness shape (a `DurableHarness` fits as it is), minus what the operations
 * suite does not use. MemoryQueue's harness returns the same in-process queue for the same name and
 * has no `childModule`: the cases that need a second process are skipped then.
 */
export interface OperationsHarness {
  /** 'redis': used in test names. */
  name: string;
  /** For brokerAvailable() from test/support/broker.ts. */
  service?: Service;
  /** A handle on the named queue, an `OperableQueue`; `${name}.dead` is its default dead-letter queue. */
  open<T>(name: string, options?: DurableQueueOptions): Queue<T>;
  /** Deletes every trace of the queue and of `${name}.dead`. */
  purge(name: string): Promise<void>;
  /** Absolute path of a module exporting `open(name, options)` like above, for child processes. */
  childModule?: string;
  /**
   * The broker's delivery count is the attempt, and it counts what sluice cannot take back
   * (JetStream): a message nacked for a retry is in flight until it is delivered again, and a retry
   * a consumer had fetched when a pause arrived counts that delivery once handed back. The cases
   * then check `ready + inFlight`, and an attempt of at least the expected one.
   */
  retriesCountInFlight?: boolean;
}

/** What each case file gets from the suite: fresh names, and handles closed after each test. */
export interface OperationsContext {
  /** A fresh queue name for this test, purged afterwards. Letters, digits and dashes only. */
  queueName(label: string): string;
  open<T>(name: string, options?: DurableQueueOptions): OperableQueue<T>;
}

export interface Numbered {
  n: number;
}

export function operable<T>(queue: Queue<T>): OperableQueue<T> {
  const candidate = queue as Partial<OperableQueue<T>>;
  for (const method of OPERATOR_METHODS) {
    if (typeof candidate[method] !== 'function') {
      throw new Error(`the queue has no ${method}(): it is not an OperableQueue`);
    }
  }
  return queue as OperableQueue<T>;
}

/**
 * Waits until `stats()` shows `expected` (a broker may take a moment to count a settle made on
 * another connection), then asserts it, so a failure shows the counts that differ.
 */
export async function statsBecome(
  queue: OperableQueue<unknown>,
  expected: Partial<QueueStats>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const matches = (stats: QueueStats) =>
    Object.entries(expected).every(([key, value]) => stats[key as keyof QueueStats] === value);
  let stats = await queue.stats();
  while (!matches(stats) && Date.now() < deadline) {
    await sleep(50);
    stats = await queue.stats();
  }
  expect(stats).toMatchObject(expected);
}

/** Every dead letter of `queue`, page after page. */
export async function allDeadLetters<T>(queue: OperableQueue<T>): Promise<DeadLetter<T>[]> {
  const letters: DeadLetter<T>[] = [];
  for (;;) {
    const after = letters.at(-1)?.id;
    const page = await queue.deadLetters(after === undefined ? { limit: 1_000 } : { limit: 1_000, after });
    letters.push(...page);
    if (page.length < 1_000) return letters;
  }
}

/** A consumer that acks what it gets and keeps the messages in arrival order, until stopped. */
export interface Collector<T> {
  readonly messages: T[];
  readonly attempts: number[];
  /** Resolves once `count` messages in all arrived (fails after `timeoutMs`). */
  reach(count: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export function collect<T>(queue: AsyncIterable<Delivery<T>>): Collector<T> {
  const iterator = queue[Symbol.asyncIterator]();
  const messages: T[] = [];
  const attempts: number[] = [];
  let failure: unknown;
  const loop = (async () => {
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      messages.push(next.value.message);
      attempts.push(next.value.attempt);
      await next.value.ack();
    }
  })().catch((error: unknown) => {
    failure = error;
  });
  return {
    messages,
    attempts,
    async reach(count, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < count && failure === undefined && Date.now() < deadline) await sleep(20);
      if (failure !== undefined) throw failure;
      if (messages.length < count) {
        throw new Error(`collected ${messages.length} of ${count} messages in ${timeoutMs} ms`);
      }
    },
    async stop() {
      await iterator.return?.();
      await within(loop, 10_000, () => 'the collector to end once its iterator was returned');
      if (failure !== undefined) throw failure;
    },
  };
}

/** The messages' numbers in ascending order, for cases where only the set matters. */
export function numbers(messages: readonly Numbered[]): number[] {
  return messages.map((message) => message.n).sort((a, b) => a - b);
}
