import type Database from 'better-sqlite3';

/**
 * What one transaction changes in each queue's counts (see tables.ts), written once per queue at
 * its end: the hot path pays one statement per queue per transaction, not one per message.
 */
export class Counts {
  readonly #deltas = new Map<string, [waiting: number, leased: number, delayed: number]>();

  constructor(private readonly statement: Database.Statement) {}

  add(queue: string, waiting: number, leased: number, delayed: number): void {
    const delta = this.#deltas.get(queue);
    if (delta === undefined) {
      this.#deltas.set(queue, [waiting, leased, delayed]);
      return;
    }
    delta[0] += waiting;
    delta[1] += leased;
    delta[2] += delayed;
  }

  /** A row entering the queue: waiting at once, or delayed. */
  added(queue: string, delayed: boolean): void {
    if (delayed) this.add(queue, 0, 0, 1);
    else this.add(queue, 1, 0, 0);
  }

  /** Writes the counts within the transaction; a rolled-back one is forgotten with `clear`. */
  write(): void {
    for (const [queue, [waiting, leased, delayed]] of this.#deltas) {
      if (waiting !== 0 || leased !== 0 || delayed !== 0) this.statement.run(queue, waiting, leased, delayed);
    }
    this.#deltas.clear();
  }

  clear(): void {
    this.#deltas.clear();
  }
}
