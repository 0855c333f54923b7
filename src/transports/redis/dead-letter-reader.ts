import type { DeadLetter } from '../../queuing/operations.js';
import { decodeEnvelope } from '../shared/envelope.js';
import type { OperationCommands } from './operation-scripts.js';
import type { RawEntry } from './scripts.js';

/** Where a dead letter is: the priority of its stream in the dead-letter queue, and its entry id. */
export interface Place {
  readonly band: string;
  readonly entryId: string;
}

/** Entries read per round trip when looking for letters by id. */
const SCAN_PAGE = 1_000;
/** The places of letters last shown that a handle remembers, so that the next page or action finds them at once. */
const REMEMBERED = 10_000;

/**
 * Reads a dead-letter queue's streams (one per priority) as one list, oldest first: by entry id,
 * which is the time Redis appended the letter, then by priority for equal ids. A letter is named
 * by its message id (docs/wire-protocol.md (Redis)), which Redis does not index: the places of the
 * letters a handle has shown are remembered, and an id not among them is looked for from the oldest.
 */
export class DeadLetterReader {
  readonly #client: () => OperationCommands;
  readonly #stream: string;
  readonly #places = new Map<string, Place>();

  constructor(client: () => OperationCommands, deadLetterStream: string) {
    this.#client = client;
    this.#stream = deadLetterStream;
  }

  /** Up to `count` letters after `place` (from the oldest without one), appended up to `end`. */
  async after(place: Place | undefined, count: number, end = '+'): Promise<[Place, RawEntry][]> {
    const start = place?.entryId ?? '-';
    // Inclusive start: each stream may return the entry at `place` as well.
    const reply = await this.#client().sluiceDeadPage(this.#stream, start, end, count + 1);
    const found: [Place, RawEntry][] = [];
    for (let i = 0; i < reply.length; i += 2) {
      for (const entry of reply[i + 1] as RawEntry[]) {
        const at = { band: reply[i] as string, entryId: entry[0] };
        if (place === undefined || compare(at, place) > 0) found.push([at, entry]);
      }
    }
    return found.sort(([a], [b]) => compare(a, b)).slice(0, count);
  }

  /** The letters, remembered by id. */
  letters<T>(entries: readonly [Place, RawEntry][]): DeadLetter<T>[] {
    return entries.map(([place, entry]) => {
      const letter = letterOf<T>(entry);
      this.remember(letter.id, place);
      return letter;
    });
  }

  /** Where the letter named `id` is, remembered or found; undefined if it is in none of the streams. */
  async place(id: string): Promise<Place | undefined> {
    return (await this.places([id]))[0];
  }

  /** Where the letters named are (those found), from the oldest. */
  async places(ids: readonly string[]): Promise<Place[]> {
    const found: Place[] = [];
    const missing = new Set<string>();
    for (const id of new Set(ids)) {
      const place = this.#places.get(id);
      if (place === undefined) missing.add(id);
      else found.push(place);
    }
    let cursor: Place | undefined;
    while (missing.size > 0) {
      const page = await this.after(cursor, SCAN_PAGE);
      for (const [place, entry] of page) {
        const id = letterId(entry);
        if (missing.delete(id)) {
          found.push(place);
          this.remember(id, place);
        }
      }
      if (page.length < SCAN_PAGE) break;
      cursor = page.at(-1)![0];
    }
    return found.sort(compare);
  }

  remember(id: string, place: Place): void {
    this.#places.set(id, place);
    if (this.#places.size > REMEMBERED) this.#places.delete(this.#places.keys().next().value!);
  }

  /** Forgets the letters at these places: they left the dead-letter queue. */
  forget(places: readonly Place[]): void {
    const gone = new Set(places.map(({ band, entryId }) => `${band} ${entryId}`));
    for (const [id, { band, entryId }] of this.#places) {
      if (gone.has(`${band} ${entryId}`)) this.#places.delete(id);
    }
  }
}

/** A letter's fields as the dead-letter script wrote them (docs/wire-protocol.md (Redis)). */
function letterOf<T>([entryId, fields]: RawEntry): DeadLetter<T> {
  const named = fieldsOf(fields);
  const body = named.body ?? '';
  let id = named.id || entryId;
  let message: unknown = body;
  try {
    const envelope = decodeEnvelope(body);
    message = envelope.payload;
    id = envelope.id ?? id;
  } catch {
    // not an envelope (a program other than sluice wrote it): shown as the text it is
  }
  const attempt = Number(named.lastAttempt ?? 1);
  return {
    id,
    message: message as T,
    reason: named.reason ?? '',
    attempt: Number.isInteger(attempt) && attempt >= 1 ? attempt : 1,
    // The entry id is the time Redis appended the letter: when it was dead-lettered.
    deadAt: Number(entryId.slice(0, entryId.indexOf('-'))),
  };
}

/** A letter's message id without decoding more of the body than needed. */
function letterId(entry: RawEntry): string {
  const body = fieldsOf(entry[1]).body;
  // sluice writes the id first, in characters that need no escaping (encodeEnvelope)
  const quick = body === undefined ? undefined : /^\{"id":"([^"\\]+)"/.exec(body)?.[1];
  return quick ?? letterOf(entry).id;
}

function fieldsOf(fields: readonly string[]): Record<string, string> {
  const named: Record<string, string> = Object.create(null);
  for (let i = 0; i + 1 < fields.length; i += 2) named[fields[i]!] = fields[i + 1]!;
  return named;
}

/** Entry ids in time order (`<ms>-<seq>`), then priorities as strings: one order for every reader. */
function compare(a: Place, b: Place): number {
  if (a.entryId !== b.entryId) {
    const [ams, aseq] = a.entryId.split('-').map(Number) as [number, number];
    const [bms, bseq] = b.entryId.split('-').map(Number) as [number, number];
    return ams - bms || aseq - bseq;
  }
  return a.band < b.band ? -1 : a.band > b.band ? 1 : 0;
}
