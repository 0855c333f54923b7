export type { CronSchedule } from './cron.js';
export {
  InvalidCronError,
  JobCancelledError,
  TaskAlreadyRegisteredError,
  UnknownTaskError,
} from './errors.js';
export type { Job } from './job.js';
export { Jobs, type JobsOptions, type StopOptions } from './jobs.js';
export { QueueMiddleware, type QueueMiddlewareOptions } from './queue-middleware.js';
export type { ScheduleBuilder, Task } from './task.js';
export type {
  FinalStatus,
  JobContext,
  JobEnvelope,
  JobMiddleware,
  JobStatus,
  TaskFunction,
  TaskOptions,
} from './types.js';
