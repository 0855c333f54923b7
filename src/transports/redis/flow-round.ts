import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { FlowLimits } from '../../queuing/types.js';
import type { FetchSource, FetchTarget } from './fetch-target.js';
import { FLOW_BAND } from './keys.js';
import type { RawEntry } from './scripts.js';

/** What a flow round found, for the fetch loop. */
export interface FlowFound {
  /** Every priority other than 0 that has a stream. */
  readonly bands: string[];
  readonly paused: boolean;
  /** Nothing came and no `next()` waits: the loop may stop. */
  readonly idle: boolean;
}

/** What a flow round needs of its fetch loop. */
export interface FlowRoundParts<T> {
  readonly source: FetchSource;
  readonly target: FetchTarget<T>;
  /** Admits fetched entries of `band` into the target; resolves with how many it admitted. */
  readonly accept: (entries: RawEntry[], band: string) => Promise<number>;
  /** The loop's own connection for blocking reads. */
  readonly blockingReader: () => Redis;
  /** Aborted when the loop stops. */
  readonly stopped: AbortSignal;
  /** Longest blocking read. */
  readonly maxBlock: number;
}

/**
 * A fetch round through the flow script (flow-take.ts): limits and groups are applied in Redis, in
 * one round trip. When it brings nothing for a waiting `next()`, the round waits: until the rate
 * log has room when it is full (cut short by new limits), else on a plain XREAD of the wake-up
 * stream (settles and grouped sends write it) and, if the default group has room, of its streams,
 * from their last entries, so that every waiting handle looks again when something comes.
 */
export class FlowRound<T> {
  readonly #parts: FlowRoundParts<T>;
  /** Cuts the current wait for the rate log short: the limits changed. */
  #interrupt = new AbortController();
  /** The limits the consumer hands out within; undefined when none. */
  limits: FlowLimits | undefined;
  /** As the last round (of either kind) found: grouped messages exist. */
  grouped = false;

  constructor(parts: FlowRoundParts<T>) {
    this.#parts = parts;
  }

  /** Whether the loop's rounds are flow rounds: limits apply, or grouped messages exist. */
  get applies(): boolean {
    return this.limits !== undefined || this.grouped;
  }

  /** New limits: a round waiting for the rate log runs again at once. */
  limit(limits: FlowLimits | undefined): void {
    this.limits = limits;
    this.#interrupt.abort();
    this.#interrupt = new AbortController();
  }

  /**
   * `count`: as many as the loop would read ahead; under a rate limit, as many as wait. (Under a cap
   * alone a handle reads ahead: what it holds counts against its groups' caps from the fetch on.)
   */
  async run(count: number, regroup: number): Promise<FlowFound> {
    const { source, target, accept } = this.#parts;
    const limits = this.limits;
    if (limits?.rateLimit !== undefined) count = Math.max(target.waiting, 1);
    const cap = limits?.groupConcurrency ?? 0;
    const { limit = 0, interval = 0 } = limits?.rateLimit ?? {};
    const began = performance.now();
    const [wait, rateWait, entries, bands, paused, grouped, watch] =
      await source.connection.client.sluiceFlowTake(
        source.stream,
        source.consumer,
        count,
        cap,
        limit,
        interval,
        regroup,
      );
    target.pauseChecked(paused === 1, began);
    this.grouped = grouped === 1;
    const found = { bands, paused: paused === 1, idle: false };
    if (found.paused) return found;
    const got = await accept(entries, FLOW_BAND);
    if (got > 0 || entries.length > 0) return found;
    if (target.waiting === 0) return { ...found, idle: true };
    if (rateWait >= 0) await this.#pause(rateWait);
    else await this.#block(watch, wait);
    return found;
  }

  async #pause(ms: number): Promise<void> {
    const signal = AbortSignal.any([this.#parts.stopped, this.#interrupt.signal]);
    await sleep(Math.max(ms, 1), undefined, { signal }).catch(() => {});
  }

  /** `watch` is [key, last entry id, ...]; `wait` ms until a delayed message is due, or -1. */
  async #block(watch: string[], wait: number): Promise<void> {
    const { maxBlock, blockingReader } = this.#parts;
    const keys: string[] = [];
    const ids: string[] = [];
    for (let i = 0; i < watch.length; i += 2) {
      keys.push(watch[i]!);
      ids.push(watch[i + 1]!);
    }
    const block = wait < 0 ? maxBlock : Math.min(Math.max(wait, 1), maxBlock);
    await blockingReader().call('XREAD', ['COUNT', 1, 'BLOCK', block, 'STREAMS', ...keys, ...ids]);
  }
}
