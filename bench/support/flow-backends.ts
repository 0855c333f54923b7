/**
 * The queues bench/flow.ts drives: each opens a handle the way the conformance harness does (so a
 * child process opens the same queue) and purges what a run left, with the harness's own purge.
 * A backend's modules load only when it runs, so one backend's trouble leaves the others runnable.
 * MemoryQueue runs in the bench's process only (its limits are per process): a smoke check.
 */
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import type { Queue } from '../../src/queuing/types.js';

export interface FlowBackend {
  readonly label: string;
  /** Whether the targets apply to it (else its figures are reported only). */
  readonly targeted: boolean;
  /** Messages of the groups test unless `--messages` says otherwise. */
  readonly groupedMessages: number;
  /** Groups of the groups test, when not the 1,000. */
  readonly groups?: number;
  /** Workers share the bench's process (and the queue object) instead of running as processes. */
  readonly inProcess?: boolean;
  /** Loads what reaches the backend. */
  queues(): Promise<FlowQueues>;
}

export interface FlowQueues {
  open(name: string): Queue<number>;
  /** Lets go of a handle `open` returned. */
  release(queue: Queue<number>): Promise<void>;
  /** Removes every trace of the queue and of its dead letters, flow-control state included. */
  purge(name: string): Promise<void>;
  /** Removes what the backend keeps beyond queues, once every run is over. */
  finish?(): void;
}

/** The size for the groups test; a backend too slow for it names a smaller one. */
export const GROUPED_MESSAGES = 100_000;

const closing = (queue: Queue<number>) => queue.close();

async function redisQueues(): Promise<FlowQueues> {
  const redis = await import('../../test/transports/redis-harness.js');
  return { open: (name) => redis.open<number>(name), release: closing, purge: (name) => redis.purge(name) };
}

async function postgresQueues(): Promise<FlowQueues> {
  const postgres = await import('../../test/transports/postgres-harness.js');
  return {
    open: (name) => postgres.open<number>(name),
    release: closing,
    purge: (name) => postgres.purge(name),
  };
}

/** The database file is the harness's, named after the bench's process and inherited by its workers. */
async function sqliteQueues(): Promise<FlowQueues> {
  const sqlite = await import('../../test/transports/sqlite-harness.js');
  return {
    open: (name) => sqlite.open<number>(name),
    release: closing,
    purge: (name) => sqlite.purge(name),
    finish: () => sqlite.removeDatabase(),
  };
}

async function amqpQueues(): Promise<FlowQueues> {
  const amqp = await import('../../test/transports/amqp-harness.js');
  return { open: (name) => amqp.open<number>(name), release: closing, purge: (name) => amqp.purge(name) };
}

async function natsQueues(): Promise<FlowQueues> {
  const nats = await import('../../test/transports/nats-harness.js');
  return { open: (name) => nats.open<number>(name), release: closing, purge: (name) => nats.purge(name) };
}

/** One MemoryQueue per name, shared by the producer and every worker until purged. */
async function memoryQueues(): Promise<FlowQueues> {
  const queues = new Map<string, MemoryQueue<number>>();
  return {
    open(name) {
      const queue = queues.get(name) ?? new MemoryQueue<number>({ name });
      queues.set(name, queue);
      return queue;
    },
    release: async () => {},
    async purge(name) {
      await queues.get(name)?.close();
      queues.delete(name);
    },
  };
}

export const backends: Record<string, FlowBackend> = {
  redis: { label: 'Redis', targeted: true, groupedMessages: GROUPED_MESSAGES, queues: redisQueues },
  postgres: {
    label: 'PostgreSQL',
    targeted: true,
    groupedMessages: GROUPED_MESSAGES,
    queues: postgresQueues,
  },
  sqlite: { label: 'SQLite', targeted: false, groupedMessages: GROUPED_MESSAGES, queues: sqliteQueues },
  // A group is a queue of its own on RabbitMQ, holding open files: 1,000 of them outgrow a broker
  // left at its default file limit.
  amqp: { label: 'RabbitMQ', targeted: false, groupedMessages: 20_000, groups: 100, queues: amqpQueues },
  // Grouped hand-outs ran at about 500/s here: 100,000 would outlast the drain's time.
  nats: { label: 'NATS', targeted: false, groupedMessages: 20_000, queues: natsQueues },
  memory: {
    label: 'MemoryQueue (in-process smoke check)',
    targeted: false,
    groupedMessages: GROUPED_MESSAGES,
    inProcess: true,
    queues: memoryQueues,
  },
};

/** What runs when no backend is named: every broker, not the in-process smoke check. */
export const DEFAULT_BACKENDS = ['redis', 'postgres', 'sqlite', 'amqp', 'nats'];
