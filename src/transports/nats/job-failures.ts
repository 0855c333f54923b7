import { InvalidOptionError } from '../../errors.js';
import type { JobRecord } from '../../jobs/store.js';
import { decodeJobRecord } from '../shared/job-record.js';
import type { JobSession } from './job-session.js';

/** recentFailures' page: what an operator looks at first, and at most. */
const DEFAULT_FAILURES = 20;
const MAX_FAILURES = 1_000;
const decoder = new TextDecoder();

export function failuresLimit(options: { limit?: number } | undefined): number {
  const limit = options?.limit ?? DEFAULT_FAILURES;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_FAILURES) {
    throw new InvalidOptionError('limit', limit, `an integer from 1 to ${MAX_FAILURES}`);
  }
  return limit;
}

/**
 * The last `limit` records the failure bucket keeps, most recently ended first. A record is written
 * there once, when its job's end moves it, so the bucket's stream holds them in the order they
 * ended: read back from its last sequence, `limit` at a time (at once), until enough were found or
 * the first sequence the bucket's retention left was passed. Sorted by `endedAt`, which two
 * processes ending jobs at the same moment may have stored the other way round.
 */
export async function recentFailures(session: JobSession, limit: number): Promise<JobRecord[]> {
  const { jsm } = session.connection;
  const stream = session.streams.failure.name;
  const { first_seq: first, last_seq: last, messages } = (await jsm.streams.info(stream)).state;
  const records: JobRecord[] = [];
  if (messages === 0) return records;
  for (let next = last; next >= first && records.length < limit; next -= limit) {
    const seqs: number[] = [];
    for (let seq = next; seq > next - limit && seq >= first; seq--) seqs.push(seq);
    for (const stored of await Promise.all(seqs.map((seq) => jsm.streams.getMessage(stream, { seq })))) {
      // Gone (expired meanwhile), or a deletion marker.
      if (stored === null || stored.data.length === 0) continue;
      const record = decodeJobRecord(decoder.decode(stored.data));
      if (record !== undefined) records.push(record);
    }
  }
  return records.sort((a, b) => (b.endedAt ?? 0) - (a.endedAt ?? 0)).slice(0, limit);
}
