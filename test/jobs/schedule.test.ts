import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidOptionError, InvalidStateError } from '../../src/errors.js';
import { InvalidCronError } from '../../src/jobs/errors.js';
import { type JobContext, Jobs, QueueMiddleware } from '../../src/jobs/index.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
  vi.setSystemTime(new Date('2030-01-01T00:00:00.000Z'));
});

afterEach(() => {
  vi.useRealTimers();
});

describe.each([
  ['behind a QueueMiddleware', true],
  ['without a queue', false],
])('schedule %s', (_mode, queued) => {
  function app() {
    const jobs = new Jobs();
    if (queued) jobs.use(new QueueMiddleware());
    const runs: { id: string; at: number; args: unknown[] }[] = [];
    const task = jobs.task('report', async function (this: JobContext, name: string) {
      runs.push({ id: this.job.id, at: Date.now(), args: [name] });
      return name;
    });
    return { jobs, task, runs };
  }

  it('delay(ms): the job is scheduled, then runs once the delay is over', async () => {
    const { jobs, task, runs } = app();
    await jobs.start();
    const job = await task.schedule('daily').delay(1_000);
    expect(job.status).toBe('scheduled');
    await vi.advanceTimersByTimeAsync(999);
    expect(runs).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toEqual([{ id: job.id, at: Date.parse('2030-01-01T00:00:01.000Z'), args: ['daily'] }]);
    expect(job.result()).toBe('daily');
    await jobs.stop();
  });

  it('at(date): runs at that time; a past date runs at once', async () => {
    const { jobs, task, runs } = app();
    await jobs.start();
    const later = await task.schedule('later').at(new Date('2030-01-01T00:00:05.000Z'));
    const past = await task.schedule('past').at(new Date('2029-01-01T00:00:00.000Z'));
    await vi.advanceTimersByTimeAsync(0);
    expect(past.status).toBe('success');
    expect(later.status).toBe('scheduled');
    await vi.advanceTimersByTimeAsync(5_000);
    expect(later.status).toBe('success');
    expect(runs.map((run) => run.args[0])).toEqual(['past', 'later']);
    await jobs.stop();
  });

  it('rejects a bad delay or date with InvalidOptionError', async () => {
    const { jobs, task } = app();
    await jobs.start();
    await expect(task.schedule('x').delay(-1)).rejects.toThrow(InvalidOptionError);
    await expect(task.schedule('x').delay(Number.NaN)).rejects.toThrow(/delay/);
    await expect(task.schedule('x').at(new Date('nonsense'))).rejects.toThrow(/date/);
    await jobs.stop();
  });

  it('cancelling a scheduled job means it never runs', async () => {
    const { jobs, task, runs } = app();
    await jobs.start();
    const job = await task.schedule('x').delay(1_000);
    await job.cancel();
    await vi.advanceTimersByTimeAsync(2_000);
    expect(runs).toHaveLength(0);
    expect(job.status).toBe('cancelled');
    await jobs.stop();
  });

  it('cron(expression, { id }): pushes a job each time the expression matches, while the app runs', async () => {
    const { jobs, task, runs } = app();
    const schedule = task.schedule('tick').cron('*/2 * * * * *', { id: 'ticker' }); // every 2 s
    expect(schedule.id).toBe('ticker');
    expect(schedule.nextRun()?.toISOString()).toBe('2030-01-01T00:00:02.000Z');
    await vi.advanceTimersByTimeAsync(4_000);
    expect(runs).toHaveLength(0); // not started yet
    await jobs.start();
    await vi.advanceTimersByTimeAsync(4_000);
    expect(runs.map((run) => run.id)).toEqual([
      'ticker@2030-01-01T00:00:06.000Z',
      'ticker@2030-01-01T00:00:08.000Z',
    ]);
    schedule.stop();
    await vi.advanceTimersByTimeAsync(4_000);
    expect(runs).toHaveLength(2);
    await jobs.stop();
  });

  it('a stop cancels a delayed job and a job waiting for its retry: neither runs afterwards', async () => {
    const jobs = new Jobs({ backoff: { type: 'fixed', delay: 1_000 } });
    if (queued) jobs.use(new QueueMiddleware());
    const runs: string[] = [];
    const task = jobs.task(
      'flaky',
      async (name: string) => {
        runs.push(name);
        throw new Error('down');
      },
      { retry: 1 },
    );
    await jobs.start();
    const delayed = await task.schedule('delayed').delay(1_000);
    const retrying = await task.push('retrying');
    await vi.advanceTimersByTimeAsync(0);
    expect([delayed.status, retrying.status]).toEqual(['scheduled', 'scheduled']);
    await jobs.stop({ graceful: false });
    await vi.advanceTimersByTimeAsync(5_000);
    expect([delayed.status, retrying.status]).toEqual(['cancelled', 'cancelled']);
    expect(runs).toEqual(['retrying']);
  });

  it('stops cron schedules when the app stops', async () => {
    const { jobs, task, runs } = app();
    await jobs.start();
    task.schedule('tick').cron('* * * * * *');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(runs).toHaveLength(1);
    await jobs.stop();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(runs).toHaveLength(1);
    expect(() => task.schedule('tick').cron('* * * * * *', { id: 'another' })).toThrow(InvalidStateError);
  });
});

describe('cron validation', () => {
  // croner would take the date-time as a one-off run and '@daily' as a nickname: neither is 5 or 6 fields.
  it.each([
    'not a cron',
    '61 * * * *',
    '* * * *',
    '* * 32 * *',
    '2030-01-01T00:00:05Z',
    '@daily',
    '0 0 0 * * * *',
  ])('rejects %j with InvalidCronError naming it', (expression) => {
    const jobs = new Jobs();
    const task = jobs.task('t', async () => {});
    expect(() => task.schedule().cron(expression)).toThrow(InvalidCronError);
    expect(() => task.schedule().cron(expression)).toThrow(JSON.stringify(expression));
  });

  it('rejects a non-string expression and a second schedule with the same id', () => {
    const jobs = new Jobs();
    const task = jobs.task('t', async () => {});
    expect(() => task.schedule().cron(5 as unknown as string)).toThrow(InvalidCronError);
    task.schedule().cron('0 * * * *', { id: 'hourly' });
    expect(() => task.schedule().cron('30 * * * *', { id: 'hourly' })).toThrow(/"hourly"/);
  });

  it('rejects options that are not an object with InvalidOptionError', () => {
    const jobs = new Jobs();
    const task = jobs.task('t', async () => {});
    expect(() => task.schedule().cron('0 * * * *', null as unknown as { id?: string })).toThrow(
      InvalidOptionError,
    );
  });

  it('rejects arguments that are not JSON-serialisable when the schedule is made', () => {
    const jobs = new Jobs();
    const task = jobs.task('t', async (_when: unknown) => {});
    expect(() => task.schedule(new Date()).cron('0 * * * *')).toThrow(/args\[0\] is an instance of/);
  });
});

describe('cron schedule of an app that never starts', () => {
  it('arms no timer: the process exits by itself', () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const entry = pathToFileURL(fileURLToPath(new URL('../../src/jobs/index.ts', import.meta.url))).href;
    const child = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `import { Jobs } from ${JSON.stringify(entry)};
         new Jobs().task('tick', async () => {}).schedule().cron('* * * * * *');
         console.log('configured');`,
      ],
      { cwd: root, encoding: 'utf8', timeout: 10_000, killSignal: 'SIGKILL' },
    );
    expect(child.stdout, child.stderr).toContain('configured');
    expect(child.signal).toBe(null); // killed after 10 s: a timer kept the process alive
  });
});
