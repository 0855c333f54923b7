import type { Connection } from './connection.js';
import { unavailable } from './connection.js';
import type { Entry } from './delivery.js';
import { GROUP } from './keys.js';

const BATCH = 1_000;

class Batch {
  readonly stream: string[] = [];
  readonly priority: string[] = [];
  /** (stream, entry id, key) per keyed entry: its key is released only if the ack took. */
  readonly keyed: string[] = [];
  size = 0;
  readonly promise: Promise<void>;
  resolve!: () => void;
  reject!: (error: unknown) => void;

  constructor() {
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

/**
 * Coalesces the acks made in one tick (a pump's loops finishing together) into one `ack` script
 * call: XACK + XDEL of every entry, and the release of their dedup keys.
 */
export class AckBatcher {
  readonly #connection: Connection;
  readonly #keys: string[];
  readonly #name: string;
  #queued: Batch[] = [];
  readonly #inFlight = new Set<Promise<void>>();

  constructor(connection: Connection, keys: string[], name: string) {
    this.#connection = connection;
    this.#keys = keys;
    this.#name = name;
  }

  ack(entry: Pick<Entry, 'stream' | 'entryId' | 'key'>): Promise<void> {
    let batch = this.#queued[this.#queued.length - 1];
    if (batch === undefined || batch.size === BATCH) {
      if (this.#queued.length === 0) queueMicrotask(() => this.#flush());
      batch = new Batch();
      this.#queued.push(batch);
    }
    batch.size++;
    if (entry.key !== '') batch.keyed.push(entry.stream, entry.entryId, entry.key);
    else if (entry.stream === 's') batch.stream.push(entry.entryId);
    else batch.priority.push(entry.entryId);
    return batch.promise;
  }

  async drain(): Promise<void> {
    await Promise.resolve();
    await Promise.allSettled([...this.#inFlight]);
  }

  #flush(): void {
    const batches = this.#queued;
    this.#queued = [];
    for (const { stream, priority, keyed, resolve, reject } of batches) {
      const acked = this.#connection.client
        .sluiceAck(
          ...this.#keys,
          GROUP,
          this.#name,
          stream.length,
          ...stream,
          priority.length,
          ...priority,
          ...keyed,
        )
        .then(
          () => resolve(),
          (error) => reject(unavailable(`ack on queue ${this.#name}`, error)),
        );
      this.#inFlight.add(acked);
      acked.finally(() => this.#inFlight.delete(acked));
    }
  }
}
