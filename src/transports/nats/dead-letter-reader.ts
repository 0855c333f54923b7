import type { StoredMsg } from '@nats-io/jetstream';
import type { DeadLetter } from '../../queuing/operations.js';
import { decodeEnvelope } from '../shared/envelope.js';
import type { Connection } from './connection.js';
import { DEAD_ATTEMPT_HEADER, DEAD_REASON_HEADER, streamName, subjectPrefix } from './names.js';

/** Gets sent at once when reading by sequence: a page of 50 costs one round of them. */
const WAVE = 256;
/** Ids whose sequence a handle remembers, for `after`, `redrive({ ids })` and discards. */
const REMEMBERED = 10_000;
const STREAM_NOT_FOUND = 10059;
const NO_MESSAGE = [10037, 10057];
const decoder = new TextDecoder();

/** A dead letter and where it is stored. */
export interface StoredLetter<T> {
  readonly letter: DeadLetter<T>;
  readonly stored: StoredMsg;
}

/**
 * Reads a dead-letter queue's stream by sequence, oldest first, without consuming: its messages
 * stay where they are, pending on no consumer. A letter is named by its envelope's id (or
 * `<stream>:<sequence>`, as a body without one is named); the handle remembers the sequence of the
 * ids it showed, so the next page, a redrive or a discard of them goes straight to it. An id it
 * never showed is found by reading the stream from its start.
 */
export class DeadLetterReader<T> {
  readonly stream: string;
  readonly #filter: string;
  readonly #sequences = new Map<string, number>();

  constructor(queue: string) {
    this.stream = streamName(queue);
    this.#filter = `${subjectPrefix(queue)}*`;
  }

  /** The letters stored after sequence `after`, oldest first, read `wave` sequences at a time. */
  async *letters(connection: Connection, after = 0, wave = WAVE): AsyncGenerator<StoredLetter<T>> {
    const state = await this.#state(connection);
    if (state === undefined) return;
    let next = Math.max(after + 1, state.first_seq);
    while (next <= state.last_seq) {
      const count = Math.min(wave, state.last_seq - next + 1);
      const gets = Array.from({ length: count }, (_, i) => this.#get(connection, next + i));
      let found = 0;
      for (const stored of await Promise.all(gets)) {
        if (stored === null) continue;
        found++;
        yield this.#letter(stored);
      }
      next += count;
      if (found === 0) {
        // A gap as wide as a wave: jump to the next message stored.
        const stored = await this.#get(connection, next, this.#filter);
        if (stored === null) return;
        next = stored.seq;
      }
    }
  }

  /** The sequence after which `after`'s page starts; undefined when no letter has that id. */
  async sequenceOf(connection: Connection, id: string): Promise<number | undefined> {
    const known = this.#sequences.get(id);
    if (known !== undefined) return known;
    for await (const { letter, stored } of this.letters(connection)) {
      if (letter.id === id) return stored.seq;
    }
    return undefined;
  }

  /**
   * The letters with these ids, oldest first: those this handle showed at the sequence it showed
   * them (if still there), the others found by reading the stream.
   */
  async find(connection: Connection, ids: readonly string[]): Promise<StoredLetter<T>[]> {
    const found: StoredLetter<T>[] = [];
    const unknown = new Set<string>();
    for (const id of new Set(ids)) {
      const seq = this.#sequences.get(id);
      if (seq === undefined) unknown.add(id);
      else {
        const stored = await this.#get(connection, seq);
        const letter = stored === null ? undefined : this.#letter(stored);
        if (letter?.letter.id === id) found.push(letter);
      }
    }
    if (unknown.size > 0) {
      for await (const letter of this.letters(connection)) {
        if (unknown.has(letter.letter.id)) found.push(letter);
      }
    }
    return found.sort((a, b) => a.stored.seq - b.stored.seq);
  }

  /** Deletes a letter by its sequence; false when it was no longer there. */
  async delete(connection: Connection, seq: number): Promise<boolean> {
    try {
      return await connection.jsm.streams.deleteMessage(this.stream, seq, false);
    } catch (error) {
      if (NO_MESSAGE.includes(codeOf(error) as number) || codeOf(error) === STREAM_NOT_FOUND) return false;
      throw error;
    }
  }

  /** How many letters the stream holds. */
  async count(connection: Connection): Promise<number> {
    return (await this.#state(connection))?.messages ?? 0;
  }

  async #state(connection: Connection) {
    try {
      return (await connection.jsm.streams.info(this.stream)).state;
    } catch (error) {
      if (codeOf(error) === STREAM_NOT_FOUND) return undefined;
      throw error;
    }
  }

  async #get(connection: Connection, seq: number, nextBySubject?: string): Promise<StoredMsg | null> {
    const query = nextBySubject === undefined ? { seq } : { seq, next_by_subj: nextBySubject };
    try {
      // `next_by_subj` is in JetStream's message get since nats-server 2.9; the client's type lacks it.
      return await connection.jsm.streams.getMessage(this.stream, query as { seq: number });
    } catch (error) {
      if (codeOf(error) === STREAM_NOT_FOUND) return null;
      throw error;
    }
  }

  #letter(stored: StoredMsg): StoredLetter<T> {
    const body = decoder.decode(stored.data);
    let message: unknown = body;
    let id: string | undefined;
    let sentAttempt = 1;
    try {
      const envelope = decodeEnvelope(body);
      ({ id, payload: message, attempt: sentAttempt } = envelope);
    } catch {
      // Put on the dead-letter queue by another producer, not an envelope: shown as its text.
    }
    id ??= `${this.stream}:${stored.seq}`;
    this.#remember(id, stored.seq);
    const attempt = Number(stored.header.get(DEAD_ATTEMPT_HEADER));
    const letter: DeadLetter<T> = {
      id,
      message: message as T,
      reason: stored.header.get(DEAD_REASON_HEADER),
      // Copies stored before the header existed: the attempt the envelope says.
      attempt: Number.isInteger(attempt) && attempt > 0 ? attempt : sentAttempt,
      deadAt: stored.time.getTime(),
    };
    return { letter, stored };
  }

  #remember(id: string, seq: number): void {
    this.#sequences.delete(id);
    this.#sequences.set(id, seq);
    if (this.#sequences.size > REMEMBERED) this.#sequences.delete(this.#sequences.keys().next().value!);
  }
}

function codeOf(error: unknown): unknown {
  return (error as { code?: unknown } | null)?.code;
}
