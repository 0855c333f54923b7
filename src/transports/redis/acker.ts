import type { Connection } from './connection.js';
import { unavailable } from './connection.js';
import type { Entry } from './delivery.js';
import { GROUP } from './keys.js';
import { TickBatches } from './tick-batches.js';

interface AckBatch {
  readonly stream: string[];
  readonly priority: string[];
  /** (stream, entry id, key) per keyed entry: its key is released only if the ack took. */
  readonly keyed: string[];
}

/**
 * Coalesces the acks made in one tick (a pump's loops finishing together) into one `ack` script
 * call: XACK + XDEL of every entry, and the release of their dedup keys.
 */
export class AckBatcher {
  readonly #connection: Connection;
  readonly #keys: string[];
  readonly #name: string;
  readonly #batches = new TickBatches<AckBatch>(
    () => ({ stream: [], priority: [], keyed: [] }),
    (batch) => this.#ack(batch),
  );

  constructor(connection: Connection, keys: string[], name: string) {
    this.#connection = connection;
    this.#keys = keys;
    this.#name = name;
  }

  ack(entry: Pick<Entry, 'stream' | 'entryId' | 'key'>): Promise<void> {
    return this.#batches.add((batch) => {
      if (entry.key !== '') batch.keyed.push(entry.stream, entry.entryId, entry.key);
      else if (entry.stream === 's') batch.stream.push(entry.entryId);
      else batch.priority.push(entry.entryId);
    });
  }

  drain(): Promise<void> {
    return this.#batches.drain();
  }

  async #ack({ stream, priority, keyed }: AckBatch): Promise<void> {
    try {
      await this.#connection.client.sluiceAck(
        ...this.#keys,
        GROUP,
        this.#name,
        stream.length,
        ...stream,
        priority.length,
        ...priority,
        ...keyed,
      );
    } catch (error) {
      throw unavailable(`ack on queue ${this.#name}`, error);
    }
  }
}
