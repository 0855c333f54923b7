/**
 * The queue contract. Any object with these shapes is a queue; MemoryQueue and the broker adapters
 * are just implementations. Producer and Consumer are separate so each end can be typed alone.
 */
export interface Producer<T> {
  /** Resolves once the queue accepted the message (for a broker: stored it). */
  send(message: T, options?: SendOptions): Promise<void>;
}

/**
 * Yields deliveries. An iterator must allow several pending `next()` calls at once (a pump runs
 * several loops on one iterator) and `return()` while they are pending: they resolve `done`.
 */
export interface Consumer<T> extends AsyncIterable<Delivery<T>> {}

/**
 * The iterator of a consumer that can hand out deliveries within flow limits (SPEC § 7): every
 * sluice queue's. A pump draining with `rateLimit` or `groupConcurrency` calls `flow` once the
 * iteration is open, and again whenever the limits change while it runs.
 */
export interface FlowIterator<T> extends AsyncIterator<Delivery<T>> {
  /**
   * From now on, hands out deliveries within `limits` (they replace any given before). On a broker
   * queue the limiter's state lives in the broker, so a limit holds across every process consuming
   * the queue; each consumer applies the limit it was given against that shared state.
   */
  flow(limits: FlowLimits): void;
}

/** At most `limit` deliveries handed out in any window of `interval` milliseconds. */
export interface RateLimit {
  /** Most deliveries handed out in one window: an integer of at least 1. */
  readonly limit: number;
  /** Length of the window: an integer number of milliseconds, at least 1. */
  readonly interval: number;
}

/** The limits a {@link FlowIterator} hands out deliveries within. */
export interface FlowLimits {
  /** At most `limit` dispatches start in any `interval`; none when undefined. */
  readonly rateLimit?: RateLimit | undefined;
  /**
   * At most this many deliveries of one group out at once (handed out and not yet settled, or not
   * yet back after a crashed consumer's lease ran out); no cap when undefined. Messages sent with no
   * group belong to the default group, which has the same cap.
   */
  readonly groupConcurrency?: number | undefined;
}

/** Both ends of a queue, and `close`: what MemoryQueue and every broker queue implement. */
export interface Queue<T> extends Producer<T>, Consumer<T> {
  /** Stops accepting sends. See each implementation for what happens to what it holds. */
  close(): Promise<void>;
}

/**
 * One message handed out by a queue, to be settled once: `ack` when processed, `nack` when it
 * failed. Settling twice rejects with {@link DeliverySettledError}.
 */
export interface Delivery<T> extends AsyncDisposable {
  /** The message as sent (for a broker queue: decoded, and checked by the queue's schema if any). */
  readonly message: T;
  /** 1 on first delivery, +1 on each redelivery (a crashed consumer included). */
  readonly attempt: number;
  /** Processed: the message is removed for good. */
  ack(): Promise<void>;
  /**
   * Failed: redelivered after the queue's backoff while attempts remain, then dead-lettered.
   * `{ requeue: false }` dead-letters now; `{ requeue: true }` puts it back now whatever the attempts.
   */
  nack(options?: NackOptions): Promise<void>;
  /** Leaving an `await using` block without ack or nack nacks the delivery. */
  [Symbol.asyncDispose](): Promise<void>;
  /** The message's group (`SendOptions.group`); undefined for the default group. */
  readonly group?: string | undefined;
  /** The headers the producer sent with the message (`SendOptions.headers`), where the queue keeps them. */
  readonly headers?: Readonly<Record<string, unknown>>;
  /**
   * Runs `dispatch` inside this delivery's scope and returns what it returns. A pump dispatches
   * through it when present: a wrapper such as `sluice/otel`'s makes the delivery's span current there.
   */
  within?<R>(dispatch: () => R): R;
}

/** Options of `send`; a queue checks them and rejects with {@link InvalidOptionError} on a bad one. */
export interface SendOptions {
  /**
   * Higher is delivered first among messages ready at the same time (MemoryQueue: only in
   * `priority` order). A finite number.
   *
   * @defaultValue `0`
   */
  priority?: number;
  /** Milliseconds before the message becomes ready. Waiting out a delay is not an attempt. */
  delay?: number;
  /** Deduplication key: a send whose key is already in the queue is accepted without a second copy. */
  key?: string;
  /**
   * Travel with the message to its consumer (`delivery.headers`), retries and dead letters included:
   * a trace context (`traceparent`), a correlation id. Names and values are strings.
   */
  headers?: Readonly<Record<string, string>>;
  /**
   * The message's group (SPEC § 7), e.g. a tenant: consumers take ready messages round-robin across
   * groups, priorities ordering them within a group, and a pump's `groupConcurrency` caps each
   * group's deliveries out at once. None: the default group. Kept on retries and dead letters.
   */
  group?: string;
}

/** Options of `nack`. */
export interface NackOptions {
  /**
   * `false` dead-letters the message now; `true` puts it back (after `delay`, else at once) whatever
   * its attempts. Unset: the queue's retry policy decides (backoff while attempts remain).
   */
  requeue?: boolean;
  /** Milliseconds before redelivery, instead of the queue's backoff. */
  delay?: number;
  /** Why it failed; queues that dead-letter store it as the reason. */
  error?: unknown;
}

/**
 * How long to wait before redelivering a message that failed on delivery `attempt` (1 for the first).
 * `fixed` waits `delay` every time; `exponential` waits `delay × 2^(attempt − 1)`, at most `max`; a
 * function returns the milliseconds itself (a negative number counts as 0; on a queue, a throw or a
 * non-number dead-letters the message).
 */
export type Backoff =
  | {
      /** The same wait each time. */
      type: 'fixed';
      /** Milliseconds to wait, finite and at least 0. */
      delay: number;
    }
  | {
      /** A wait that doubles after each failure. */
      type: 'exponential';
      /** Milliseconds before the first redelivery, finite and at least 0. */
      delay: number;
      /** Longest wait in milliseconds; no cap when unset. */
      max?: number;
    }
  | ((attempt: number) => number);

/** What a queue does with nacked messages. */
export interface RetryPolicy<T> {
  /**
   * Deliveries before a nacked message is dead-lettered: an integer of at least 1.
   *
   * @defaultValue `1` on a MemoryQueue: a nack dead-letters at once
   */
  maxAttempts?: number;
  /**
   * Wait before redelivering a nacked message while attempts remain.
   *
   * @defaultValue `{ type: 'exponential', delay: 100, max: 30_000 }`
   */
  backoff?: Backoff;
  /**
   * Where dead messages are sent. A MemoryQueue given here also keeps why each one died, for
   * `deadLetters()`. Unset: dead messages are dropped.
   */
  deadLetter?: Producer<T>;
}
