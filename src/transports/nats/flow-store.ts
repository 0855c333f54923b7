import type { KV } from '@nats-io/kv';
import type { Connection } from './connection.js';
import { encodeName } from './names.js';

/**
 * Flow-control state shared by every process consuming a queue: keys of the JetStream key-value
 * bucket `sluice-flow` (stream `KV_sluice-flow`, one value per key), created on first use:
 *
 *   <n>.rate            the rate limit's sliding-window log (rate-window.ts)
 *   <n>.slots.<group>   the group's slots (group-slots.ts); `<group>` is its key (names.ts
 *                       groupKey), `default` for messages sent with no group
 *
 * Every write is a compare-and-set on the key's last revision, so two processes never both take
 * what only one may have: the loser reads again and decides again.
 */
export const FLOW_BUCKET = 'sluice-flow';
/** JetStream's answer to a write whose expected last revision is not the key's. */
const WRONG_LAST_SEQUENCE = [10071, 10164];

export function rateKey(queue: string): string {
  return `${encodeName(queue)}.rate`;
}

export function slotsKey(queue: string, group: string): string {
  return `${encodeName(queue)}.slots.${group}`;
}

/** A change to one key's value: the value to write (undefined: write nothing) and what to answer. */
export type Change<R> = (value: string | undefined) => {
  readonly write: string | undefined;
  readonly result: R;
};

export class FlowStore {
  #bucket: Promise<KV> | undefined;

  constructor(private readonly connection: Connection) {}

  /** Reads `key`, applies `change` and writes the result if the key did not change meanwhile; else again. */
  async update<R>(key: string, change: Change<R>): Promise<R> {
    const bucket = await this.#open();
    for (;;) {
      const entry = await bucket.get(key);
      const value = entry === null || entry.operation !== 'PUT' ? undefined : entry.string();
      const { write, result } = change(value);
      if (write === undefined || write === value) return result;
      try {
        if (entry === null) await bucket.create(key, write);
        else await bucket.update(key, write, entry.revision);
        return result;
      } catch (error) {
        const code = (error as { code?: unknown } | null)?.code;
        if (!WRONG_LAST_SEQUENCE.includes(code as number) && !/wrong last sequence/i.test(String(error))) {
          throw error;
        }
      }
    }
  }

  #open(): Promise<KV> {
    this.#bucket ??= (async () => {
      // Loaded here: a queue that never limits its flow needs no @nats-io/kv installed.
      const { Kvm } = await import('@nats-io/kv');
      return new Kvm(this.connection.js).create(FLOW_BUCKET, { history: 1 });
    })();
    this.#bucket.catch(() => {
      this.#bucket = undefined;
    });
    return this.#bucket;
  }
}
