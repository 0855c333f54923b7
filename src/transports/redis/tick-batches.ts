/** Calls per script call: big enough to amortise a round trip, small enough not to stall Redis. */
const BATCH_SIZE = 1_000;

/** One script call's worth of calls; every call in it shares `promise`. */
interface Pending<B> {
  readonly batch: B;
  size: number;
  readonly promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Coalesces the calls made in one tick into batches of up to BATCH_SIZE, sent on the next microtask:
 * one command to encode, one round trip, one reply, instead of one per call. A call resolves once
 * the send of its batch did.
 */
export class TickBatches<B> {
  readonly #create: () => B;
  readonly #send: (batch: B) => Promise<unknown>;
  /** Batches filled this tick, sent on the next microtask. */
  #queued: Pending<B>[] = [];
  readonly #inFlight = new Set<Pending<B>>();

  /** `create` makes an empty batch; `send` sends a full one, rejecting with the error its callers get. */
  constructor(create: () => B, send: (batch: B) => Promise<unknown>) {
    this.#create = create;
    this.#send = send;
  }

  /** Lets `fill` put one call in the current batch; resolves once that batch was sent. */
  add(fill: (batch: B) => void): Promise<void> {
    let pending = this.#queued[this.#queued.length - 1];
    if (pending === undefined || pending.size === BATCH_SIZE) {
      if (this.#queued.length === 0) queueMicrotask(() => this.#flush());
      pending = this.#pending();
      this.#queued.push(pending);
    }
    pending.size++;
    fill(pending.batch);
    return pending.promise;
  }

  /** Resolves once every call made so far has settled. */
  async drain(): Promise<void> {
    await Promise.resolve(); // lets the current tick's batches go out first
    await Promise.allSettled([...this.#inFlight].map((pending) => pending.promise));
  }

  /** Rejects the calls whose batch is still unanswered with `error`, whatever becomes of it. */
  abandon(error: unknown): void {
    for (const pending of this.#inFlight) pending.reject(error);
    this.#inFlight.clear();
  }

  #pending(): Pending<B> {
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { batch: this.#create(), size: 0, promise, resolve, reject };
  }

  #flush(): void {
    const queued = this.#queued;
    this.#queued = [];
    for (const pending of queued) {
      this.#inFlight.add(pending);
      this.#send(pending.batch)
        .then(() => pending.resolve(), pending.reject)
        .finally(() => this.#inFlight.delete(pending));
    }
  }
}
