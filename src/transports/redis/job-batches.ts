/** Calls per script call: big enough to amortise a round trip, small enough not to stall Redis. */
const BATCH_SIZE = 500;

interface Waiter<R> {
  resolve(reply: R): void;
  reject(error: unknown): void;
}

/**
 * The calls of one script made in one tick, sent as one script call on the next microtask (see
 * job-scripts.ts for the layout): a store serving many jobs at once pays one round trip and one
 * script run per batch, not per job. Each call gets its own reply.
 */
export class JobBatches<R> {
  readonly #shared: () => string[];
  readonly #send: (keys: string[], args: string[]) => Promise<R[]>;
  #keys: string[] = [];
  #args: string[] = [];
  #waiters: Waiter<R>[] = [];

  /** `shared`: the batch's leading arguments, read when it is sent (the time, say). */
  constructor(shared: () => string[], send: (keys: string[], args: string[]) => Promise<R[]>) {
    this.#shared = shared;
    this.#send = send;
  }

  call(key: string, args: readonly string[]): Promise<R> {
    if (this.#keys.length === 0) queueMicrotask(() => this.#flush());
    this.#keys.push(key);
    for (const arg of args) this.#args.push(arg);
    const reply = new Promise<R>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    if (this.#keys.length === BATCH_SIZE) this.#flush();
    return reply;
  }

  #flush(): void {
    if (this.#keys.length === 0) return;
    const keys = this.#keys;
    const waiters = this.#waiters;
    const args = this.#shared();
    for (const arg of this.#args) args.push(arg);
    this.#keys = [];
    this.#args = [];
    this.#waiters = [];
    this.#send(keys, args).then(
      (replies) => {
        for (const [at, waiter] of waiters.entries()) waiter.resolve(replies[at]!);
      },
      (error: unknown) => {
        for (const waiter of waiters) waiter.reject(error);
      },
    );
  }
}
