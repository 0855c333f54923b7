import type { Subscription } from '@nats-io/transport-node';
import type { JobWatchers } from '../../jobs/job-watchers.js';
import type { Unsubscribe } from '../../jobs/store.js';
import type { JobSession, LazyJobSession } from './job-session.js';

/**
 * Cancels on a core NATS subject of the store (`sluice.jobs.<name>.cancel`, the job's id as body),
 * subscribed while this handle has cancel listeners. Every Jobs app listens for cancels as long as
 * it runs, so they travel apart from the records: a consumer of the live bucket would bring every
 * process every write of every job. Only the handle whose write ended a job `cancelled` announces
 * it, once the end is stored.
 *
 * Core NATS delivers at most once: a process disconnected at that moment misses the cancel, so a
 * job running there runs on, and its end is refused by the store (the job stays `cancelled`).
 */
export class JobCancels {
  readonly #session: LazyJobSession;
  readonly #subject: string;
  readonly #watchers: JobWatchers;
  #current: Promise<Subscription> | undefined;

  constructor(session: LazyJobSession, subject: string, watchers: JobWatchers) {
    this.#session = session;
    this.#subject = subject;
    this.#watchers = watchers;
  }

  /** Resolves once the server will send this handle every cancel announced from now on. */
  async onCancel(listener: (id: string) => void): Promise<Unsubscribe> {
    const off = this.#watchers.onCancel(listener);
    const stop = () => {
      off();
      if (this.#watchers.cancelListeners === 0) this.#stop();
    };
    try {
      await this.#subscribed();
    } catch (error) {
      stop();
      throw error;
    }
    return stop;
  }

  announce(session: JobSession, id: string): void {
    session.connection.nc.publish(this.#subject, id);
  }

  /**
   * A new connection replaces the one the client gave up (the server refused it on a reconnect):
   * subscribe on it. If the server refuses that one too, cancels stop reaching this handle, as its
   * writes fail with NatsAccessError.
   */
  resume(): void {
    if (this.#current === undefined) return;
    this.#stop();
    this.#subscribed().catch(() => {});
  }

  close(): void {
    this.#stop();
  }

  #subscribed(): Promise<Subscription> {
    if (this.#current !== undefined) return this.#current;
    const current = this.#subscribe();
    this.#current = current;
    current.catch(() => {
      if (this.#current === current) this.#current = undefined;
    });
    return current;
  }

  async #subscribe(): Promise<Subscription> {
    const { nc } = (this.#session.ready ?? (await this.#session.get())).connection;
    const subscription = nc.subscribe(this.#subject, {
      callback: (error, message) => {
        if (error === null) this.#watchers.cancelled(message.string());
      },
    });
    await nc.flush(); // the server has the subscription
    return subscription;
  }

  #stop(): void {
    const current = this.#current;
    this.#current = undefined;
    current?.then(
      (subscription) => {
        if (!subscription.isClosed()) subscription.unsubscribe(); // closed with a connection given up
      },
      () => {},
    );
  }
}
