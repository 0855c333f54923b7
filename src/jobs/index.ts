export type { CronSchedule } from './cron.js';
export {
  InvalidCronError,
  JobCancelledError,
  JobFailedError,
  JobNotCompletedError,
  TaskAlreadyRegisteredError,
  UnknownTaskError,
} from './errors.js';
export type { FinalStatus, Job, JobStatus } from './job.js';
export { Jobs, type JobsOptions, type StopOptions } from './jobs.js';
export { QueueMiddleware, type QueueMiddlewareOptions } from './queue-middleware.js';
export type { ScheduleBuilder, Task } from './task.js';
export type {
  JobContext,
  JobEnvelope,
  JobMiddleware,
  TaskFunction,
  TaskOptions,
} from './types.js';
