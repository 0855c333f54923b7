import { limitsFlow } from '../../queuing/flow-options.js';
import type { FlowLimits, RateLimit } from '../../queuing/types.js';
import type { GuardedDelivery } from '../shared/delivery.js';
import type { HandedOut } from '../shared/handed-out.js';
import type { Waiters } from '../shared/iterator.js';
import type { Connection } from './connection.js';
import { GroupSlots } from './group-slots.js';
import type { Prefetched } from './prefetched.js';
import type { Publisher } from './publisher.js';
import { assertTokenLimit, RateGate } from './rate-gate.js';

interface Held<D extends GuardedDelivery<unknown, D>> {
  readonly waiters: Waiters<D>;
  readonly prefetched: Prefetched<D>;
  readonly handedOut: HandedOut<D>;
}

/**
 * A consumer's flow limits (SPEC § 7): while any applies, what it receives is held and handed out by
 * `dispatch`, each hand-out within its group's slots (group-slots.ts) and spending a rate token
 * (rate-gate.ts). With none, the consumer hands out as it always did.
 */
export class FlowLimiter<D extends GuardedDelivery<unknown, D>> {
  readonly #slots = new GroupSlots<D>();
  #gate: RateGate | undefined;
  /**
   * After a change of rate limit, nothing is handed out for the longer of the two intervals: the
   * hand-outs made under the old limit leave every window before any is made under the new one.
   */
  #reopening: NodeJS.Timeout | undefined;
  #limited = false;

  /** `held`: the consumer's deliveries and waiting `next()` calls, which `dispatch` pairs. */
  constructor(
    private readonly connection: Connection,
    private readonly publisher: Publisher,
    private readonly name: string,
    private readonly held: Held<D>,
  ) {}

  get limited(): boolean {
    return this.#limited;
  }

  /** Whether a group cap applies. */
  get capped(): boolean {
    return this.#slots.cap !== undefined;
  }

  /** From the next hand-out on, follows `limits` (checked already, but for the broker's own bound). */
  set(limits: FlowLimits): void {
    const { rateLimit, groupConcurrency } = limits;
    assertTokenLimit(rateLimit);
    if (!sameRate(this.#gate?.rateLimit, rateLimit)) {
      const old = this.#gate?.rateLimit;
      if (old !== undefined && rateLimit !== undefined)
        this.#closeFor(Math.max(old.interval, rateLimit.interval));
      this.#gate?.close();
      this.#gate =
        rateLimit === undefined
          ? undefined
          : new RateGate(this.connection, this.publisher, this.name, rateLimit, () => this.dispatch());
    }
    this.#slots.cap = groupConcurrency;
    this.#limited = limitsFlow(limits);
  }

  /** Hands out to the waiting `next()` calls what the limits let out now, groups in turn. */
  dispatch(): void {
    const { waiters, prefetched, handedOut } = this.held;
    const gate = this.#gate;
    if (gate !== undefined && this.#reopening !== undefined) return;
    while (waiters.size > 0 && (gate === undefined || gate.ready)) {
      const delivery = prefetched.take(this.#slots.admits);
      if (delivery === undefined) break;
      this.#slots.taken(delivery);
      handedOut.add(delivery);
      waiters.hand(delivery);
      gate?.spend(); // after the hand-out: the token cools for `interval` from the broker's receipt
    }
    gate?.want(waiters.size > 0 && prefetched.size > 0);
  }

  /** A delivery was settled; true when that freed a slot of its group. */
  settled(delivery: D): boolean {
    return this.#slots.given(delivery);
  }

  close(): void {
    clearTimeout(this.#reopening);
    this.#gate?.close();
  }

  #closeFor(ms: number): void {
    clearTimeout(this.#reopening);
    this.#reopening = setTimeout(() => {
      this.#reopening = undefined;
      this.dispatch();
    }, ms);
  }
}

function sameRate(a: RateLimit | undefined, b: RateLimit | undefined): boolean {
  return a === b || (a?.limit === b?.limit && a?.interval === b?.interval);
}
