import { assertGroupConcurrency, assertRateLimit, limitsFlow, resolveFlowLimits } from '../flow-options.js';
import type { FlowLimits, RateLimit } from '../types.js';
import type { Intake } from './intake.js';

/**
 * A draining's flow limits (SPEC § 7), read and re-tuned while it runs: each change is checked, then
 * handed to the consumer's iterator, which applies it to what it hands out from then on.
 */
export class FlowTuning {
  readonly #intake: Intake<unknown>;
  #limits: FlowLimits;

  constructor(intake: Intake<any>, limits: FlowLimits) {
    this.#intake = intake;
    this.#limits = resolveFlowLimits(limits);
    if (limitsFlow(this.#limits)) intake.flow(this.#limits);
  }

  /** At most `limit` dispatches start in any window of `interval` milliseconds; `undefined`: none. */
  get rateLimit(): RateLimit | undefined {
    return this.#limits.rateLimit;
  }

  /**
   * The consumer applies the new limit to what it hands out from now on; `undefined` lifts it.
   *
   * @throws {@link InvalidOptionError} when the limit cannot work
   */
  set rateLimit(value: RateLimit | undefined) {
    assertRateLimit(value);
    this.#apply({ ...this.#limits, rateLimit: value });
  }

  /** At most this many messages of one group dispatched at once; `undefined`: no cap. */
  get groupConcurrency(): number | undefined {
    return this.#limits.groupConcurrency;
  }

  /**
   * Lowering it takes nothing back from what is being dispatched; `undefined` lifts it.
   *
   * @throws {@link InvalidOptionError} when the value cannot work
   */
  set groupConcurrency(value: number | undefined) {
    assertGroupConcurrency(value);
    this.#apply({ ...this.#limits, groupConcurrency: value });
  }

  #apply(limits: FlowLimits): void {
    const resolved = resolveFlowLimits(limits);
    this.#intake.flow(resolved);
    this.#limits = resolved;
  }
}
