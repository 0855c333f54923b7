import type { Redis } from 'ioredis';
import { InvalidOptionError } from '../../errors.js';
import type { JobRecord } from '../../jobs/store.js';
import { recordOfHash } from './job-hash.js';
import { FAILURES_KEPT } from './job-scripts.js';

/** recentFailures' page: what an operator looks at first, and at most. */
const DEFAULT_FAILURES = 20;
const MAX_FAILURES = 1_000;
const FAILED = new Set(['failed', 'timeout', 'cancelled']);

export function failuresLimit(options: { limit?: number } | undefined): number {
  const limit = options?.limit ?? DEFAULT_FAILURES;
  if (!Number.isInteger(limit) || limit < 1 || limit > Math.min(MAX_FAILURES, FAILURES_KEPT)) {
    throw new InvalidOptionError('limit', limit, `an integer from 1 to ${MAX_FAILURES}`);
  }
  return limit;
}

/**
 * The records of the most recently ended jobs that did not succeed, from the store's failures index
 * (`sluice-jobs-failures:{<store>}`, outside the jobs' own `sluice-jobs:{<store>}:<id>` so that no
 * id names it; written by the finish script), newest first. Ids whose record expired
 * (its retention ran out) or was removed are skipped and taken out of the index: a page costs
 * reads of about `limit` records.
 */
export async function recentFailures(
  client: Redis,
  prefix: string,
  index: string,
  limit: number,
): Promise<JobRecord[]> {
  const records: JobRecord[] = [];
  for (let start = 0; records.length < limit; ) {
    const ids = await client.zrevrange(index, start, start + limit - records.length - 1);
    if (ids.length === 0) break;
    const hashes = await Promise.all(ids.map((id) => client.hgetall(prefix + id)));
    const gone: string[] = [];
    for (const [i, hash] of hashes.entries()) {
      if (FAILED.has(hash.status ?? '')) records.push(recordOfHash(ids[i]!, hash));
      else gone.push(ids[i]!);
    }
    if (gone.length > 0) await client.zrem(index, ...gone);
    start += ids.length - gone.length;
  }
  return records;
}
