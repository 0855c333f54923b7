import type { RateLimit } from '../../queuing/types.js';
import type { Connection } from './connection.js';
import { FlowStore, rateKey, slotsKey } from './flow-store.js';
import { GroupSlots } from './group-slots.js';
import { RateWindow } from './rate-window.js';

/**
 * A consumer's side of the flow-control state its queue shares in the `sluice-flow` bucket
 * (flow-store.ts), read and written on the connection it fetches on, and which of its deliveries
 * hold a group slot until they are settled.
 */
export class SharedFlow<D> {
  readonly defaultKey: string;
  #state: { connection: Connection; rate: RateWindow; slots: GroupSlots } | undefined;
  readonly #slotOf = new Map<D, string>();

  constructor(
    private readonly queue: string,
    private readonly lease: number,
  ) {
    this.defaultKey = slotsKey(queue, 'default');
  }

  /** The connection it reads and writes on; undefined until the consumer first connected. */
  get connection(): Connection | undefined {
    return this.#state?.connection;
  }

  follow(connection: Connection): void {
    if (this.#state?.connection === connection) return;
    const store = new FlowStore(connection);
    const rate = new RateWindow(store, rateKey(this.queue));
    this.#state = { connection, rate, slots: new GroupSlots(store, this.lease) };
  }

  /** The key-value key of a group's slots, by its group key. */
  keyOf(group: string): string {
    return slotsKey(this.queue, group);
  }

  /** Takes up to `wanted` slots of `key` under `cap`: how many (none before the first connection). */
  acquire(key: string, wanted: number, cap: number): Promise<number> {
    return this.#state?.slots.acquire(key, wanted, cap) ?? Promise.resolve(0);
  }

  release(key: string, count: number): Promise<void> {
    return this.#state?.slots.release(key, count) ?? Promise.resolve();
  }

  /** `delivery` holds a slot of `key` until it is settled or taken back. */
  holds(delivery: D, key: string): void {
    this.#slotOf.set(delivery, key);
  }

  /** Gives back the slot `delivery` held, if any: resolves with its key once given back. */
  settled(delivery: D): Promise<string> | undefined {
    const key = this.#slotOf.get(delivery);
    if (key === undefined) return undefined;
    this.#slotOf.delete(delivery);
    return this.release(key, 1).then(() => key);
  }

  renew(): void {
    this.#state?.slots.renew();
  }

  /** Hand-outs the rate window lets out now, of `wanted`; none: `wait` ms until it has room. */
  take(wanted: number, limit: RateLimit): Promise<{ granted: number; wait: number }> {
    const state = this.#state;
    if (state === undefined) return Promise.resolve({ granted: 0, wait: 100 });
    return state.rate.take(wanted, limit);
  }
}
