import { type ConsumerMessages, DeliverPolicy, type JsMsg, type PushConsumer } from '@nats-io/jetstream';
import type { JobWatchers } from '../../jobs/job-watchers.js';
import type { JobListener, JobRecord, Unsubscribe } from '../../jobs/store.js';
import { Timer } from '../../timer.js';
import { decodeJobRecord } from '../shared/job-record.js';
import { UnderWay } from '../shared/under-way.js';
import { idOf } from './job-buckets.js';
import type { BucketStream, JobSession, LazyJobSession } from './job-session.js';

/** The feed of one bucket: its consumer and what it delivers. */
interface BucketFeed {
  readonly consumer: PushConsumer;
  readonly messages: ConsumerMessages;
}

interface Subscription {
  readonly session: JobSession;
  readonly feeds: readonly BucketFeed[];
}

/** How long the feed stays subscribed once nothing is watched: a wait that follows another creates no consumer. */
const LINGER_MS = 2_000;
/** Wait before subscribing again after the feed ended by itself (the server or a consumer went away). */
const RETRY_MS = 500;
/** Watched jobs a catch-up reads at a time. */
const CATCH_UP_READS = 16;

/**
 * A store handle's notifications, while something is watched: an ordered push consumer, from new
 * messages on, of each bucket (`$KV.<bucket>.>`), handing each record to the watchers of its id (a
 * job watched nowhere here costs a map lookup). Every write of a record is a message in the live
 * bucket, its end included; the outcome buckets are followed too because an ended record leaves
 * the live bucket at once, often before the server has pushed its message there to every
 * consumer: its copy, made first, stays in its outcome's bucket. A listener may get an ended record
 * twice, and records that a later write replaced before they were pushed are skipped: a handle
 * keeps the newest by its version.
 *
 * Consumers cost the server a little, so the feed deletes them once nothing is watched (after
 * LINGER_MS). What the feed may have missed — over a reconnect, or when the client re-created a
 * consumer from where it was — is made up for by reading every watched job again.
 */
export class JobFeed {
  readonly #session: LazyJobSession;
  readonly #watchers: JobWatchers;
  readonly #read: (id: string) => Promise<JobRecord | undefined>;
  readonly #ending = new UnderWay();
  #current: Promise<Subscription> | undefined;
  #linger: Timer | undefined;
  #retry: Timer | undefined;

  /** `read`: a job's record as the store keeps it now. */
  constructor(
    session: LazyJobSession,
    watchers: JobWatchers,
    read: (id: string) => Promise<JobRecord | undefined>,
  ) {
    this.#session = session;
    this.#watchers = watchers;
    this.#read = read;
  }

