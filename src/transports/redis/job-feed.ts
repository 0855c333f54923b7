import type { Redis } from 'ioredis';
import { JobWatchers } from '../../jobs/job-watchers.js';
import type { JobListener, JobRecord, Unsubscribe } from '../../jobs/store.js';
import { Timer } from '../../timer.js';
import { failure } from './errors.js';
import { changesOfAnnouncement } from './job-hash.js';

/** How long the feed stays subscribed once nothing is watched: a wait that follows another pays no SUBSCRIBE. */
const LINGER_MS = 2_000;

/**
 * A job store's notifications in this process: one subscriber connection, opened on the first
 * watch or cancel listener, subscribed to the changes channel only while a job is watched (and a
 * little after) and to the cancels channel while a cancel listener exists. After the connection
 * comes back from an outage, every watched job is read again: what was announced meanwhile is lost.
 */
export class JobFeed {
  readonly #watchers = new JobWatchers();
  readonly #open: () => Redis;
  readonly #channels: { readonly changes: string; readonly cancels: string };
  readonly #read: (id: string) => Promise<JobRecord | undefined>;
  #subscriber: Redis | undefined;
  #changes: Promise<unknown> | undefined;
  #cancels: Promise<unknown> | undefined;
  #linger: Timer | undefined;

  constructor(
    open: () => Redis,
    channels: { readonly changes: string; readonly cancels: string },
    read: (id: string) => Promise<JobRecord | undefined>,
  ) {
    this.#open = open;
    this.#channels = channels;
    this.#read = read;
  }

  async watch(id: string, listener: JobListener): Promise<Unsubscribe> {
    const unwatch = this.#watchers.watch(id, listener);
    this.#linger?.cancel();
    this.#linger = undefined;
    this.#changes ??= this.#subscribe(this.#channels.changes);
    try {
      await this.#changes;
    } catch (error) {
      unwatch();
      this.#changes = undefined;
      throw error;
    }
    return () => {
      unwatch();
      if (this.#watchers.watched === 0) this.#lingerThenLeave();
    };
  }

  async onCancel(listener: (id: string) => void): Promise<Unsubscribe> {
    const stop = this.#watchers.onCancel(listener);
    this.#cancels ??= this.#subscribe(this.#channels.cancels);
    try {
      await this.#cancels;
    } catch (error) {
      stop();
      this.#cancels = undefined;
      throw error;
    }
    return () => {
      stop();
      if (this.#watchers.cancelListeners > 0 || this.#cancels === undefined) return;
      this.#cancels = undefined;
      this.#subscriber?.unsubscribe(this.#channels.cancels).catch(() => {});
    };
  }

  close(): void {
    this.#linger?.cancel();
    this.#watchers.clear();
    this.#subscriber?.disconnect();
    this.#subscriber = undefined;
  }

  #subscribe(channel: string): Promise<unknown> {
    return this.#connection()
      .subscribe(channel)
      .catch((error: unknown) => {
        throw failure(`subscribe to ${channel}`, error);
      });
  }

  #lingerThenLeave(): void {
    this.#linger?.cancel();
    this.#linger = new Timer(LINGER_MS, () => {
      this.#linger = undefined;
      if (this.#watchers.watched > 0 || this.#changes === undefined) return;
      this.#changes = undefined;
      this.#subscriber?.unsubscribe(this.#channels.changes).catch(() => {});
    });
    this.#linger.hold(false);
  }

  #connection(): Redis {
    if (this.#subscriber !== undefined) return this.#subscriber;
    const subscriber = this.#open();
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.#channels.cancels) {
        for (const id of message.split('\n')) this.#watchers.cancelled(JSON.parse(id) as string);
      } else if (channel === this.#channels.changes) this.#announced(message);
    });
    let readyBefore = false;
    subscriber.on('ready', () => {
      if (readyBefore) void this.#catchUp();
      readyBefore = true;
    });
    subscriber.on('close', () => {});
    this.#subscriber = subscriber;
    return subscriber;
  }

  #announced(message: string): void {
    for (const change of changesOfAnnouncement(message, (id) => this.#watchers.wants(id))) {
      this.#watchers.changed(change);
    }
  }

  /** Back from an outage (ioredis subscribed again): reads what changed meanwhile. */
  async #catchUp(): Promise<void> {
    for (const id of this.#watchers.ids()) {
      const record = await this.#read(id).catch(() => undefined);
      if (record !== undefined) this.#watchers.changed(record);
    }
  }
}
