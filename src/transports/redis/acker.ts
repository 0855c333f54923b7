import type { Connection } from './connection.js';
import type { RedisDelivery } from './delivery.js';
import { failure } from './errors.js';
import { FLOW_BAND } from './keys.js';
import { TickBatches } from './tick-batches.js';

interface AckBatch {
  /** Entry ids of the queue's stream (priority 0), without a key. */
  readonly stream: string[];
  /** Entry ids of the streams of other priorities, without a key, by priority. */
  readonly bands: Map<string, string[]>;
  /** (priority, entry id) per entry holding a key: the script releases the key if it still holds it. */
  readonly keyed: string[];
  /** (entry id, group) per entry of the flow stream without a key: their script frees the groups' slots. */
  readonly flow: string[];
  /** Entry ids of the flow stream holding a key. */
  readonly flowKeyed: string[];
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
    () => ({ stream: [], bands: new Map(), keyed: [], flow: [], flowKeyed: [] }),
    (batch) => this.#ack(batch),
  );

  constructor(connection: Connection, stream: string, name: string) {
    this.#connection = connection;
    this.#stream = stream;
    this.#name = name;
  }

  ack(delivery: Pick<RedisDelivery<unknown>, 'band' | 'entryId' | 'key' | 'slot'>): Promise<void> {
    return this.#batches.add((batch) => {
      const { band, entryId, key } = delivery;
      if (key === '' && band === '0') batch.stream.push(entryId);
      else if (band === FLOW_BAND) {
        if (key === '') batch.flow.push(entryId, delivery.slot);
        else batch.flowKeyed.push(entryId);
      } else if (key !== '') batch.keyed.push(band, entryId);
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

  async #ack({ stream, bands, keyed, flow, flowKeyed }: AckBatch): Promise<void> {
    const client = this.#connection.client;
    try {
      const flowing = flow.length + flowKeyed.length > 0;
      const flowed = flowing
        ? client.sluiceFlowAck(this.#stream, flow.length / 2, ...flow, ...flowKeyed)
        : undefined;
      if (stream.length + bands.size + keyed.length > 0) {
        const args: (string | number)[] = [stream.length, ...stream, bands.size];
        for (const [band, ids] of bands) args.push(band, ids.length, ...ids);
        await client.sluiceAck(this.#stream, ...args, ...keyed);
      }
      await flowed;
    } catch (error) {
      throw failure(`ack on queue ${this.#name}`, error);
    }
  }
}
