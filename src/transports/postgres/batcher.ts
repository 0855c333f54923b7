interface Pending<I> {
  readonly item: I;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Coalesces concurrent calls into one statement per batch: what arrives while a batch is being
 * written waits for a free slot and leaves as the next batch. Flushing on `setImmediate` gathers
 * everything the current turn of the event loop produced (a pump's loops ack one after another
 * through promise callbacks, a `Promise.all` of sends calls `add` synchronously).
 */
export class Batcher<I> {
  readonly #write: (items: I[]) => Promise<void>;
  readonly #maxItems: number;
  readonly #maxInFlight: number;
  readonly #blamesItems: (error: unknown) => boolean;
  #pending: Pending<I>[] = [];
  #inFlight = 0;
  #scheduled = false;
  #onIdle: (() => void)[] = [];

  /**
   * `blamesItems(error)` tells whether a failed write failed because of some items' content: the
   * batch is then split until those items fail alone and the others are written.
   */
  constructor(
    write: (items: I[]) => Promise<void>,
    maxItems: number,
    maxInFlight: number,
    blamesItems: (error: unknown) => boolean = () => false,
  ) {
    this.#write = write;
    this.#maxItems = maxItems;
    this.#maxInFlight = maxInFlight;
    this.#blamesItems = blamesItems;
  }

  /** Resolves once the batch holding `item` was written; rejects with the error of the write that held it. */
  add(item: I): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  /** Queues `item` without waiting for (or hearing about) the write. */
  push(item: I): void {
    this.#pending.push({ item, resolve: ignore, reject: ignore });
    this.#schedule();
  }

  /** Resolves once every item added so far was written (or failed). */
  idle(): Promise<void> {
    if (this.#pending.length === 0 && this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#onIdle.push(resolve));
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.#maxInFlight) return;
    this.#scheduled = true;
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    while (this.#pending.length > 0 && this.#inFlight < this.#maxInFlight) {
      const batch = this.#pending;
      this.#pending = batch.length > this.#maxItems ? batch.splice(this.#maxItems) : [];
      void this.#run(batch);
    }
  }

  async #run(batch: Pending<I>[]): Promise<void> {
    this.#inFlight++;
    try {
      await this.#writeApart(batch);
    } finally {
      this.#inFlight--;
      if (this.#pending.length > 0) this.#schedule();
      else if (this.#inFlight === 0) for (const resolve of this.#onIdle.splice(0)) resolve();
    }
  }

  /** Halving costs a few statements only when a write fails, and keeps the items in their order. */
  async #writeApart(batch: Pending<I>[]): Promise<void> {
    try {
      await this.#write(batch.map((pending) => pending.item));
    } catch (error) {
      if (batch.length > 1 && this.#blamesItems(error)) {
        const half = batch.length >> 1;
        await this.#writeApart(batch.slice(0, half));
        await this.#writeApart(batch.slice(half));
      } else {
        for (const pending of batch) pending.reject(error);
      }
      return;
    }
    for (const pending of batch) pending.resolve();
  }
}

function ignore(): void {}
