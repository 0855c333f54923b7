import type { JobChange, JobRecord } from '../../jobs/store.js';

/**
 * How a job's record is kept in its Redis hash: times and counters as decimal strings, everything a
 * task gave (arguments, progress, result, error, metadata) as JSON. `fields` is HGETALL's reply.
 */
export function recordOfHash(id: string, fields: readonly string[]): JobRecord {
  const hash: Record<string, string> = {};
  for (let at = 0; at + 1 < fields.length; at += 2) hash[fields[at]!] = fields[at + 1]!;
  const json = (field: string) => (hash[field] === undefined ? undefined : JSON.parse(hash[field]));
  const time = (field: string) => (hash[field] === undefined ? undefined : Number(hash[field]));
  return {
    id,
    task: hash.task ?? '',
    args: json('args') ?? [],
    status: hash.status as JobRecord['status'],
    attempt: Number(hash.attempt ?? 0),
    progress: json('progress'),
    result: json('result'),
    error: json('error'),
    metadata: json('metadata'),
    createdAt: Number(hash.createdAt ?? 0),
    startedAt: time('startedAt'),
    endedAt: time('endedAt'),
    version: Number(hash.version ?? 0),
  };
}

/** A value as the hash keeps it: JSON, or '' for none (scripts then leave the field out). */
export function jsonField(value: unknown): string {
  return value === undefined ? '' : JSON.stringify(value);
}

/**
 * `<id as JSON>\n<JSON array of the CHANGING fields' values, '' for none>` from the changes
 * channel, if `wanted(id)`: a listener skips what it does not watch without parsing the values.
 */
export function changeOfAnnouncement(
  message: string,
  wanted: (id: string) => boolean,
): JobChange | undefined {
  const newline = message.indexOf('\n');
  if (newline < 0) return undefined;
  const id = JSON.parse(message.slice(0, newline)) as string;
  if (!wanted(id)) return undefined;
  return changeOfValues(id, JSON.parse(message.slice(newline + 1)) as string[]);
}

/** The CHANGING fields' values ('' for none), in their order, as a change of job `id`. */
export function changeOfValues(id: string, values: readonly string[]): JobChange {
  const [status, attempt, version, startedAt, endedAt, progress, result, error] = values;
  const json = (value: string | undefined) => (value ? JSON.parse(value) : undefined);
  const time = (value: string | undefined) => (value ? Number(value) : undefined);
  return {
    id,
    status: status as JobChange['status'],
    attempt: Number(attempt),
    version: Number(version),
    startedAt: time(startedAt),
    endedAt: time(endedAt),
    progress: json(progress),
    result: json(result),
    error: json(error),
  };
}
