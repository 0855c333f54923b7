import { InvalidOptionError } from '../errors.js';
import type { DeadLettersOptions, RedriveOptions } from './operations.js';

/** The most dead letters one `deadLetters` call reads: a page, not a dump of the queue. */
export const MAX_DEAD_LETTERS_PAGE = 1_000;
const DEFAULT_DEAD_LETTERS_PAGE = 50;

export interface ResolvedDeadLettersOptions {
  readonly limit: number;
  readonly after: string | undefined;
}

export interface ResolvedRedriveOptions {
  /** `Infinity` for all of them. */
  readonly limit: number;
  readonly ids: readonly string[] | undefined;
}

/** The options every queue's `deadLetters` takes, checked at the boundary. */
export function resolveDeadLettersOptions(options: DeadLettersOptions = {}): ResolvedDeadLettersOptions {
  assertObject('deadLetters options', options);
  const { limit = DEFAULT_DEAD_LETTERS_PAGE, after } = options;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_DEAD_LETTERS_PAGE) {
    throw new InvalidOptionError('limit', limit, `an integer from 1 to ${MAX_DEAD_LETTERS_PAGE}`);
  }
  if (after !== undefined && (typeof after !== 'string' || after.length === 0)) {
    throw new InvalidOptionError('after', after, "a dead letter's id");
  }
  return { limit, after };
}

/** The options every queue's `redrive` takes, checked at the boundary. */
export function resolveRedriveOptions(options: RedriveOptions = {}): ResolvedRedriveOptions {
  assertObject('redrive options', options);
  const { limit = Number.POSITIVE_INFINITY, ids } = options;
  if (limit !== Number.POSITIVE_INFINITY && (!Number.isInteger(limit) || limit < 1)) {
    throw new InvalidOptionError('limit', limit, 'a positive integer');
  }
  return { limit, ids: ids === undefined ? undefined : assertIds(ids) };
}

/** Dead letters' ids, as `redrive({ ids })` and `discardDeadLetters` take them. */
export function assertIds(ids: readonly string[]): readonly string[] {
  if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string' || id.length === 0)) {
    throw new InvalidOptionError('ids', ids, "an array of dead letters' ids (non-empty strings)");
  }
  return ids;
}

function assertObject(what: string, options: unknown): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidOptionError(what, options, 'an object');
  }
}
