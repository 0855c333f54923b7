import type { Pool } from 'pg';
import { JobWatchers } from '../../jobs/job-watchers.js';
import type { JobChange, JobListener, Unsubscribe } from '../../jobs/store.js';
import { Timer } from '../../timer.js';
import { failure } from './errors.js';
import { ListenConnection } from './job-listen.js';
import { changeOfAnnouncement } from './job-sql.js';

/** How long the feed keeps listening to changes once nothing is watched: a wait that follows another pays no LISTEN. */
const LINGER_MS = 2_000;

/**
 * After the LISTEN connection came back, cancels made up to this long before the loss was noticed
 * are announced again: a drop is noticed late, and a cancel's time is its canceller's clock. A job
 * announced twice is found cancelled already.
 */
const MISSED_CANCELS_MARGIN = 60_000;

/** Delay before reading again what a listener must not miss, after the read failed. */
const READ_AGAIN_DELAY = 1_000;

/** How the feed reads what its notifications could not carry, or what it missed. */
export interface FeedReader {
  /** The jobs of `ids` that are kept, as they are now. */
  changes(ids: string[]): Promise<JobChange[]>;
  /** The ids of the jobs cancelled since `endedAt` (milliseconds since the epoch). */
  cancelledSince(endedAt: number): Promise<string[]>;
}

/**
 * A job store's notifications in this process: the changes channel is listened to while a job is
 * watched (and a little after), the cancels channel while a cancel listener exists, both on one
 * ListenConnection. A change too large for a notification comes as its id alone and is read. Once
 * the connection is back from a loss, every watched job is read again, and the cancels made
 * meanwhile are announced: what was announced while nobody listened is gone.
 */
export class JobFeed {
  readonly #watchers = new JobWatchers();
  readonly #store: string;
  readonly #changes: string;
  readonly #cancels: string;
  readonly #reader: FeedReader;
  readonly #connection: ListenConnection;
  #linger: Timer | undefined;
  #closed = false;

  constructor(
    pool: Pool,
    store: string,
    channels: { readonly changes: string; readonly cancels: string },
    reader: FeedReader,
  ) {
    this.#store = store;
    this.#changes = channels.changes;
    this.#cancels = channels.cancels;
    this.#reader = reader;
    const wanted = [[], [this.#changes], [this.#cancels], [this.#changes, this.#cancels]];
    this.#connection = new ListenConnection(pool, {
      wanted: () => {
        const changes = this.#watchers.watched > 0 || this.#linger !== undefined;
        return wanted[(changes ? 1 : 0) + (this.#watchers.cancelListeners > 0 ? 2 : 0)]!;
      },
      notified: (channel, payload) => this.#notified(channel, payload),
      reconnected: (lostAt) => this.#reconnected(lostAt),
    });
  }

  async watch(id: string, listener: JobListener): Promise<Unsubscribe> {
    const unwatch = this.#watchers.watch(id, listener);
    this.#linger?.cancel();
    this.#linger = undefined;
    await this.#listening(`watch job ${id}`, unwatch);
    return () => {
      unwatch();
      if (this.#watchers.watched === 0) this.#lingerThenLeave();
    };
  }

  async onCancel(listener: (id: string) => void): Promise<Unsubscribe> {
    const stop = this.#watchers.onCancel(listener);
    await this.#listening('listen for cancels', stop);
    return () => {
      stop();
      if (this.#watchers.cancelListeners === 0) this.#leave();
    };
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#linger?.cancel();
    this.#watchers.clear();
    return this.#connection.close();
  }

  /** Resolves once the connection listens to what is wanted now; else undoes the subscription and rejects. */
  async #listening(operation: string, undo: Unsubscribe): Promise<void> {
    try {
      await this.#connection.sync();
    } catch (error) {
      undo();
      throw failure(`${operation} in job store ${this.#store}`, error);
    }
  }

  #lingerThenLeave(): void {
    this.#linger?.cancel();
    this.#linger = new Timer(LINGER_MS, () => {
      this.#linger = undefined;
      this.#leave();
    });
    this.#linger.hold(false);
  }

  /** Stops listening to what nobody wants any more; a lost connection listens to nothing already. */
  #leave(): void {
    if (!this.#closed) this.#connection.sync().catch(() => {});
  }

  #notified(channel: string, payload: string): void {
    if (channel === this.#cancels) this.#watchers.cancelled(payload);
    else if (channel === this.#changes && this.#watchers.watched > 0) {
      const announced = changeOfAnnouncement(payload, (id) => this.#watchers.wants(id));
      if (announced === undefined) return;
      if (typeof announced === 'string') this.#readAgain([announced]);
      else this.#watchers.changed(announced);
    }
  }

  #reconnected(lostAt: number): void {
    if (this.#watchers.watched > 0) this.#readAgain(this.#watchers.ids());
    if (this.#watchers.cancelListeners === 0) return;
    this.#untilRead(async () => {
      const ids = await this.#reader.cancelledSince(lostAt - MISSED_CANCELS_MARGIN);
      for (const id of ids) this.#watchers.cancelled(id);
    });
  }

  /** Hands the watchers of `ids` their jobs as they are now. */
  #readAgain(ids: string[]): void {
    this.#untilRead(async () => {
      const watched = ids.filter((id) => this.#watchers.wants(id));
      if (watched.length === 0) return;
      for (const change of await this.#reader.changes(watched)) this.#watchers.changed(change);
    });
  }

  /** Runs `read` again after a failure, until it succeeds or the feed closes: a listener waits on it. */
  #untilRead(read: () => Promise<void>): void {
    read().catch(() => {
      if (!this.#closed) new Timer(READ_AGAIN_DELAY, () => this.#untilRead(read)).hold(false);
    });
  }
}
