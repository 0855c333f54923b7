import { keyQueueName } from '../../src/transports/amqp/topology.js';
import type { DurableHarness } from '../conformance/durable.js';
import * as amqp from '../transports/amqp-harness.js';
import * as nats from '../transports/nats-harness.js';
import * as postgres from '../transports/postgres-harness.js';
import * as redis from '../transports/redis-harness.js';
import * as sqlite from '../transports/sqlite-harness.js';

/** What a run left on the broker besides the queue and its dead-letter queue. */
export interface Leftovers {
  keys: string[];
  delays: number[];
}

/** A broker the soak runs against: the durable suite's harness, and what the harness leaves to its callers. */
export interface SoakBroker {
  harness: DurableHarness;
  /**
   * Takes the lock the broker's test files hold for their whole run, if they do, and resolves with
   * its release: the soak holds it for its whole run on the broker too, so that its restart cuts no
   * test file off and no test file's restart cuts the soak.
   */
  hold?(): Promise<() => unknown>;
  purge(name: string, leftovers: Leftovers): Promise<void>;
  /** Called once the soak is done with the broker. */
  finish?(): void;
}

export const brokers: Record<string, SoakBroker> = {
  redis: {
    harness: redis.redisHarness,
    hold: () => redis.lockRedis(),
    purge: (name) => redis.purge(name),
  },
  postgres: {
    harness: postgres.postgresHarness, // its restart takes the lock of the PostgreSQL test files itself
    purge: (name) => postgres.purge(name),
  },
  amqp: {
    harness: amqp.amqpHarness,
    hold: () => amqp.leaseRabbit(), // the restart waits until no other file holds a lease
    // Key markers and delay queues are queues of their own: left behind, they would pile up.
    purge: async (name, { keys, delays }) => {
      await amqp.purge(name);
      await amqp.deleteQueues(
        ...keys.map((key) => keyQueueName(name, key)),
        ...delays.map((delay) => `${name}.delay.${delay}`),
      );
    },
  },
  nats: {
    harness: nats.natsHarness,
    hold: () => nats.lockNatsServer(),
    purge: (name) => nats.purge(name),
  },
  sqlite: {
    harness: sqlite.sqliteHarness,
    purge: (name) => sqlite.purge(name),
    finish: () => sqlite.removeDatabase(),
  },
};
