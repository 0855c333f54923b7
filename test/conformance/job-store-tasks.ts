/**
 * The tasks the job-store conformance suite runs, in the test process and in its child processes
 * alike. `report` tells the suite what happened where (a child prints it as a JSON line).
 */
import type { JobContext, Jobs } from '../../src/jobs/index.js';

export type Report = (event: { event: string; id: string; attempt?: number; pid?: number }) => void;

export function registerTasks(jobs: Jobs, report: Report): void {
  jobs.task('echo', async (value: unknown) => value);
  jobs.task('fail', async (message: string, code: string) => {
    throw Object.assign(new Error(message), { name: 'ChargeError', code });
  });
  jobs.task('count', async function (this: JobContext) {
    report({ event: 'ran', id: this.job.id, pid: process.pid });
    return 'counted';
  });
  jobs.task(
    'flaky',
    async function (this: JobContext) {
      if (this.attempt === 1) throw new Error('first attempt fails');
      return `succeeded on attempt ${this.attempt}`;
    },
    { retry: 2 },
  );
  // Runs until its signal aborts (cancel), reporting when it starts and when it is aborted.
  jobs.task('until-aborted', async function (this: JobContext) {
    report({ event: 'started', id: this.job.id, attempt: this.job.attempt, pid: process.pid });
    await new Promise<void>((resolve) =>
      this.signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    report({ event: 'aborted', id: this.job.id, pid: process.pid });
    throw this.signal.reason;
  });
  // Hangs on its first execution (the suite kills that process), finishes on the next.
  jobs.task('hang-first', async function (this: JobContext) {
    report({ event: 'started', id: this.job.id, attempt: this.job.attempt, pid: process.pid });
    if (this.job.attempt === 1) await new Promise(() => {});
    return `finished on attempt ${this.job.attempt}`;
  });
  // Reports progress, then holds until cancelled or `ms` passed.
  jobs.task('progress', async function (this: JobContext, value: unknown, ms: number) {
    await this.progress(value);
    report({ event: 'progressed', id: this.job.id, pid: process.pid });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return 'done';
  });
}
