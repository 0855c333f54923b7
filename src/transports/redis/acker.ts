import type { Connection } from './connection.js';
import type { RedisDelivery } from './delivery.js';
import { failure } from './errors.js';
import { TickBatches } from './tick-batches.js';

interface AckBatch {
  /** Entry ids of the queue's stream (priority 0), without a key. */
  readonly stream: string[];
  /** Entry ids of the streams of other priorities, without a key, by priority. */
  readonly bands: Map<string, string[]>;
  /** (priority, entry id) per entry holding a key: the script releases the key if it still holds it. */
  readonly keyed: string[];
}

/**
 * Coalesces the acks made in one tick (a pump's loops finishing together) into one `ack` script
 * call: XACK of every entry, deletion or trimming, and the release of their dedup keys.
 */
export class AckBatcher {
  readonly #connection: Connection;
  readonly #stream: string;
  readonly #name: string;
  readonly #batches = new TickBatches<AckBatch>(
    () => ({ stream: [], bands: new Map(), keyed: [] }),
    (batch) => this.#ack(batch),
  );

  constructor(connection: Connection, stream: string, name: string) {
    this.#connection = connection;
    this.#stream = stream;
    this.#name = name;
  }

  ack(delivery: Pick<RedisDelivery<unknown>, 'band' | 'entryId' | 'key'>): Promise<void> {
    return this.#batches.add((batch) => {
      const { band, entryId, key } = delivery;
      if (key !== '') batch.keyed.push(band, entryId);
      else if (band === '0') batch.stream.push(entryId);
      else {
        const ids = batch.bands.get(band);
        if (ids === undefined) batch.bands.set(band, [entryId]);
        else ids.push(entryId);
      }
    });
  }

  drain(): Promise<void> {
    return this.#batches.drain();
  }

  async #ack({ stream, bands, keyed }: AckBatch): Promise<void> {
    const args: (string | number)[] = [stream.length, ...stream, bands.size];
    for (const [band, ids] of bands) args.push(band, ids.length, ...ids);
    try {
      await this.#connection.client.sluiceAck(this.#stream, ...args, ...keyed);
    } catch (error) {
      throw failure(`ack on queue ${this.#name}`, error);
    }
  }
}
