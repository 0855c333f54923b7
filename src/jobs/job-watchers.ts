import type { JobChange, JobListener, Unsubscribe } from './store.js';

/**
 * A store's local fan-out: the listeners of this process, by job id, and those of cancels. A store
 * hands every notification it receives to `changed` or `cancelled`; those nobody here watches cost a
 * map lookup. `onIdle` and `onBusy` tell a store when to leave and rejoin its notification feed.
 */
export class JobWatchers {
  readonly #byId = new Map<string, Set<JobListener>>();
  readonly #cancel = new Set<(id: string) => void>();

  /** Jobs watched in this process. */
  get watched(): number {
    return this.#byId.size;
  }

  /** Cancel listeners in this process. */
  get cancelListeners(): number {
    return this.#cancel.size;
  }

  watch(id: string, listener: JobListener): Unsubscribe {
    let listeners = this.#byId.get(id);
    if (listeners === undefined) {
      listeners = new Set();
      this.#byId.set(id, listeners);
    }
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0 && this.#byId.get(id) === listeners) this.#byId.delete(id);
    };
  }

  onCancel(listener: (id: string) => void): Unsubscribe {
    this.#cancel.add(listener);
    return () => this.#cancel.delete(listener);
  }

  /** The ids watched now (a store that lost its feed for a while reads them again). */
  ids(): string[] {
    return [...this.#byId.keys()];
  }

  wants(id: string): boolean {
    // No hash of the id while nothing is watched: a store asks for every write it makes.
    return this.#byId.size > 0 && this.#byId.has(id);
  }

  changed(change: JobChange): void {
    const listeners = this.#byId.get(change.id);
    if (listeners === undefined) return;
    for (const listener of [...listeners]) listener(change);
  }

  cancelled(id: string): void {
    for (const listener of [...this.#cancel]) listener(id);
  }

  clear(): void {
    this.#byId.clear();
    this.#cancel.clear();
  }
}
