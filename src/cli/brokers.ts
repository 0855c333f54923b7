/**
 * A broker URL to the adapter that serves it. Each adapter is imported only when its scheme is
 * used: broker clients are optional peers, and a user of one broker installs only its client.
 */
import { existsSync } from 'node:fs';
import { InvalidOptionError } from '../errors.js';
import type { JobStore } from '../jobs/store.js';
import type { OperableQueue } from '../queuing/operations.js';
import { BrokerClientMissingError, DatabaseFileMissingError } from './errors.js';

/** A queue as the program drives it: the operator face, and the topology for other languages' producers. */
export interface CliQueue extends OperableQueue<unknown> {
  readonly name: string;
  declare(): Promise<void>;
}

export interface Broker {
  queue(name: string): CliQueue;
  /** `undefined`: the broker keeps no job records (RabbitMQ). `name` undefined: the stores' default. */
  jobStore(name: string | undefined): JobStore | undefined;
  /** Every queue the broker holds, as its adapter finds them. */
  queueNames(): Promise<string[]>;
}

export interface OpenOptions {
  /** A `sqlite:` file may be created (declaring a queue in a new database); else a missing one is refused. */
  readonly create?: boolean;
}

const EXPECTED_URL =
  'a redis://, rediss://, postgres://, postgresql://, amqp://, amqps:// or nats:// URL, or sqlite:<file>';

export async function openBroker(url: string, { create = false }: OpenOptions = {}): Promise<Broker> {
  const scheme = /^([a-z]+):/.exec(url)?.[1];
  switch (scheme) {
    case 'redis':
    case 'rediss': {
      const redis = await load(`${scheme}:`, () => import('../transports/redis/index.js'));
      return {
        queue: (name) => new redis.RedisQueue<unknown>(name, { url }),
        jobStore: (name) => new redis.RedisJobStore(name === undefined ? { url } : { url, name }),
        queueNames: () => redis.queueNames({ url }),
      };
    }
    case 'postgres':
    case 'postgresql': {
      const postgres = await load(`${scheme}:`, () => import('../transports/postgres/index.js'));
      return {
        queue: (name) => new postgres.PostgresQueue<unknown>(name, { url }),
        jobStore: (name) => new postgres.PostgresJobStore(name === undefined ? { url } : { url, name }),
        queueNames: () => postgres.queueNames({ url }),
      };
    }
    case 'amqp':
    case 'amqps': {
      const amqp = await load(`${scheme}:`, () => import('../transports/amqp/index.js'));
      return {
        queue: (name) => new amqp.AmqpQueue<unknown>(name, { url }),
        jobStore: () => undefined,
        queueNames: () => amqp.queueNames({ url }),
      };
    }
    case 'nats': {
      const nats = await load(`${scheme}:`, () => import('../transports/nats/index.js'));
      return {
        queue: (name) => new nats.NatsQueue<unknown>(name, { url }),
        jobStore: (name) => new nats.NatsJobStore(name === undefined ? { url } : { url, name }),
        queueNames: () => nats.queueNames({ url }),
      };
    }
    case 'sqlite': {
      const path = url.slice('sqlite:'.length);
      if (path.length === 0) throw new InvalidOptionError('url', url, EXPECTED_URL);
      if (!create && !existsSync(path)) throw new DatabaseFileMissingError(path);
      const sqlite = await load(`${scheme}:`, () => import('../transports/sqlite/index.js'));
      return {
        queue: (name) => new sqlite.SqliteQueue<unknown>(name, { path }),
        jobStore: (name) => new sqlite.SqliteJobStore(name === undefined ? { path } : { path, name }),
        queueNames: () => sqlite.queueNames({ path }),
      };
    }
    default:
      throw new InvalidOptionError('url', url, EXPECTED_URL);
  }
}

/** Imports an adapter; a missing client package is named, with the command that installs it. */
async function load<M>(scheme: string, adapter: () => Promise<M>): Promise<M> {
  try {
    return await adapter();
  } catch (error) {
    // Node names a missing package `Cannot find package 'ioredis' imported from …`; a missing file
    // of sluice itself is named by its path and is no client to install.
    const missing = /Cannot find package '([^'./][^']*)'/.exec(String((error as Error)?.message));
    if ((error as NodeJS.ErrnoException)?.code !== 'ERR_MODULE_NOT_FOUND' || missing === null) throw error;
    throw new BrokerClientMissingError(scheme, missing[1]!);
  }
}
