export type { CronSchedule } from './cron.js';
export {
  InvalidCronError,
  JobCancelledError,
  JobFailedError,
  JobNotCompletedError,
  TaskAlreadyRegisteredError,
  UnknownTaskError,
} from './errors.js';
export type { FinalStatus, Job, JobStatus, WaitOptions } from './job.js';
export { Jobs } from './jobs.js';
export type { JobsOptions, StopOptions } from './jobs-options.js';
export { MemoryJobStore, type MemoryJobStoreOptions } from './memory-job-store.js';
export { QueueMiddleware, type QueueMiddlewareOptions } from './queue-middleware.js';
export type {
  JobChange,
  JobEnd,
  JobError,
  JobListener,
  JobRecord,
  JobStore,
  NewJobRecord,
  Retention,
  Unsubscribe,
} from './store.js';
export type { Pusher, ScheduleBuilder, Task } from './task.js';
export type {
  JobContext,
  JobEnvelope,
  JobMiddleware,
  JobOptions,
  TaskFunction,
  TaskOptions,
} from './types.js';
