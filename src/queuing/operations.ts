/**
 * A queue's operator face (SPEC § 5): what an operator asks of a queue at 3 a.m., the same on
 * MemoryQueue and on every broker adapter, and what the `sluice` command and the dashboard call.
 * Counts come from the broker's own bookkeeping (no scan of the messages); each adapter's docs say
 * where a figure is an estimate.
 */
import type { Queue } from './types.js';

/** A queue's counts at one moment, as `stats()` reports them. */
export interface QueueStats {
  /** Messages a consumer could take now. */
  readonly ready: number;
  /** Messages waiting for their time: a `delay`, or a retry's backoff. */
  readonly delayed: number;
  /** Messages handed to a consumer and not yet acked or nacked. */
  readonly inFlight: number;
  /** Messages in the queue's dead-letter destination. */
  readonly dead: number;
  /** Whether the queue is paused (see `pause`). */
  readonly paused: boolean;
}

/** A message in a queue's dead-letter destination, as `deadLetters` shows it (not removed). */
export interface DeadLetter<T> {
  /** The message's id: what `redrive({ ids })` and `discardDeadLetters` name it by. */
  readonly id: string;
  /** The message as it was sent. */
  readonly message: T;
  /** Why it was dead-lettered, worded as docs/wire-protocol.md says. */
  readonly reason: string;
  /** The attempt it had reached when it was dead-lettered. */
  readonly attempt: number;
  /** When it was dead-lettered, in milliseconds since the epoch. */
  readonly deadAt: number;
}

/** Options of `deadLetters`: one page of the dead letters, oldest first. */
export interface DeadLettersOptions {
  /**
   * At most this many, oldest first: an integer from 1 to 1,000.
   *
   * @defaultValue `50`
   */
  readonly limit?: number;
  /** The id of the last letter of the previous page: the page starts after it. */
  readonly after?: string;
}

/** Options of `redrive`: which dead letters go back to the queue. */
export interface RedriveOptions {
  /** At most this many, oldest first: a positive integer. Unset: all of them. */
  readonly limit?: number;
  /** Only these dead letters (ids as `deadLetters` gave them). */
  readonly ids?: readonly string[];
}

/**
 * A {@link Queue} with the operator's methods. Each method rejects with {@link InvalidOptionError} on
 * options that cannot work, and with {@link QueueClosedError} once the queue is closed.
 */
export interface OperableQueue<T> extends Queue<T> {
  /** The queue's counts, in O(1) broker round trips. */
  stats(): Promise<QueueStats>;
  /** The oldest dead letters (after `after`), left where they are. */
  deadLetters(options?: DeadLettersOptions): Promise<DeadLetter<T>[]>;
  /**
   * Moves dead letters back to the queue, oldest first, as new messages (attempt 1); resolves with
   * how many moved. A crash midway leaves each message in one of the two queues, or in both.
   */
  redrive(options?: RedriveOptions): Promise<number>;
  /** Deletes the dead letters with these ids; resolves with how many it deleted. */
  discardDeadLetters(ids: readonly string[]): Promise<number>;
  /**
   * Deletes the messages waiting in the queue, ready or delayed (not those in flight); resolves with
   * the count.
   */
  purge(): Promise<number>;
  /**
   * Every consumer of this queue, in every process, stops taking messages until `resume`, across
   * restarts of the consumers. Deliveries under way finish normally; sends are still accepted.
   */
  pause(): Promise<void>;
  /** Lifts a `pause`: consumers take messages again. */
  resume(): Promise<void>;
}

/** @internal The operator face's methods by name: what the dashboard checks a queue it is given for. */
export const OPERATOR_METHODS = [
  'stats',
  'deadLetters',
  'redrive',
  'discardDeadLetters',
  'purge',
  'pause',
  'resume',
] as const satisfies readonly (keyof OperableQueue<unknown>)[];
