import { InvalidOptionError, SluiceError } from '../../errors.js';
import type { DeadLetter, DeadLettersOptions, QueueStats, RedriveOptions } from '../../queuing/operations.js';
import {
  assertIds,
  resolveDeadLettersOptions,
  resolveRedriveOptions,
} from '../../queuing/operations-options.js';
import type { Connection } from './connection.js';
import { DeadLetterReader, type Place } from './dead-letter-reader.js';
import { failure } from './errors.js';
import { GROUP, pausedKey, streamKey, wakeKey } from './keys.js';
import { type OperationCommands, withOperationScripts } from './operation-scripts.js';

/** Dead letters moved or deleted per script call: each call is atomic, so a crash keeps what moved. */
const BATCH = 500;
/** Waiting messages deleted per script call: short enough not to hold Redis up. */
const PURGE_BATCH = 1_000;

/**
 * A queue's operator face (see OperableQueue) on its keys (docs/wire-protocol.md (Redis)): counts
 * from the consumer groups and sorted sets in one script, the dead-letter queue's streams read as
 * they are, and the pause as a key that every consumer's fetch looks at.
 */
export class RedisOperator<T> {
  readonly #name: string;
  readonly #connection: Connection;
  readonly #stream: string;
  readonly #deadLetter: string;
  readonly #reader: DeadLetterReader;
  #scripts: OperationCommands | undefined;

  constructor(name: string, deadLetter: string, connection: Connection) {
    this.#name = name;
    this.#connection = connection;
    this.#stream = streamKey(name);
    this.#deadLetter = streamKey(deadLetter);
    this.#reader = new DeadLetterReader(() => this.#client(), this.#deadLetter);
  }

  async stats(): Promise<QueueStats> {
    const [ready, delayed, inFlight, dead, paused] = await this.#run('read the stats', () =>
      this.#client().sluiceStats(this.#stream, this.#deadLetter),
    );
    return { ready, delayed, inFlight, dead, paused: paused === 1 };
  }

  async deadLetters(options?: DeadLettersOptions): Promise<DeadLetter<T>[]> {
    const { limit, after } = resolveDeadLettersOptions(options);
    return this.#run('read the dead letters', async () => {
      const place = after === undefined ? undefined : await this.#reader.place(after);
      if (after !== undefined && place === undefined) {
        throw new InvalidOptionError('after', after, `the id of a dead letter of queue ${this.#name}`);
      }
      return this.#reader.letters<T>(await this.#reader.after(place, limit));
    });
  }

  async redrive(options?: RedriveOptions): Promise<number> {
    const { limit, ids } = resolveRedriveOptions(options);
    return this.#run('redrive the dead letters', async () => {
      if (ids !== undefined) return this.#move(await this.#reader.places(ids), limit);
      // The letters there now: one that dies again meanwhile is not moved a second time.
      const [seconds, micros] = await this.#connection.client.time();
      const upTo = String(Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000));
      let moved = 0;
      let cursor: Place | undefined;
      while (moved < limit) {
        const batch = await this.#reader.after(cursor, Math.min(BATCH, limit - moved), upTo);
        if (batch.length === 0) break;
        moved += await this.#move(
          batch.map(([place]) => place),
          Number.POSITIVE_INFINITY,
        );
        cursor = batch.at(-1)![0];
      }
      return moved;
    });
  }

  async discardDeadLetters(ids: readonly string[]): Promise<number> {
    assertIds(ids);
    return this.#run('discard dead letters', async () => {
      const places = await this.#reader.places(ids);
      let deleted = 0;
      for (let i = 0; i < places.length; i += BATCH) {
        const batch = places.slice(i, i + BATCH);
        deleted += await this.#client().sluiceDiscard(this.#deadLetter, ...pairs(batch));
        this.#reader.forget(batch);
      }
      return deleted;
    });
  }

  async purge(): Promise<number> {
    return this.#run('purge', async () => {
      let purged = 0;
      for (;;) {
        const count = await this.#client().sluicePurge(this.#stream, PURGE_BATCH);
        purged += count;
        if (count < PURGE_BATCH) return purged;
      }
    });
  }

  async pause(): Promise<void> {
    await this.#run('pause', () => this.#connection.client.set(pausedKey(this.#name), String(Date.now())));
  }

  async resume(): Promise<void> {
    await this.#run('resume', () => this.#connection.client.del(pausedKey(this.#name)));
  }

  /**
   * The queue's stream and wake-up stream and its dead-letter queue's stream, each with the group
   * `sluice` from id 0: a producer in another language may then send before any consumer started.
   */
  async declare(): Promise<void> {
    await this.#run('declare', async () => {
      for (const key of [this.#stream, wakeKey(this.#name), this.#deadLetter]) {
        await this.#connection.client
          .xgroup('CREATE', key, GROUP, '0', 'MKSTREAM')
          .catch((error: unknown) => {
            if (!String(error).includes('BUSYGROUP')) throw error;
          });
      }
    });
  }

  /** Moves these letters (at most `limit`, oldest first) in batches; returns how many moved. */
  async #move(places: readonly Place[], limit: number): Promise<number> {
    const chosen = places.slice(0, Math.min(places.length, limit));
    let moved = 0;
    for (let i = 0; i < chosen.length; i += BATCH) {
      const batch = chosen.slice(i, i + BATCH);
      moved += await this.#client().sluiceRedrive(this.#stream, this.#deadLetter, ...pairs(batch));
      this.#reader.forget(batch);
    }
    return moved;
  }

  #client(): OperationCommands {
    this.#scripts ??= withOperationScripts(this.#connection.client);
    return this.#scripts;
  }

  async #run<R>(what: string, command: () => Promise<R>): Promise<R> {
    const operation = `${what} of queue ${this.#name}`;
    await this.#connection.ready(operation);
    try {
      return await command();
    } catch (error) {
      if (error instanceof SluiceError) throw error;
      throw failure(operation, error);
    }
  }
}

function pairs(places: readonly Place[]): string[] {
  return places.flatMap(({ band, entryId }) => [band, entryId]);
}
