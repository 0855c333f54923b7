import { InvalidOptionError } from '../../errors.js';
import { type ResolvedRetention, resolveRetention } from '../../jobs/retention.js';
import type { Retention } from '../../jobs/store.js';
import { textProblem } from '../../queuing/text-rules.js';

/** The options every broker's job store takes, next to its own connection options. */
export interface BrokerJobStoreOptions {
  /**
   * Names the store's records (a key prefix, a table, a bucket): stores of one name share their
   * jobs, so every process of one application uses the same.
   * @defaultValue `'jobs'`
   */
  name?: string;
  /**
   * How long the records of ended jobs are kept.
   * @defaultValue 24 hours after `success`, 7 days after `failed`, `timeout` or `cancelled`
   */
  retain?: Retention;
}

export interface ResolvedJobStoreOptions {
  readonly name: string;
  readonly retention: ResolvedRetention;
}

/** `maxNameLength`: what the broker's longest derived identifier leaves for the name. */
export function resolveJobStoreOptions(
  options: BrokerJobStoreOptions,
  maxNameLength: number,
): ResolvedJobStoreOptions {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError('job store options', options, 'an object');
  }
  const { name = 'jobs', retain } = options;
  if (typeof name !== 'string' || name.length === 0 || name.length > maxNameLength) {
    throw new InvalidOptionError('name', name, `a non-empty string of at most ${maxNameLength} characters`);
  }
  const problem = textProblem(name);
  if (problem !== undefined) {
    throw new InvalidOptionError(
      'name',
      name,
      `well-formed Unicode without control characters (it ${problem})`,
    );
  }
  return { name, retention: resolveRetention(retain) };
}
