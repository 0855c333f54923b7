import { DeliverySettledError } from '../../errors.js';
import { assertNackOptions } from '../send-options.js';
import { RESOLVED } from '../settled.js';
import type { Delivery, NackOptions } from '../types.js';

/** What a delivery settles through: the queue's core. */
export interface DeliveryOwner<T> {
  readonly name: string;
  ack(delivery: MemoryDelivery<T>): void;
  /** Returns `RESOLVED` when done at once (no dead-letter send under way). */
  nack(delivery: MemoryDelivery<T>, options: NackOptions): Promise<void>;
}

export const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

export class MemoryDelivery<T> implements Delivery<T> {
  /** No scope of its own. Declared (on the prototype) because a pump reads it on every dispatch. */
  declare readonly within: undefined;
  /** The default group, on the prototype: an ungrouped delivery is shaped as it always was. */
  declare readonly group: string | undefined;

  static {
    Object.defineProperty(MemoryDelivery.prototype, 'within', { value: undefined });
    Object.defineProperty(MemoryDelivery.prototype, 'group', { value: undefined });
  }

  #settled = false;

  constructor(
    private readonly core: DeliveryOwner<T>,
    readonly message: T,
    readonly attempt: number,
    readonly priority: number,
    public seq: number,
    readonly key: string | undefined,
    readonly headers: Readonly<Record<string, string>> = NO_HEADERS,
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

/** A delivery of a message sent with a group: only grouped queues make these. */
export class GroupedDelivery<T> extends MemoryDelivery<T> {
  constructor(
    core: DeliveryOwner<T>,
    message: T,
    attempt: number,
    priority: number,
    seq: number,
    key: string | undefined,
    headers: Readonly<Record<string, string>> | undefined,
    override readonly group: string,
  ) {
    super(core, message, attempt, priority, seq, key, headers);
  }
}

/** A delivery in `group` (`undefined`: the default group, as every delivery of a queue with no groups). */
export function deliveryOf<T>(
  core: DeliveryOwner<T>,
  message: T,
  attempt: number,
  priority: number,
  seq: number,
  key: string | undefined,
  headers: Readonly<Record<string, string>> | undefined,
  group: string | undefined,
): MemoryDelivery<T> {
  return group === undefined
    ? new MemoryDelivery(core, message, attempt, priority, seq, key, headers)
    : new GroupedDelivery(core, message, attempt, priority, seq, key, headers, group);
}
