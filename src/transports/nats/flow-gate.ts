import type { FlowLimits } from '../../queuing/types.js';
import { lastToken } from './ack-protocol.js';
import type { Bands } from './bands.js';
import type { NatsDelivery } from './delivery.js';
import type { SharedFlow } from './flow-shared.js';
import type { Groups } from './groups.js';

/** What the hand-outs read and drive of a consumer's groups and limits (flow.ts's FlowControl). */
export interface GatedFlow<D extends NatsDelivery<unknown>> {
  readonly owner: {
    readonly paused: boolean;
    readonly closed: boolean;
    readonly waiting: number;
    readonly bands: Bands<D>;
    hand(delivery: D): boolean;
    release(delivery: D): void;
  };
  readonly shared: SharedFlow<D>;
  readonly groups: Groups<D>;
  readonly limits: FlowLimits;
  readonly buffered: number;
  again: boolean;
  defaultBlocked: boolean;
  pick(defaultAllowed?: number): D | undefined;
  demandMore(): void;
  later(ms: number): void;
}

/**
 * Hands buffered deliveries out under limits, a batch per round while `next()` calls wait: the
 * default group's slots for its share of the batch first (a group's were taken before its pull),
 * then the rate window's for the batch, then the batch goes out in round-robin order at once, so a
 * hand-out is counted right before it is made. What the window or the slots do not let out stays
 * buffered for the next round.
 */
export async function handOut<D extends NatsDelivery<unknown>>(flow: GatedFlow<D>): Promise<void> {
  const { owner, shared } = flow;
  for (;;) {
    flow.again = false;
    const { rateLimit, groupConcurrency } = flow.limits;
    if (owner.paused || owner.closed || owner.waiting === 0) return;
    const inBands = owner.bands.primed ? owner.bands.buffered() : 0;
    let wanted = Math.min(owner.waiting, flow.buffered + inBands);
    if (wanted === 0) {
      flow.demandMore();
      return;
    }
    let defaultSlots = inBands;
    if (groupConcurrency !== undefined && inBands > 0) {
      defaultSlots = flow.defaultBlocked
        ? 0
        : await shared.acquire(shared.defaultKey, Math.min(wanted, inBands), groupConcurrency);
      flow.defaultBlocked = defaultSlots === 0;
    }
    wanted = Math.min(wanted, flow.buffered + defaultSlots);
    const allowed = await granted(flow, wanted, rateLimit);
    let usedDefault = 0;
    for (let i = 0; i < allowed; i++) {
      const delivery = flow.pick(defaultSlots - usedDefault);
      if (delivery === undefined) break;
      if (groupConcurrency !== undefined && flow.groups.band(lastToken(delivery.raw.subject)) === undefined) {
        usedDefault++;
        shared.holds(delivery, shared.defaultKey);
      }
      if (!owner.hand(delivery)) {
        owner.release(delivery);
        break;
      }
    }
    if (groupConcurrency !== undefined && defaultSlots > usedDefault && inBands > 0) {
      void shared.release(shared.defaultKey, defaultSlots - usedDefault);
    }
    if (allowed === 0) return;
  }
}

/** How many of `wanted` the rate window lets out now; none: the hand-outs try again when it has room. */
async function granted<D extends NatsDelivery<unknown>>(
  flow: GatedFlow<D>,
  wanted: number,
  rateLimit: FlowLimits['rateLimit'],
): Promise<number> {
  if (wanted === 0 || rateLimit === undefined) return wanted;
  const { granted, wait } = await flow.shared.take(wanted, rateLimit);
  if (granted === 0) flow.later(wait);
  return granted;
}
