import type { Connection } from './connection.js';
import type { RedisDelivery } from './delivery.js';
import { bandKey, GROUP } from './keys.js';

/** Where a delivery the handle holds sits. */
type Held = Pick<RedisDelivery<unknown>, 'band' | 'entryId'>;

/** What a lease keeps, for whom, and for how long. */
export interface LeaseTerms {
  readonly connection: Connection;
  readonly stream: string;
  readonly deadLetter: string;
  /** This handle's name in the consumer group. */
  readonly consumer: string;
  readonly visibilityTimeout: number;
  readonly maxAttempts: number;
}

/**
 * Keeps a handle's deliveries its own and gives back those of handles that died. Every
 * visibilityTimeout / 3 it re-claims the entries the handle holds (XCLAIM JUSTID resets their idle
 * time), so only a handle that died or lost Redis sees its deliveries reclaimed; then it runs the
 * reclaim script, which puts back such deliveries (or dead-letters them after the last attempt).
 */
export class Lease {
  readonly #terms: LeaseTerms;
  readonly #held: ReadonlySet<Held>;
  readonly #timer: NodeJS.Timeout;
  #renewing = false;
  #stopped = false;

  constructor(terms: LeaseTerms, held: ReadonlySet<Held>) {
    this.#terms = terms;
    this.#held = held;
    const every = Math.max(10, Math.floor(terms.visibilityTimeout / 3));
    this.#timer = setInterval(() => void this.#renew(), every);
    this.#timer.unref();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }

  async #renew(): Promise<void> {
    if (this.#renewing) return;
    this.#renewing = true;
    const { connection, stream, deadLetter, consumer, visibilityTimeout, maxAttempts } = this.#terms;
    const client = connection.client;
    try {
      const byBand = new Map<string, string[]>();
      for (const { band, entryId } of this.#held) {
        const ids = byBand.get(band);
        if (ids === undefined) byBand.set(band, [entryId]);
        else ids.push(entryId);
      }
      for (const [band, ids] of byBand) {
        await client.xclaim(bandKey(stream, band), GROUP, consumer, 0, ...ids, 'JUSTID');
      }
      if (!this.#stopped) {
        await client.sluiceReclaim(stream, deadLetter, consumer, visibilityTimeout, maxAttempts);
      }
    } catch {
      // Redis is unreachable or was restarted: the next round retries, the fetch loop recreates groups.
    } finally {
      this.#renewing = false;
    }
  }
}
