import type { SluiceError } from '../../errors.js';
import type { Connection } from './connection.js';
import type { RedisDelivery } from './delivery.js';

/** What a fetch loop (fetch-loop.ts) fills, and where it reads. */

/** The consumer a fetch loop fills. */
export interface FetchTarget<T> {
  readonly closed: boolean;
  /** `next()` calls waiting for a delivery. */
  readonly waiting: number;
  /** Some iterator is live: the buffer is kept filled. */
  readonly iterating: boolean;
  readonly buffered: number;
  /** Deliveries parked by `receive(delivery, true)`. */
  readonly parked: number;
  /**
   * Takes an admitted delivery: to a waiting `next()`, else into the buffer; or `park`s it: a
   * priority-0 delivery read in a round that left higher priorities in Redis waits for those.
   */
  receive(delivery: RedisDelivery<T>, park: boolean): void;
  /** Takes the parked deliveries as `receive` would; returns how many there were. */
  unpark(): number;
  /** Ends the waiting `next()` calls with an error no retry fixes (the iteration's error). */
  failed(error: SluiceError): void;
  /** What the round begun at `at` (performance.now()) found: whether the queue is paused. */
  pauseChecked(paused: boolean, at: number): void;
}

/** Where a fetch loop reads, and as whom. */
export interface FetchSource {
  readonly connection: Connection;
  /** The queue's stream and its wake-up stream. */
  readonly stream: string;
  readonly wake: string;
  readonly name: string;
  /** This handle's name in the consumer group. */
  readonly consumer: string;
}
