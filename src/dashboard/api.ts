import { InvalidOptionError } from '../errors.js';
import type { JobRecord } from '../jobs/store.js';
import type { DeadLetter } from '../queuing/operations.js';
import { assertIds } from '../queuing/operations-options.js';
import { HttpError, prettyText } from './http.js';
import type { DashboardJobStore, DashboardQueue } from './options.js';

/** The dead letters of a page, as the page lists them. */
const PAGE_SIZE = 50;

/** What the page shows of a dead letter: the message already pretty-printed, to be set as text. */
interface ShownDeadLetter {
  readonly id: string;
  readonly message: string;
  readonly reason: string;
  readonly attempt: number;
  readonly deadAt: number;
}

/** A page of dead letters; `next` is the `after` of the following page, `null` on the last. */
export async function deadLettersPage(
  queue: DashboardQueue,
  after: string | undefined,
): Promise<{ letters: ShownDeadLetter[]; next: string | null }> {
  // One more than shown tells whether a next page exists without counting.
  const letters = await queue.deadLetters({ limit: PAGE_SIZE + 1, ...(after ? { after } : {}) });
  const shown = letters.slice(0, PAGE_SIZE).map(showDeadLetter);
  return { letters: shown, next: letters.length > PAGE_SIZE ? shown.at(-1)!.id : null };
}

function showDeadLetter(letter: DeadLetter<unknown>): ShownDeadLetter {
  const { id, message, reason, attempt, deadAt } = letter;
  return { id, message: prettyText(message), reason, attempt, deadAt };
}

/** The actions the page offers, each a POST to `/api/queues/<name>/<action>`. */
export const ACTIONS = ['redrive', 'discard', 'purge', 'pause', 'resume'] as const;
export type Action = (typeof ACTIONS)[number];

export function isAction(value: string): value is Action {
  return (ACTIONS as readonly string[]).includes(value);
}

/** Runs an action; resolves with what the page reports (how many messages it moved or deleted). */
export async function runAction(
  queue: DashboardQueue,
  action: Action,
  body: Record<string, unknown>,
): Promise<{ count?: number }> {
  switch (action) {
    case 'redrive':
      return { count: await queue.redrive(body.ids === undefined ? {} : { ids: ids(body.ids) }) };
    case 'discard':
      return { count: await queue.discardDeadLetters(ids(body.ids)) };
    case 'purge':
      return { count: await queue.purge() };
    case 'pause':
      await queue.pause();
      return {};
    case 'resume':
      await queue.resume();
      return {};
  }
}

/** An empty list would mean "all" to nobody: the page always names the letters it acts on. */
function ids(value: unknown): readonly string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new InvalidOptionError('ids', value, "a non-empty array of dead letters' ids");
  }
  return assertIds(value);
}

/** What the page shows of a job record: its arguments and result pretty-printed, to be set as text. */
export function showJob(record: JobRecord): Record<string, unknown> {
  const { id, task, status, attempt, error, createdAt, startedAt, endedAt } = record;
  return {
    id,
    task,
    status,
    attempt,
    error:
      error === undefined ? null : `${error.name}${error.code ? ` (${error.code})` : ''}: ${error.message}`,
    args: prettyText(record.args),
    result: record.result === undefined ? null : prettyText(record.result),
    progress: record.progress === undefined ? null : prettyText(record.progress),
    createdAt,
    startedAt: startedAt ?? null,
    endedAt: endedAt ?? null,
  };
}

export async function findJob(jobs: DashboardJobStore, id: string): Promise<Record<string, unknown>> {
  const record = await jobs.get(id);
  if (record === undefined) throw new HttpError(404, `no job ${id} is kept`);
  return showJob(record);
}

export async function failedJobs(jobs: DashboardJobStore): Promise<Record<string, unknown>[]> {
  return (await jobs.recentFailures({ limit: PAGE_SIZE })).map(showJob);
}
