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
  #pending: Pending<I>[] = [];
  #inFlight = 0;
  #scheduled = false;
  #onIdle: (() => void)[] = [];

  constructor(write: (items: I[]) => Promise<void>, maxItems: number, maxInFlight: number) {
    this.#write = write;
    this.#maxItems = maxItems;
    this.#maxInFlight = maxInFlight;
  }

  /** Resolves once the batch holding `item` was written; rejects with that batch's error. */
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
      await this.#write(batch.map((pending) => pending.item));
      for (const pending of batch) pending.resolve();
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    } finally {
      this.#inFlight--;
      if (this.#pending.length > 0) this.#schedule();
      else if (this.#inFlight === 0) for (const resolve of this.#onIdle.splice(0)) resolve();
    }
  }
}

function ignore(): void {}
