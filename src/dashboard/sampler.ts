import type { QueueStats } from '../queuing/operations.js';
import type { DashboardQueue } from './options.js';

/** One queue's counts at a sample, or why they could not be read. */
export type QueueSample = { readonly name: string } & (
  | (QueueStats & { readonly error?: undefined })
  | { readonly error: string }
);

export interface Snapshot {
  /** When the sample was taken, in milliseconds since the epoch. */
  readonly at: number;
  readonly queues: readonly QueueSample[];
}

/** The backlog of each queue over the kept samples, oldest first: what the page's charts start from. */
export interface History {
  readonly interval: number;
  readonly at: readonly number[];
  /** Per queue: ready + delayed + in flight at each sample, `null` where stats failed. */
  readonly backlog: Readonly<Record<string, readonly (number | null)[]>>;
}

type Listener = (snapshot: Snapshot) => void;

/**
 * Reads every queue's `stats()` once per interval, whatever the number of open pages, and keeps the
 * last samples so that a page opened now draws the last minutes at once. A tick starts only after
 * the previous one answered: a slow broker slows the sampling, it never piles calls up.
 */
export class Sampler {
  readonly #queues: readonly DashboardQueue[];
  readonly #interval: number;
  readonly #keep: number;
  readonly #at: number[] = [];
  readonly #backlog = new Map<string, (number | null)[]>();
  readonly #listeners = new Set<Listener>();
  #latest: Snapshot | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(queues: readonly DashboardQueue[], interval: number, keep: number) {
    this.#queues = queues;
    this.#interval = interval;
    this.#keep = keep;
    for (const queue of queues) this.#backlog.set(queue.name, []);
  }

  /** Takes the first sample; resolves once it is taken. */
  async start(): Promise<void> {
    await this.#tick();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#listeners.clear();
  }

  get latest(): Snapshot | undefined {
    return this.#latest;
  }

  history(): History {
    return { interval: this.#interval, at: this.#at, backlog: Object.fromEntries(this.#backlog) };
  }

  /** Calls `listener` with each new snapshot until the returned function is called. */
  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async #tick(): Promise<void> {
    const started = Date.now();
    const queues = await Promise.all(this.#queues.map(sample));
    if (this.#stopped) return;
    this.#record({ at: started, queues });
    const wait = Math.max(0, this.#interval - (Date.now() - started));
    this.#timer = setTimeout(() => void this.#tick(), wait);
    // The HTTP server is what keeps the process alive, not the sampling.
    this.#timer.unref();
  }

  #record(snapshot: Snapshot): void {
    this.#latest = snapshot;
    this.#at.push(snapshot.at);
    if (this.#at.length > this.#keep) this.#at.shift();
    for (const queue of snapshot.queues) {
      const series = this.#backlog.get(queue.name)!;
      series.push(queue.error === undefined ? queue.ready + queue.delayed + queue.inFlight : null);
      if (series.length > this.#keep) series.shift();
    }
    for (const listener of this.#listeners) listener(snapshot);
  }
}

async function sample(queue: DashboardQueue): Promise<QueueSample> {
  try {
    const { ready, delayed, inFlight, dead, paused } = await queue.stats();
    return { name: queue.name, ready, delayed, inFlight, dead, paused };
  } catch (error) {
    return { name: queue.name, error: error instanceof Error ? error.message : String(error) };
  }
}
