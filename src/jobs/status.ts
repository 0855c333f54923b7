/**
 * Where a job is in its life: `pending` (waiting for a worker), `scheduled` (waiting for its delay
 * or for a retry), `running`, or one of the final statuses `success`, `failed`, `timeout` and
 * `cancelled`.
 */
export type JobStatus = 'pending' | 'scheduled' | 'running' | 'success' | 'failed' | 'timeout' | 'cancelled';

/** Statuses a job never leaves. */
export type FinalStatus = 'success' | 'failed' | 'timeout' | 'cancelled';

/** @internal */
export function isFinal(status: JobStatus): status is FinalStatus {
  return status === 'success' || status === 'failed' || status === 'timeout' || status === 'cancelled';
}
