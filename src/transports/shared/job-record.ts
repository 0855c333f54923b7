import type { JobRecord } from '../../jobs/store.js';

/**
 * One JSON spelling of a job record, for stores that keep or announce a record whole (a NATS KV
 * value, a notification's payload): the record's own fields, `undefined` ones left out.
 */
export function encodeJobRecord(record: JobRecord): string {
  return JSON.stringify(record);
}

/** A record that `encodeJobRecord` wrote; `undefined` for anything else (a foreign or torn value). */
export function decodeJobRecord(text: string): JobRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const record = value as Partial<JobRecord> | null;
  if (
    record === null ||
    typeof record !== 'object' ||
    typeof record.id !== 'string' ||
    typeof record.task !== 'string' ||
    !Array.isArray(record.args) ||
    typeof record.status !== 'string' ||
    typeof record.attempt !== 'number' ||
    typeof record.createdAt !== 'number' ||
    typeof record.version !== 'number'
  ) {
    return undefined;
  }
  return record as JobRecord;
}
