import { atMost } from './at-most.js';
import type { GuardedDelivery } from './delivery.js';

/**
 * The deliveries a consumer handed out that are not settled yet: what its `close()` lets settle for
 * `closeTimeout`, then takes back to give to the broker again.
 */
export class HandedOut<D extends GuardedDelivery<unknown, D>> {
  readonly #deliveries = new Set<D>();
  #onEmpty: (() => void) | undefined;

  get size(): number {
    return this.#deliveries.size;
  }

  add(delivery: D): void {
    this.#deliveries.add(delivery);
  }

  /** It settled, or went back: it is no longer this consumer's to wait for. */
  delete(delivery: D): void {
    if (this.#deliveries.delete(delivery) && this.#deliveries.size === 0) this.#onEmpty?.();
  }

  /**
   * Waits until every delivery settled or `ms` passed, then takes back those still unsettled (they
   * refuse a late ack or nack) and returns them, for the consumer to give back to the broker.
   */
  async settleWithin(ms: number): Promise<D[]> {
    if (this.#deliveries.size > 0) {
      await atMost(
        new Promise<void>((resolve) => {
          this.#onEmpty = resolve;
        }),
        ms,
      );
    }
    const unsettled = [...this.#deliveries].filter((delivery) => delivery.takeBack());
    this.#deliveries.clear();
    return unsettled;
  }
}
