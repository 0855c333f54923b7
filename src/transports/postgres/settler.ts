import type { NackOptions } from '../../queuing/types.js';
import { nackOutcome } from '../shared/retry-policy.js';
import { Batcher } from './batcher.js';
import type { Connection } from './connection.js';
import { failure } from './errors.js';
import type { ResolvedOptions } from './options.js';

/** One claim of a row: (rowId, attempt) identifies it, so a lease taken over by another consumer is left alone. */
export interface Claim {
  readonly rowId: string;
  readonly attempt: number;
  /** The row's `run_at` before the claim, to put a prefetched row back exactly where it was. */
  readonly readyAt: string;
}

/** Writes what happens to claimed rows: acks in batches, nacks, dead letters and releases. */
export class Settler {
  readonly #options: ResolvedOptions<unknown>;
  readonly #connection: Connection;
  readonly #acks: Batcher<Claim>;
  readonly #notifyingAcks: Batcher<Claim>;

  constructor(options: ResolvedOptions<unknown>, connection: Connection) {
    this.#options = options;
    this.#connection = connection;
    this.#acks = new Batcher((claims) => this.#deleteAll(claims, connection.sql.ack), 1000, 2);
    this.#notifyingAcks = new Batcher(
      (claims) => this.#deleteAll(claims, connection.sql.ackNotifying),
      1000,
      2,
    );
  }

  /**
   * Queues the row's DELETE for the next batch without waiting for it: a pump then moves on at
   * once instead of spending a round trip per message. `idle()` (awaited by `close()`) flushes the
   * batch. An ack lost with the process or the connection leaves the row leased: it is delivered
   * again after the visibility timeout, as for a consumer that died before acking. `notify`: the
   * batch also notifies the queue's channel, so consumers waiting for a group's slot claim again.
   */
  ack(claim: Claim, notify: boolean): void {
    (notify ? this.#notifyingAcks : this.#acks).push(claim);
  }

  /** The queue's retry policy (see nackOutcome): back in the queue, or dead-lettered. */
  nack(claim: Claim, options: NackOptions): Promise<void> {
    const outcome = nackOutcome(options, claim.attempt, this.#options);
    return outcome.deadLetter === undefined
      ? this.retry(claim, outcome.retryAfter)
      : this.deadLetter(claim, outcome.deadLetter);
  }

  /** Back in the queue after `delay` ms; the attempt counts. */
  retry(claim: Claim, delay: number): Promise<void> {
    return this.#run('nack', this.#connection.sql.retry, [claim.rowId, claim.attempt, delay]);
  }

  /**
   * Moves the row to the dead-letter queue with the reason; `replacement` (see admit) is stored
   * instead of its body.
   */
  deadLetter(claim: Claim, reason: string, replacement?: string): Promise<void> {
    return this.#run('dead-lettering', this.#connection.sql.deadLetter, [
      claim.rowId,
      claim.attempt,
      this.#options.deadLetter,
      reason,
      replacement ?? null,
    ]);
  }

  /** Prefetched rows never handed out: back where they were, and the claim does not count as an attempt. */
  release(claims: readonly Claim[]): Promise<void> {
    if (claims.length === 0) return Promise.resolve();
    const ids = arrayLiteral(claims.map((claim) => claim.rowId));
    const attempts = arrayLiteral(claims.map((claim) => String(claim.attempt)));
    const readyAt = arrayLiteral(claims.map((claim) => `"${claim.readyAt}"`));
    return this.#run('release', this.#connection.sql.release, [ids, attempts, readyAt]);
  }

  /** Resolves once every ack made so far was written (or failed). */
  async idle(): Promise<void> {
    await Promise.all([this.#acks.idle(), this.#notifyingAcks.idle()]);
  }

  async #deleteAll(claims: Claim[], statement: string): Promise<void> {
    const ids = arrayLiteral(claims.map((claim) => claim.rowId));
    const attempts = arrayLiteral(claims.map((claim) => String(claim.attempt)));
    await this.#run('ack', statement, [ids, attempts]);
  }

  async #run(operation: string, text: string, values: unknown[]): Promise<void> {
    try {
      await this.#connection.pool.query(text, values);
    } catch (error) {
      throw failure(`${operation} on queue ${this.#options.name}`, error);
    }
  }
}

function arrayLiteral(elements: string[]): string {
  return `{${elements.join(',')}}`;
}
