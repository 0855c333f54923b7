import type { StreamInfo } from '@nats-io/jetstream';
import type { KV, Kvm } from '@nats-io/kv';
import { nanos } from '@nats-io/transport-node';
import { SluiceError } from '../../errors.js';
import type { ResolvedRetention } from '../../jobs/retention.js';
import { Timer } from '../../timer.js';
import { Connection } from './connection.js';
import { failure, NatsTopologyError } from './errors.js';
import type { JobBuckets } from './job-buckets.js';
import type { ResolvedNatsJobStoreOptions } from './job-options.js';
import type { LazySession } from './session.js';

/** A bucket as JetStream keeps it: its stream, and what its keys' subjects start with (`$KV.<bucket>.`). */
export interface BucketStream {
  readonly name: string;
  readonly prefix: string;
}

/** A store handle's connection and its three buckets (see job-buckets.ts). */
export interface JobSession {
  readonly connection: Connection;
  readonly live: KV;
  readonly success: KV;
  readonly failure: KV;
  readonly streams: {
    readonly live: BucketStream;
    readonly success: BucketStream;
    readonly failure: BucketStream;
  };
}

/** A store handle's session, opened on first use (see LazySession). */
export type LazyJobSession = LazySession<JobSession>;

/** Connects a store handle and opens its buckets. */
export async function openJobSession(options: ResolvedNatsJobStoreOptions): Promise<JobSession> {
  const { name, url, connection: given, buckets, retention } = options;
  const connection = await Connection.open({ jobStore: name }, url, given);
  try {
    return { connection, ...(await openBuckets(connection, name, buckets, retention)) };
  } catch (error) {
    await connection.close();
    throw error instanceof SluiceError ? error : failure(`opening the buckets of job store ${name}`, error);
  }
}

async function openBuckets(
  connection: Connection,
  store: string,
  buckets: JobBuckets,
  retention: ResolvedRetention,
): Promise<Omit<JobSession, 'connection'>> {
  // Loaded here: `sluice/nats` without a job store needs no @nats-io/kv installed.
  const { Kvm } = await import('@nats-io/kv');
  const kvm = new Kvm(connection.js);
  const [live, success, failure] = await Promise.all([
    ensureBucket(connection, kvm, store, buckets.live, 0, true),
    ensureBucket(connection, kvm, store, buckets.success, retention.success),
    ensureBucket(connection, kvm, store, buckets.failure, retention.failure),
  ]);
  const stream = (bucket: string) => ({ name: `KV_${bucket}`, prefix: `$KV.${bucket}.` });
  return {
    live,
    success,
    failure,
    streams: {
      live: stream(buckets.live),
      success: stream(buckets.success),
      failure: stream(buckets.failure),
    },
  };
}

/**
 * Resolves when `connection`, down now, comes back; rejects if it does not within `ms`, or if the
 * client gives it up.
 */
export function reconnection(connection: Connection, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (error?: Error) => {
      timer.cancel();
      stopWaiting();
      stopLosing();
      if (error === undefined) resolve();
      else reject(error);
    };
    const timer = new Timer(ms, () => settle(new Error(`the connection did not come back within ${ms} ms`)));
    const stopWaiting = connection.onReconnect(() => settle());
    const stopLosing = connection.onLost((error) => settle(error));
  });
}

const STREAM_NOT_FOUND = 10059;
const STREAM_NAME_IN_USE = 10058;
/** The duplicate window JetStream gives a stream by default, when its max_age is longer. */
const DUPLICATE_WINDOW_MS = 2 * 60_000;

/**
 * Opens `bucket`, keeping one value per key, each for `maxAge` ms (0: for ever); creates it if
 * need be. JetStream fixes max_age per stream, not per message: a bucket found with another
 * max_age is given this store's (so the last store opened on a name sets its retention, for the
 * records already kept too). One value per key is what lets a record leave by its revision alone;
 * `purged`: records leave this bucket by a purge, which a bucket made by another client may deny.
 */
async function ensureBucket(
  connection: Connection,
  kvm: Kvm,
  store: string,
  bucket: string,
  maxAge: number,
  purged = false,
): Promise<KV> {
  const stream = `KV_${bucket}`;
  for (let attempt = 1; ; attempt++) {
    let info: StreamInfo | undefined;
    try {
      info = await connection.jsm.streams.info(stream);
    } catch (error) {
      if (codeOf(error) !== STREAM_NOT_FOUND) throw error;
    }
    if (info === undefined) {
      try {
        return await kvm.create(bucket, { history: 1, ttl: maxAge });
      } catch (error) {
        // Another store created it meanwhile, with another max_age: change that one.
        if (attempt === 1 && codeOf(error) === STREAM_NAME_IN_USE) continue;
        throw error;
      }
    }
    const { max_age, max_msgs_per_subject, allow_direct, deny_purge } = info.config;
    if (purged && deny_purge) {
      throw new NatsTopologyError(
        { jobStore: store },
        `bucket ${bucket}`,
        "it denies purges (deny_purge), and an ended job's record leaves it by one",
      );
    }
    if (max_age !== nanos(maxAge) || max_msgs_per_subject !== 1) {
      await connection.jsm.streams.update(stream, {
        max_age: nanos(maxAge),
        max_msgs_per_subject: 1,
        // JetStream refuses a duplicate window over max_age; key-value writes do not use it.
        duplicate_window: nanos(maxAge === 0 ? DUPLICATE_WINDOW_MS : Math.min(maxAge, DUPLICATE_WINDOW_MS)),
      });
    }
    return kvm.open(bucket, { allow_direct });
  }
}

function codeOf(error: unknown): unknown {
  return (error as { code?: unknown } | null)?.code;
}
