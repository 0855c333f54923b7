import type { JobRecord } from '../../jobs/store.js';

/** A live record as last written or read here, with its revision in the live bucket. */
export interface Held {
  readonly revision: number;
  readonly record: JobRecord;
}

/**
 * The live records this handle last wrote or read, by job id, so that the next write of a job
 * (start after create, finish after start) is one compare-and-set, with no read first. A held
 * record that another process changed since only costs its write a refusal and a read. At most
 * `limit` are held, the least recently used forgotten first; a job that ends is forgotten.
 */
export class HeldRecords {
  readonly #held = new Map<string, Held>();
  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  get(id: string): Held | undefined {
    return this.#held.get(id);
  }

  set(id: string, held: Held): void {
    this.#held.delete(id); // to the back of the line
    this.#held.set(id, held);
    if (this.#held.size > this.#limit) this.#held.delete(this.#held.keys().next().value!);
  }

  delete(id: string): void {
    this.#held.delete(id);
  }
}
