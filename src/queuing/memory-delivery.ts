import { DeliverySettledError } from '../errors.js';
import type { MemoryCore } from './memory-core.js';
import { assertNackOptions } from './send-options.js';
import { RESOLVED } from './settled.js';
import type { Delivery, NackOptions } from './types.js';

export class MemoryDelivery<T> implements Delivery<T> {
  #settled = false;

  constructor(
    private readonly core: MemoryCore<T>,
    readonly message: T,
    readonly attempt: number,
    readonly priority: number,
    public seq: number,
    readonly key: string | undefined,
  ) {}

  ack(): Promise<void> {
    if (this.#settled) return Promise.reject(new DeliverySettledError(this.core.name));
    this.#settled = true;
    this.core.ack(this);
    return RESOLVED;
  }

  /** A nack that fails (a backoff that throws, a dead-letter queue that refuses) leaves it unsettled. */
  nack(options: NackOptions = {}): Promise<void> {
    if (this.#settled) return Promise.reject(new DeliverySettledError(this.core.name));
    let nacked: Promise<void>;
    this.#settled = true; // already while a dead-letter send is under way
    try {
      assertNackOptions(options);
      nacked = this.core.nack(this, options);
    } catch (error) {
      this.#settled = false;
      return Promise.reject(error);
    }
    if (nacked === RESOLVED) return nacked;
    return nacked.catch((error) => {
      this.#settled = false;
      throw error;
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.#settled ? RESOLVED : this.nack();
  }
}
