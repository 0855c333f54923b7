import type { Redis } from 'ioredis';
import { retentionOf } from '../../jobs/retention.js';
import type {
  JobChange,
  JobEnd,
  JobListener,
  JobRecord,
  JobStore,
  NewJobRecord,
  Unsubscribe,
} from '../../jobs/store.js';
import {
  type BrokerJobStoreOptions,
  type ResolvedJobStoreOptions,
  resolveJobStoreOptions,
} from '../shared/job-store-options.js';
import { Connection } from './connection.js';
import { failure } from './errors.js';
import { JobBatches } from './job-batches.js';
import { failuresLimit, recentFailures } from './job-failures.js';
import { JobFeed } from './job-feed.js';
import { changeOfValues, hashOfFields, jsonField, recordOfHash } from './job-hash.js';
import { type JobScriptCommands, withJobScripts } from './job-scripts.js';
import { assertConnectionOptions, assertNoBrace, type RedisConnectionOptions } from './options.js';

/** The options of {@link RedisJobStore}: where Redis is, the store's name and its retention. */
export interface RedisJobStoreOptions extends BrokerJobStoreOptions, RedisConnectionOptions {}

/**
 * Jobs' records in Redis, seen by every process using the same Redis and store name. A record is
 * a hash `sluice-jobs:{<name>}:<id>` (one hash tag: a store's scripts touch many jobs at once).
 * The writes of one tick go in one script call per kind, each write conditional on the job not
 * having ended, announcing what changed on the channel `sluice-jobs:{<name>}:changes` (and cancels
 * on `…:cancels`), so a handle waited on follows the job without polling. An ended job's hash
 * expires after its retention (PEXPIRE). Records are as durable as the Redis keeping them: with
 * snapshots or an append-only file, they survive a restart. docs/job-store.md gives the guarantees.
 *
 * @example
 * ```ts
 * import { Jobs } from 'sluice';
 * import { RedisJobStore } from 'sluice/redis';
 *
 * const jobs = new Jobs({ store: new RedisJobStore({ url: 'redis://127.0.0.1:6379' }) });
 * ```
 */
export class RedisJobStore implements JobStore {
  readonly #options: ResolvedJobStoreOptions;
  readonly #connection: Connection;
  readonly #client: Redis & JobScriptCommands;
  readonly #prefix: string;
  readonly #changes: string;
  readonly #cancels: string;
  /** The failures index: a key no job's id can name (job-failures.ts). */
  readonly #failures: string;
  readonly #feed: JobFeed;
  readonly #creates: JobBatches<string[] | 0>;
  readonly #starts: JobBatches<string[]>;
  readonly #updates: JobBatches<number>;
  readonly #finishes: JobBatches<number>;

  /**
   * Checks the options and makes the store; it connects on first use.
   * @throws {@link sluice!InvalidOptionError | InvalidOptionError} when an option cannot work (a
   * name holding `}` or over 200 characters, both `url` and `client`, a malformed URL...)
   */
  constructor(options: RedisJobStoreOptions = {}) {
    // The longest key, a job's, holds the name and an id of at most 255 characters.
    this.#options = resolveJobStoreOptions(options, 200);
    assertNoBrace('name', this.#options.name);
    assertConnectionOptions(options);
    const { name } = this.#options;
    this.#connection = new Connection({ url: options.url, client: options.client }, `jobs:${name}`, true);
    this.#client = withJobScripts(this.#connection.client);
    this.#prefix = `sluice-jobs:{${name}}:`;
    this.#changes = `sluice-jobs:{${name}}:changes`;
    this.#cancels = `sluice-jobs:{${name}}:cancels`;
    this.#failures = `sluice-jobs-failures:{${name}}`;
    this.#feed = new JobFeed(
      () => this.#connection.duplicate(`jobs:${name}:feed`),
      { changes: this.#changes, cancels: this.#cancels },
      (id) => this.get(id),
    );
    const client = this.#client;
    this.#creates = new JobBatches(
      () => [],
      (keys, args) => client.sluiceJobCreate(keys.length, ...keys, ...args),
    );
    this.#starts = new JobBatches(
      () => [this.#changes, String(Date.now())],
      (keys, args) => client.sluiceJobStart(keys.length, ...keys, ...args),
    );
    this.#updates = new JobBatches(
      () => [this.#changes],
      (keys, args) => client.sluiceJobUpdate(keys.length, ...keys, ...args),
    );
    this.#finishes = new JobBatches(
      () => [this.#changes, this.#cancels, String(Date.now()), this.#failures],
      (keys, args) => client.sluiceJobFinish(keys.length, ...keys, ...args),
    );
  }

