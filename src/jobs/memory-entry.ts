import type { Job } from './job.js';
import type { JobStatus } from './status.js';
import type { JobError, JobRecord, NewJobRecord } from './store.js';

/** A record written through the JobStore methods (a job no Jobs app of this process holds a handle on). */
export class Entry {
  status: JobStatus;
  attempt = 0;
  progress: unknown = undefined;
  result: unknown = undefined;
  error: JobError | undefined = undefined;
  startedAt: number | undefined = undefined;
  endedAt: number | undefined = undefined;

  constructor(readonly created: NewJobRecord) {
    this.status = created.status;
  }

  record(version: number): JobRecord {
    const { id, task, args, metadata, createdAt } = this.created;
    const { status, attempt, progress, result, error, startedAt, endedAt } = this;
    return {
      id,
      task,
      args,
      status,
      attempt,
      progress,
      result,
      error,
      metadata,
      createdAt,
      startedAt,
      endedAt,
      version,
    };
  }
}

/** What the store keeps per job: the handle of the Jobs app that runs it here, or an Entry. */
export type Kept = Job<any> | Entry;
