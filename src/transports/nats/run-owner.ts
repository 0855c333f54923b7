import type { Msg } from '@nats-io/transport-node';
import type { Band, Bands } from './bands.js';
import type { FetchRun } from './fetch-run.js';
import type { Session } from './session.js';

/** What a run needs from its consumer. */
export interface RunOwner<D> {
  readonly name: string;
  readonly stream: string;
  readonly prefetch: number;
  readonly bands: Bands<D>;
  /** While true, nothing is pulled. */
  readonly paused: boolean;
  session(): Promise<Session>;
  /** A stored message from a band, to admit. */
  received(run: FetchRun<D>, band: Band<D>, msg: Msg, attempt: number): void;
  /** A message from the delayed subject. */
  schedule(msg: Msg): void;
  /** Every band answered its first pull: what waits can be served. */
  serve(): void;
  /** The run cannot go on (credentials refused, or a topology it cannot use); it winds down. */
  failed(run: FetchRun<D>, error: unknown): void;
  /** Puts a buffered delivery back on the stream. */
  release(delivery: D): void;
  /** Puts a message received but not admitted back on the stream. */
  putBack(msg: Msg): void;
  /** The run ended: nothing in flight, nothing buffered. */
  ended(run: FetchRun<D>): void;
  /** Its groups and limits (flow.ts). */
  readonly flowControl: RunFlow;
}

/** What a run asks of its consumer's groups and limits. */
export interface RunFlow {
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
  answered(run: FetchRun<unknown>, token: string, msg: Msg): void;
}
