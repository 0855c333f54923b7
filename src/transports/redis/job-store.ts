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
import { JobFeed } from './job-feed.js';
import { changeOfValues, jsonField, recordOfHash } from './job-hash.js';
import { type JobScriptCommands, withJobScripts } from './job-scripts.js';
import { assertConnectionOptions, assertNoBrace, type RedisConnectionOptions } from './options.js';

export interface RedisJobStoreOptions extends BrokerJobStoreOptions, RedisConnectionOptions {}

/**
 * Jobs' records in Redis, seen by every process using the same Redis and store name. A record is
 * a hash `sluice-jobs:{<name>}:<id>`; every write is one script, conditional on the job not having
 * ended, that announces the new record on the channel `sluice-jobs:{<name>}:changes` (and a
 * cancel on `…:cancels`), so a handle waited on follows the job without polling. An ended job's
 * hash expires after its retention (PEXPIRE). Records are as durable as the Redis keeping them:
 * with snapshots or an append-only file, they survive a restart.
 */
export class RedisJobStore implements JobStore {
  readonly #options: ResolvedJobStoreOptions;
  readonly #connection: Connection;
  readonly #client: Redis & JobScriptCommands;
  readonly #prefix: string;
  readonly #changes: string;
  readonly #cancels: string;
  readonly #feed: JobFeed;

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
    this.#feed = new JobFeed(
      () => this.#connection.duplicate(`jobs:${name}:feed`),
      { changes: this.#changes, cancels: this.#cancels },
      (id) => this.get(id),
    );
  }

  async create(record: NewJobRecord): Promise<JobRecord | undefined> {
    const { id, task, args, status, createdAt, metadata } = record;
    const kept = await this.#run('create a job', () =>
      this.#client.sluiceJobCreate(
        this.#key(id),
        id,
        this.#changes,
        task,
        JSON.stringify(args),
        status,
        String(createdAt),
        jsonField(metadata),
      ),
    );
    return kept === null ? undefined : recordOfHash(id, kept);
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const fields = await this.#run('read a job', () => this.#client.hgetall(this.#key(id)));
    return Object.keys(fields).length === 0 ? undefined : recordOfHash(id, Object.entries(fields).flat());
  }

  async start(id: string, fallback: NewJobRecord): Promise<JobChange> {
    const values = await this.#run('start a job', () =>
      this.#client.sluiceJobStart(
        this.#key(id),
        id,
        this.#changes,
        String(Date.now()),
        fallback.task,
        JSON.stringify(fallback.args),
        String(fallback.createdAt),
      ),
    );
    return changeOfValues(id, values);
  }

  async retrying(id: string): Promise<void> {
    await this.#run('mark a job for retry', () =>
      this.#client.sluiceJobUpdate(this.#key(id), id, this.#changes, 'status', 'scheduled'),
    );
  }

  async progress(id: string, value: unknown): Promise<void> {
    await this.#run("record a job's progress", () =>
      this.#client.sluiceJobUpdate(this.#key(id), id, this.#changes, 'progress', jsonField(value)),
    );
  }

  async finish(id: string, end: JobEnd): Promise<boolean> {
    const ended = await this.#run('end a job', () =>
      this.#client.sluiceJobFinish(
        this.#key(id),
        id,
        this.#changes,
        end.status,
        jsonField(end.result),
        jsonField(end.error),
        String(Date.now()),
        String(retentionOf(this.#options.retention, end.status)),
        this.#cancels,
      ),
    );
    return ended === 1;
  }

  async remove(id: string): Promise<void> {
    await this.#run('remove a job', () => this.#client.del(this.#key(id)));
  }

  watch(id: string, listener: JobListener): Promise<Unsubscribe> {
    return this.#feed.watch(id, listener);
  }

  onCancel(listener: (id: string) => void): Promise<Unsubscribe> {
    return this.#feed.onCancel(listener);
  }

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
