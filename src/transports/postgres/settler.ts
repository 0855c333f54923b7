import { backoffDelay } from '../../queuing/backoff.js';
import type { NackOptions } from '../../queuing/types.js';
import { nackReason } from '../shared/reasons.js';
import { Batcher } from './batcher.js';
import { failure } from './errors.js';
import type { Context } from './options.js';

/** One claim of a row: (rowId, attempt) identifies it, so a lease taken over by another consumer is left alone. */
export interface Claim {
  readonly rowId: string;
  readonly attempt: number;
  /** The row's `run_at` before the claim, to put a prefetched row back exactly where it was. */
  readonly readyAt: string;
}

/** Writes what happens to claimed rows: acks in batches, nacks, dead letters and releases. */
export class Settler {
  readonly #context: Context<unknown>;
  readonly #acks: Batcher<Claim>;

  constructor(context: Context<unknown>) {
    this.#context = context;
    this.#acks = new Batcher((claims) => this.#deleteAll(claims), 1000, 2);
  }

  /**
   * Queues the row's DELETE for the next batch without waiting for it: a pump then moves on at
   * once instead of spending a round trip per message. `idle()` (awaited by `close()`) flushes the
   * batch. An ack lost with the process or the connection leaves the row leased: it is delivered
   * again after the visibility timeout, as for a consumer that died before acking.
   */
  ack(claim: Claim): void {
    this.#acks.push(claim);
  }

  /** The queue's retry policy: redeliver after the backoff while attempts remain, else dead-letter. */
  nack(claim: Claim, options: NackOptions): Promise<void> {
    const { maxAttempts, backoff } = this.#context;
    const spent = claim.attempt >= maxAttempts;
    if (options.requeue === false || (options.requeue !== true && spent)) {
      return this.deadLetter(claim, nackReason(options, claim.attempt, maxAttempts));
    }
    const delay = options.delay ?? (options.requeue ? 0 : backoffDelay(backoff, claim.attempt));
    return this.retry(claim, delay);
  }

  /** Back in the queue after `delay` ms; the attempt counts. */
  retry(claim: Claim, delay: number): Promise<void> {
    return this.#run('nack', this.#context.sql.retry, [claim.rowId, claim.attempt, delay]);
  }

  /** Moves the row to the dead-letter queue with the reason; `body` replaces a body that was not an envelope. */
  deadLetter(claim: Claim, reason: string, body: string | null = null): Promise<void> {
    const { sql, deadLetter } = this.#context;
    return this.#run('dead-lettering', sql.deadLetter, [
      claim.rowId,
      claim.attempt,
      deadLetter,
      reason,
      body,
    ]);
  }

  /** Prefetched rows never handed out: back where they were, and the claim does not count as an attempt. */
  release(claims: readonly Claim[]): Promise<void> {
    if (claims.length === 0) return Promise.resolve();
    const ids = arrayLiteral(claims.map((claim) => claim.rowId));
    const attempts = arrayLiteral(claims.map((claim) => String(claim.attempt)));
    const readyAt = arrayLiteral(claims.map((claim) => `"${claim.readyAt}"`));
    return this.#run('release', this.#context.sql.release, [ids, attempts, readyAt]);
  }

  /** Resolves once every ack made so far was written (or failed). */
  idle(): Promise<void> {
    return this.#acks.idle();
  }

  async #deleteAll(claims: Claim[]): Promise<void> {
    const ids = arrayLiteral(claims.map((claim) => claim.rowId));
    const attempts = arrayLiteral(claims.map((claim) => String(claim.attempt)));
    await this.#run('ack', this.#context.sql.ack, [ids, attempts]);
  }

  async #run(operation: string, text: string, values: unknown[]): Promise<void> {
    try {
      await this.#context.pool.query(text, values);
    } catch (error) {
      throw failure(`${operation} on queue ${this.#context.name}`, error);
    }
  }
}

function arrayLiteral(elements: string[]): string {
  return `{${elements.join(',')}}`;
}
