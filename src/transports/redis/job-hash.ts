import type { JobChange, JobRecord } from '../../jobs/store.js';

/**
 * How a job's record is kept in its Redis hash: times and counters as decimal strings, everything a
 * task gave (arguments, progress, result, error, metadata) as JSON. `hash` is HGETALL's reply.
 */
export function recordOfHash(id: string, hash: Readonly<Record<string, string>>): JobRecord {
  return {
    id,
    task: hash.task ?? '',
    args: json(hash.args) ?? [],
    status: hash.status as JobRecord['status'],
    attempt: Number(hash.attempt ?? 0),
    progress: json(hash.progress),
    result: json(hash.result),
    error: json(hash.error),
    metadata: json(hash.metadata),
    createdAt: Number(hash.createdAt ?? 0),
    startedAt: time(hash.startedAt),
    endedAt: time(hash.endedAt),
    version: Number(hash.version ?? 0),
  };
}

/** A hash as a script returns it (HGETALL's flat list of fields and values), as an object. */
export function hashOfFields(fields: readonly string[]): Record<string, string> {
  const hash: Record<string, string> = {};
  for (let at = 0; at + 1 < fields.length; at += 2) hash[fields[at]!] = fields[at + 1]!;
  return hash;
}

// A field the scripts wrote '' (a result or error the job did not have) is none.
const json = (value: string | undefined) => (value ? JSON.parse(value) : undefined);
const time = (value: string | undefined) => (value ? Number(value) : undefined);

/** A value as the hash keeps it: JSON, or '' for none (scripts then leave the field out). */
export function jsonField(value: unknown): string {
  return value === undefined ? '' : JSON.stringify(value);
}

/**
 * The changes a message of the changes channel announces (lines of `<id as JSON>\t<JSON values>`),
 * of the jobs `wanted` accepts: the values of the others are never parsed.
 */
export function changesOfAnnouncement(message: string, wanted: (id: string) => boolean): JobChange[] {
  const changes: JobChange[] = [];
  for (const line of message.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    const id = JSON.parse(line.slice(0, tab)) as string;
    if (wanted(id)) changes.push(changeOfValues(id, JSON.parse(line.slice(tab + 1)) as string[]));
  }
  return changes;
}

/** The CHANGING fields' values ('' for none), in their order, as a change of job `id`. */
export function changeOfValues(id: string, values: readonly string[]): JobChange {
  const [status, attempt, version, startedAt, endedAt, progress, result, error] = values;
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
