export type JobStatus = 'pending' | 'scheduled' | 'running' | 'success' | 'failed' | 'timeout' | 'cancelled';

/** Statuses a job never leaves. */
export type FinalStatus = 'success' | 'failed' | 'timeout' | 'cancelled';

export function isFinal(status: JobStatus): status is FinalStatus {
  return status === 'success' || status === 'failed' || status === 'timeout' || status === 'cancelled';
}
