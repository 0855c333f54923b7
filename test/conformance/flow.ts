/**
 * What flow control (SPEC § 7) must prove on every queue, run unchanged against MemoryQueue and
 * each broker adapter:
 *
 *   const up = await brokerAvailable(harness.service);
 *   describe.runIf(up)('redis', () => flowSuite(redisHarness));
 *
 * On a broker the limits hold across processes, so the consumers the cases watch are child processes
 * (flow-child.ts) opening the queue through `harness.childModule`; with no child module (MemoryQueue,
 * whose limits hold in the process) they are pumps in this process, and the crash case is skipped.
 * Consumers report when each handler starts and ends (flow-consumer.ts); the cases check those
 * reports against the limits. Each case uses its own queue name; every consumer is killed, and every
 * queue closed and purged, after it.
 */
import { afterEach, describe } from 'vitest';
import type { Queue } from '../../src/queuing/types.js';
import type { Service } from '../support/broker.js';
import type { DurableQueueOptions } from './durable.js';
import type { FlowConsumerOptions, FlowMessage } from './flow-consumer.js';
import { fairnessCases } from './flow-fairness.js';
import { groupCases } from './flow-groups.js';
import { keptCases } from './flow-kept.js';
import { rateCases } from './flow-rate.js';
import { type FlowConsumer, inProcessConsumer, spawnFlowChild } from './flow-support.js';

/** The part of the durable suite's harness this suite uses (a `DurableHarness` fits as it is). */
export interface FlowHarness {
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
}

/** What each case file gets from the suite: fresh names, and what it opens or starts, ended after each test. */
export interface FlowContext {
  /** A fresh queue name for this test, purged afterwards. Letters, digits and dashes only. */
  queueName(label: string): string;
  open<T>(name: string, options?: DurableQueueOptions): Queue<T>;
  /** `count` consumers of `name` (processes when the harness has a child module), all draining. */
  consumers(
    name: string,
    count: number,
    options: FlowConsumerOptions & { queue?: DurableQueueOptions },
  ): Promise<FlowConsumer[]>;
}

export function flowSuite(harness: FlowHarness): void {
  describe(`flow control conformance: ${harness.name}`, () => {
    const opened: Queue<unknown>[] = [];
    const names: string[] = [];
    const started: FlowConsumer[] = [];

    const context: FlowContext = {
      queueName(label) {
        const name = `sluice-flow-${label}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
        names.push(name);
        return name;
      },
      open<T>(name: string, options: DurableQueueOptions = {}): Queue<T> {
        const queue = harness.open<T>(name, { closeTimeout: 1_000, ...options });
        opened.push(queue as Queue<unknown>);
        return queue;
      },
      async consumers(name, count, { queue: queueOptions = {}, ...options }) {
        const queue = { closeTimeout: 1_000, ...queueOptions };
        const module = harness.childModule;
        const consumers = await Promise.all(
          Array.from({ length: count }, async () => {
            const consumer =
              module === undefined
                ? inProcessConsumer(context.open<FlowMessage>(name, queue), options)
                : await spawnFlowChild(module, name, { ...options, queue });
            started.push(consumer);
            return consumer;
          }),
        );
        return consumers;
      },
    };

    afterEach(async () => {
      await Promise.allSettled(started.splice(0).map((consumer) => consumer.kill()));
      await Promise.allSettled(opened.splice(0).map((queue) => queue.close()));
      await Promise.all(names.splice(0).map((name) => harness.purge(name)));
    }, 60_000);

    rateCases(context);
    groupCases(harness, context);
    fairnessCases(context);
    keptCases(context);
  });
}