  async create(record: NewJobRecord): Promise<JobRecord | undefined> {
    const { id, task, args, status, createdAt, metadata } = record;
    const kept = await this.#run('create a job', () =>
      this.#creates.call(this.#key(id), [
        id,
        task,
        JSON.stringify(args),
        status,
        String(createdAt),
        jsonField(metadata),
      ]),
    );
    return kept === 0 ? undefined : recordOfHash(id, hashOfFields(kept));
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const fields = await this.#run('read a job', () => this.#client.hgetall(this.#key(id)));
    return fields.status === undefined ? undefined : recordOfHash(id, fields);
  }

  async start(id: string, fallback: NewJobRecord): Promise<JobChange> {
    const values = await this.#run('start a job', () =>
      this.#starts.call(this.#key(id), [
        id,
        fallback.task,
        JSON.stringify(fallback.args),
        String(fallback.createdAt),
      ]),
    );
    return changeOfValues(id, values);
  }

  async retrying(id: string): Promise<void> {
    await this.#run('mark a job for retry', () =>
      this.#updates.call(this.#key(id), [id, 'status', 'scheduled']),
    );
  }

  async progress(id: string, value: unknown): Promise<void> {
    await this.#run("record a job's progress", () =>
      this.#updates.call(this.#key(id), [id, 'progress', jsonField(value)]),
    );
  }

  async finish(id: string, end: JobEnd): Promise<boolean> {
    const ended = await this.#run('end a job', () =>
      this.#finishes.call(this.#key(id), [
        id,
        end.status,
        jsonField(end.result),
        jsonField(end.error),
        String(retentionOf(this.#options.retention, end.status)),
      ]),
    );
    return ended === 1;
  }

  async remove(id: string): Promise<void> {
    await this.#run('remove a job', () => this.#client.del(this.#key(id)));
  }

  /**
   * The kept records of jobs that ended `failed`, `timeout` or `cancelled`, most recently ended
   * first, at most `limit` (default 20, at most 1,000). Read from the store's failures index: about
   * `limit` records are read, whatever the store holds.
   */
  async recentFailures(options?: { limit?: number }): Promise<JobRecord[]> {
    const limit = failuresLimit(options);
    return this.#run('read the failed jobs', () =>
      recentFailures(this.#client, this.#prefix, this.#failures, limit),
    );
  }

  watch(id: string, listener: JobListener): Promise<Unsubscribe> {
    return this.#feed.watch(id, listener);
  }

  onCancel(listener: (id: string) => void): Promise<Unsubscribe> {
    return this.#feed.onCancel(listener);
  }

  /** Stops following notifications and closes the connections the store opened (not a given `client`). */
  async close(): Promise<void> {
    this.#feed.close();
    await this.#connection.close(1_000);
  }

  #key(id: string): string {
    return this.#prefix + id;
  }

  /** Waits for the first connection; afterwards an outage fails at once (BrokerUnavailableError). */
  async #run<R>(operation: string, command: () => Promise<R>): Promise<R> {
    await this.#connection.ready(`${operation} in job store ${this.#options.name}`);
    try {
      return await command();
    } catch (error) {
      throw failure(`${operation} in job store ${this.#options.name}`, error);
    }
  }
}
