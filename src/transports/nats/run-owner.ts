import type { Msg } from '@nats-io/transport-node';
import type { Band, Bands } from './bands.js';
import type { Session } from './session.js';

/** What a run (`R`: fetch-run.ts's FetchRun, named here without importing it) needs from its consumer. */
export interface RunOwner<D, R> {
  readonly name: string;
  readonly stream: string;
  readonly prefetch: number;
  readonly bands: Bands<D>;
  /** While true, nothing is pulled. */
  readonly paused: boolean;
  session(): Promise<Session>;
  /** A stored message from a band, to admit. */
  received(run: R, band: Band<D>, msg: Msg, attempt: number): void;
  /** A message from the delayed subject. */
  schedule(msg: Msg): void;
  /** Every band answered its first pull: what waits can be served. */
  serve(): void;
  /** The run cannot go on (credentials refused, or a topology it cannot use); it winds down. */
  failed(run: R, error: unknown): void;
  /** Puts a buffered delivery back on the stream. */
  release(delivery: D): void;
  /** Puts a message received but not admitted back on the stream. */
  putBack(msg: Msg): void;
  /** The run ended: nothing in flight, nothing buffered. */
  ended(run: R): void;
  /** Its groups and limits (flow.ts). */
  readonly flowControl: RunFlow<R>;
}

/** What a run asks of its consumer's groups and limits. */
export interface RunFlow<R> {
  /** Under a rate limit: a band pulls only what the waiting `next()` calls lack (see demand). */
  readonly demandOnly: boolean;
  demand(primed: boolean): number;
  /** Group pulls in flight: a winding run ends once there are none. */
  readonly pulling: number;
  /** Knows `token` as a group's band from now on; false when it is not one. */
  adopt(token: string): boolean;
  /** The group band's consumer is ready: it may hold messages. */
  found(token: string): void;
  /** A message or status on a group band's pull (nothing when `token` is not a group band's). */
  answered(run: R, token: string, msg: Msg): void;
}