  /** Resolves once every write of job `id` from now on reaches `listener`. */
  async watch(id: string, listener: JobListener): Promise<Unsubscribe> {
    const unwatch = this.#watchers.watch(id, listener);
    this.#linger?.cancel();
    this.#linger = undefined;
    const stop = () => {
      unwatch();
      if (this.#watchers.watched === 0) this.#lingerThenStop();
    };
    try {
      await this.#subscribed();
    } catch (error) {
      stop();
      throw error;
    }
    return stop;
  }

  /**
   * The connection came back, or a new one replaced it: new consumers (the server may have lost
   * the ones it had), then every watched job read again for what the outage hid.
   */
  resume(): void {
    const previous = this.#current;
    if (previous === undefined) return;
    this.#current = undefined;
    this.#ending.add(previous.then((subscription) => this.#end(subscription), ignore));
    this.#resubscribe();
  }

  async close(): Promise<void> {
    this.#linger?.cancel();
    this.#stop();
    await this.#ending.ended();
  }

  #subscribed(): Promise<Subscription> {
    if (this.#current !== undefined) return this.#current;
    const current = this.#subscribe();
    this.#current = current;
    current.then(
      (subscription) => this.#follow(subscription, current),
      () => {
        if (this.#current === current) this.#current = undefined;
      },
    );
    return current;
  }

  async #subscribe(): Promise<Subscription> {
    const session = this.#session.ready ?? (await this.#session.get());
    const { live, success, failure } = session.streams;
    const feeds = await Promise.allSettled(
      [live, success, failure].map((bucket) => this.#feed(session, bucket)),
    );
    const failed = feeds.find((feed) => feed.status === 'rejected');
    const started = feeds.flatMap((feed) => (feed.status === 'fulfilled' ? [feed.value] : []));
    if (failed === undefined) return { session, feeds: started };
    await this.#end({ session, feeds: started });
    throw failed.reason;
  }

  async #feed(session: JobSession, { name, prefix }: BucketStream): Promise<BucketFeed> {
    const consumer = await session.connection.js.consumers.getPushConsumer(name, {
      filter_subjects: `${prefix}>`,
      deliver_policy: DeliverPolicy.New,
    });
    const messages = await consumer.consume({ callback: (message) => this.#deliver(message, prefix.length) });
    return { consumer, messages };
  }

  #deliver(message: JsMsg, prefixLength: number): void {
    const id = idOf(message.subject.slice(prefixLength));
    if (!this.#watchers.wants(id)) return;
    const record = decodeJobRecord(message.string());
    if (record === undefined || record.id !== id) return; // a deletion marker, or no record of ours
    try {
      this.#watchers.changed(record);
    } catch {
      // A listener's own failure: the client would end the consumer, and every other wait with it.
    }
  }

  /** Catches up when the client re-created a consumer; subscribes again if one ended by itself. */
  async #follow(subscription: Subscription, current: Promise<Subscription>): Promise<void> {
    for (const { messages } of subscription.feeds) {
      void (async () => {
        for await (const status of messages.status()) {
          if (status.type === 'ordered_consumer_recreated' && this.#current === current) void this.#catchUp();
        }
      })();
    }
    await Promise.race(subscription.feeds.map(({ messages }) => messages.closed().catch(ignore)));
    if (this.#current !== current) return; // stopped or replaced on purpose
    this.#current = undefined;
    this.#ending.add(this.#end(subscription));
    if (this.#watchers.watched > 0) this.#later();
  }

  #resubscribe(): void {
    this.#subscribed().then(
      () => this.#catchUp(),
      () => this.#later(),
    );
  }

  #later(): void {
    if (this.#retry !== undefined) return;
    this.#retry = new Timer(RETRY_MS, () => {
      this.#retry = undefined;
      if (this.#watchers.watched > 0 && this.#current === undefined) this.#resubscribe();
    });
    this.#retry.hold(false); // a wait holds the process, not this
  }

  #lingerThenStop(): void {
    this.#linger?.cancel();
    this.#linger = new Timer(LINGER_MS, () => {
      this.#linger = undefined;
      if (this.#watchers.watched === 0) this.#stop();
    });
    this.#linger.hold(false);
  }

  #stop(): void {
    this.#retry?.cancel();
    this.#retry = undefined;
    const current = this.#current;
    if (current === undefined) return;
    this.#current = undefined;
    this.#ending.add(current.then((subscription) => this.#end(subscription), ignore));
  }

  async #end({ session, feeds }: Subscription): Promise<void> {
    for (const { messages } of feeds) messages.stop();
    // Else the server keeps them for the client's inactive_threshold (5 minutes).
    if (!session.connection.up) return;
    await Promise.all(feeds.map(({ consumer }) => consumer.delete().catch(ignore)));
  }

  async #catchUp(): Promise<void> {
    const ids = this.#watchers.ids();
    let next = 0;
    const reader = async () => {
      while (next < ids.length) {
        const id = ids[next++]!;
        // A read that fails is made up for by the catch-up after the next reconnect.
        const record = this.#watchers.wants(id) ? await this.#read(id).catch(ignore) : undefined;
        if (record !== undefined) this.#watchers.changed(record);
      }
    };
    await Promise.all(Array.from({ length: CATCH_UP_READS }, reader));
  }
}

function ignore(): undefined {
  return undefined;
}
