/** The human form of what the commands print: aligned tables, times as ISO 8601, messages as compact JSON. */
import type { JobRecord } from '../jobs/store.js';
import type { DeadLetter, QueueStats } from '../queuing/operations.js';
import { formatTable, printable } from './table.js';

export function statsTable(stats: QueueStats & { readonly queue: string }, width: number): string {
  const { queue, ready, delayed, inFlight, dead, paused } = stats;
  return formatTable(
    [
      ['QUEUE', 'READY', 'DELAYED', 'IN FLIGHT', 'DEAD', 'PAUSED'],
      [queue, String(ready), String(delayed), String(inFlight), String(dead), paused ? 'yes' : 'no'],
    ],
    { numeric: [1, 2, 3, 4], width },
  );
}

/** The message column is cut to the terminal's width: `--json` shows messages whole. */
export function deadLettersTable(letters: readonly DeadLetter<unknown>[], width: number): string {
  if (letters.length === 0) return 'no dead letters';
  return formatTable(
    [
      ['ID', 'ATTEMPT', 'DEAD AT', 'REASON', 'MESSAGE'],
      ...letters.map((letter) => [
        letter.id,
        String(letter.attempt),
        iso(letter.deadAt),
        letter.reason,
        compact(letter.message),
      ]),
    ],
    { numeric: [1], width },
  );
}

export function jobTable(job: JobRecord, width: number): string {
  const rows: [string, string][] = [
    ['id', job.id],
    ['task', job.task],
    ['status', job.status],
    ['attempt', String(job.attempt)],
    ['args', compact(job.args)],
  ];
  if (job.progress !== undefined) rows.push(['progress', compact(job.progress)]);
  if (job.result !== undefined) rows.push(['result', compact(job.result)]);
  if (job.error !== undefined) {
    const { name, code, message } = job.error;
    rows.push(['error', `${name}${code === undefined ? '' : ` ${code}`}: ${message}`]);
  }
  rows.push(['created', iso(job.createdAt)]);
  if (job.startedAt !== undefined) rows.push(['started', iso(job.startedAt)]);
  if (job.endedAt !== undefined) rows.push(['ended', iso(job.endedAt)]);
  return formatTable(rows, { width });
}

/** One line of JSON; what JSON cannot write (`undefined`, a BigInt) as JavaScript would print it. */
export function compact(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return printable(String(value));
  }
}

function iso(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}
