import type { KvEntry } from '@nats-io/kv';
import { SerializationError } from '../../errors.js';
import { isFinal } from '../../jobs/status.js';
import type { JobRecord } from '../../jobs/store.js';
import { decodeJobRecord, encodeJobRecord } from '../shared/job-record.js';
import { keyOf } from './job-buckets.js';
import { type Held, HeldRecords } from './job-held.js';
import type { JobSession } from './job-session.js';

/** JetStream's answers to a compare-and-set whose revision is not the key's last (create included). */
const WRONG_LAST_SEQUENCE = [10071, 10164];
/** Live records a handle holds at most, to write without reading first (see HeldRecords). */
const HELD_RECORDS = 10_000;

/**
 * How a NatsJobStore's records move between its buckets (the rules are in NatsJobStore's comment):
 * the compare-and-set on a live record's revision, the move of an ended record to its outcome's
 * bucket, and create's look into the outcome buckets. Holds the records this handle last wrote or
 * read, so that most writes need no read first.
 */
export class JobRecords {
  readonly #held = new HeldRecords(HELD_RECORDS);

  /** Job `id`'s record: the live one, else the one its outcome's bucket retains. */
  async get(session: JobSession, id: string): Promise<JobRecord | undefined> {
    const key = keyOf(id);
    return (await this.#read(session, key))?.record ?? (await this.#retained(session, key));
  }

  /**
   * Stores `record` unless its id is kept, live or retained: `undefined` once stored, else the kept
   * record. Once the create in the live bucket succeeded, an ended record of the id can only be in
   * an outcome bucket (it is copied there before it leaves the live one), so one look there settles it.
   */
  async add(session: JobSession, record: JobRecord): Promise<JobRecord | undefined> {
    const key = keyOf(record.id);
    for (;;) {
      let revision: number;
      try {
        revision = await session.live.create(key, encodeJobRecord(record));
      } catch (error) {
        if (!isConflict(error)) throw error;
        const kept = await this.#read(session, key);
        if (kept === undefined) continue; // it left the live bucket meanwhile: its copy is found next time
        if (isFinal(kept.record.status)) await this.retire(session, record.id, kept);
        else this.#held.set(record.id, kept);
        return kept.record;
      }
      const retained = await this.#retained(session, key);
      if (retained === undefined) {
        this.#held.set(record.id, { revision, record });
        return undefined;
      }
      await this.#takeOut(session, key, revision);
      return retained;
    }
  }

  /**
   * Writes `next(record)` over job `id`'s live record unless the job ended: a compare-and-set on the
   * revision, read again and retried when another write came first. Resolves what the live bucket
   * holds afterwards and whether this call wrote it; `undefined` when it holds no record of the job.
   * An ended record found there is moved out (its mover stopped half way).
   */
  async change(
    session: JobSession,
    id: string,
    next: (record: JobRecord) => JobRecord,
  ): Promise<{ held: Held; written: boolean } | undefined> {
    const key = keyOf(id);
    let held = this.#held.get(id) ?? (await this.#read(session, key));
    for (;;) {
      if (held === undefined) {
        this.#held.delete(id);
        return undefined;
      }
      if (isFinal(held.record.status)) {
        await this.retire(session, id, held);
        return { held, written: false };
      }
      const record = next(held.record);
      try {
        const revision = await session.live.update(key, encodeJobRecord(record), held.revision);
        held = { revision, record };
        this.#held.set(id, held);
        return { held, written: true };
      } catch (error) {
        if (!isConflict(error)) throw error;
        held = await this.#read(session, key);
      }
    }
  }

  /**
   * Moves job `id`'s ended record from the live bucket to its outcome's, where it expires: copied
   * first (unless a copy is there: another process moved it too), then taken out of the live bucket.
   */
  async retire(session: JobSession, id: string, { revision, record }: Held): Promise<void> {
    const key = keyOf(id);
    const bucket = record.status === 'success' ? session.success : session.failure;
    try {
      await bucket.create(key, encodeJobRecord(record));
    } catch (error) {
      if (!isConflict(error)) throw error;
    }
    await this.#takeOut(session, key, revision);
    this.#held.delete(record.id);
  }

  async remove(session: JobSession, id: string): Promise<void> {
    const key = keyOf(id);
    let held = this.#held.get(id) ?? (await this.#read(session, key));
    // A revision held here may be stale: then nothing is taken out, and the last one is read.
    while (held !== undefined && !(await this.#takeOut(session, key, held.revision))) {
      held = await this.#read(session, key);
    }
    this.#held.delete(id);
  }

  async #read(session: JobSession, key: string): Promise<Held | undefined> {
    return heldOf(await session.live.get(key));
  }

  /** The record an outcome bucket keeps of a job that ended, until it expires there. */
  async #retained(session: JobSession, key: string): Promise<JobRecord | undefined> {
    const [success, failure] = await Promise.all([session.success.get(key), session.failure.get(key)]);
    return (heldOf(success) ?? heldOf(failure))?.record;
  }

  /**
   * Takes a live record out by its revision: purges the key's messages up to that one, which spares
   * a newer record of the key and leaves no deletion marker behind (the live bucket would keep one
   * per job for ever). Whether it was there.
   */
  async #takeOut(session: JobSession, key: string, revision: number): Promise<boolean> {
    const { name, prefix } = session.streams.live;
    const { purged } = await session.connection.jsm.streams.purge(name, {
      filter: prefix + key,
      seq: revision + 1,
    });
    return purged > 0;
  }
}

/** A bucket's entry as a record with its revision; none for a deletion. */
function heldOf(entry: KvEntry | null): Held | undefined {
  if (entry === null || entry.operation !== 'PUT') return undefined;
  const record = decodeJobRecord(entry.string());
  if (record === undefined) {
    throw new SerializationError(
      `key ${entry.key} of NATS bucket ${entry.bucket} holds a value that is no job record`,
    );
  }
  return { revision: entry.revision, record };
}

/** Another write came first: the revision given is not the key's last. */
function isConflict(error: unknown): boolean {
  return WRONG_LAST_SEQUENCE.includes(codeOf(error) as number);
}

function codeOf(error: unknown): unknown {
  return (error as { code?: unknown } | null)?.code;
}
