import { backoffDelay } from '../backoff.js';
import { backoffReason, nackReason } from '../reasons.js';
import { RESOLVED } from '../settled.js';
import type { Backoff, NackOptions, Producer, SendOptions } from '../types.js';
import { holderOf, type LetterHolder } from './letters.js';
import { type MemoryDelivery, NO_HEADERS } from './memory-delivery.js';

/** What a nack does to the queue: retry the delivery, or forget it once dead-lettered. */
export interface Retrier<T> {
  retry(delivery: MemoryDelivery<T>, delay: number): void;
  settled(delivery: MemoryDelivery<T>): void;
}

/**
 * A MemoryQueue's answer to a nack: a retry after the backoff while attempts remain, else the
 * `deadLetter` producer. When that is a MemoryQueue, the letter goes with why it died, so that the
 * dead-lettering queue can show its dead letters.
 */
export class NackPolicy<T> {
  readonly #queue: Retrier<T>;
  readonly #maxAttempts: number;
  readonly #backoff: Backoff;
  readonly #deadLetter: Producer<T> | undefined;
  readonly #letters: LetterHolder<T> | undefined;

  constructor(queue: Retrier<T>, maxAttempts: number, backoff: Backoff, deadLetter: Producer<T> | undefined) {
    this.#queue = queue;
    this.#maxAttempts = maxAttempts;
    this.#backoff = backoff;
    this.#deadLetter = deadLetter;
    this.#letters = holderOf(deadLetter);
  }

  /**
   * Rejects (the dead-letter send) leaving nothing changed. A backoff that fails for this attempt
   * dead-letters the message, as on every broker queue: a settle never throws.
   */
  nack(delivery: MemoryDelivery<T>, options: NackOptions): Promise<void> {
    const { attempt } = delivery;
    if (options.requeue === false || (options.requeue !== true && attempt >= this.#maxAttempts)) {
      return this.#deadLetterOf(delivery, () => nackReason(options, attempt, this.#maxAttempts));
    }
    let delay: number;
    try {
      delay = options.delay ?? (options.requeue ? 0 : backoffDelay(this.#backoff, attempt));
    } catch (error) {
      return this.#deadLetterOf(delivery, () => backoffReason(attempt, error));
    }
    this.#queue.retry(delivery, delay);
    return RESOLVED;
  }

  /**
   * The key stays held until the dead-letter queue accepted the message: if it refuses it, the nack
   * rejects and the delivery stays unsettled (the message is still this queue's), so its holder can
   * nack it again, e.g. requeue it, instead of losing it. `reason` is worded only for a MemoryQueue.
   */
  #deadLetterOf(delivery: MemoryDelivery<T>, reason: () => string): Promise<void> {
    if (this.#deadLetter === undefined) {
      this.#queue.settled(delivery);
      return RESOLVED;
    }
    const { message, attempt, priority, headers, group } = delivery;
    const sent =
      this.#letters === undefined
        ? this.#deadLetter.send(message, sendOptions(headers, group))
        : this.#letters.sendLetter(message, { reason: reason(), attempt, priority }, headers, group);
    return sent.then(() => this.#queue.settled(delivery));
  }
}

/** What a dead letter is sent with to a producer that is not a MemoryQueue: its headers and group. */
function sendOptions(
  headers: Readonly<Record<string, string>>,
  group: string | undefined,
): SendOptions | undefined {
  if (group === undefined) return headers === NO_HEADERS ? undefined : { headers };
  return headers === NO_HEADERS ? { group } : { headers, group };
}
