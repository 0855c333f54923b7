import { InvalidOptionError, SerializationError } from '../errors.js';
import { assertGroup } from '../queuing/flow-options.js';
import { serializationProblem } from '../queuing/json.js';
import { assertJobId } from './job-id.js';
import type { JobOptions } from './types.js';

/** One push, as the runtime takes it: `job-options` checked, plus what schedules add. */
export interface PushRequest {
  readonly id?: string;
  readonly priority?: number;
  readonly delay: number;
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** The queue's deduplication key (cron runs). */
  readonly key?: string;
  readonly group?: string;
}

/** A plain push: the task's priority, now, a unique id. */
export const PLAIN_PUSH: PushRequest = Object.freeze({ delay: 0 });

/** `task.with(options)` and `jobs.push(..., options)`: refused here, before anything is stored. */
export function resolveJobOptions(options: JobOptions | undefined): PushRequest {
  if (options === undefined) return PLAIN_PUSH;
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError(
      'job options',
      options,
      'an object such as { id, priority, delay, metadata, group }',
    );
  }
  const { id, priority, delay = 0, metadata, group } = options;
  if (id !== undefined) assertJobId(id);
  if (group !== undefined) assertGroup(group);
  if (priority !== undefined && (typeof priority !== 'number' || !Number.isFinite(priority))) {
    throw new InvalidOptionError('priority', priority, 'a finite number');
  }
  if (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0) {
    throw new InvalidOptionError('delay', delay, 'a finite number of milliseconds ≥ 0');
  }
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
      throw new InvalidOptionError('metadata', metadata, 'a plain object');
    }
    const problem = serializationProblem(metadata, 'metadata');
    if (problem !== undefined) throw new SerializationError(`cannot push a job: ${problem}`);
  }
  return { id, priority, delay, metadata, group };
}
