import { describe, expectTypeOf, it } from 'vitest';
import {
  type CronSchedule,
  type Job,
  type JobContext,
  type JobEnvelope,
  type JobStatus,
  Jobs,
  QueueMiddleware,
} from '../../src/jobs/index.js';
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';

describe('task typing', () => {
  const jobs = new Jobs();

  it('types inline job middlewares of both styles, yield included', () => {
    new Jobs().use(async function* audit(envelope) {
      expectTypeOf(envelope).toEqualTypeOf<JobEnvelope>();
      const result = yield;
      expectTypeOf(result).toBeAny();
    });
    new Jobs().use(async (envelope, next, context) => {
      expectTypeOf(envelope).toEqualTypeOf<JobEnvelope>();
      expectTypeOf(context).toEqualTypeOf<JobContext>();
      return next(envelope);
    });
  });

  it('types push from the task function and the handle from its result', () => {
    const charge = jobs.task('charge', async (orderId: string, cents: number) => ({ orderId, cents }));
    expectTypeOf(charge.push('o', 1)).toEqualTypeOf<Promise<Job<{ orderId: string; cents: number }>>>();
    // @ts-expect-error the first argument is a string
    charge.push(1, 1);
    // @ts-expect-error an argument is missing
    charge.push('o');
    expectTypeOf(charge.schedule('o', 1).delay(10)).toEqualTypeOf<
      Promise<Job<{ orderId: string; cents: number }>>
    >();
    expectTypeOf(charge.schedule('o', 1).cron('* * * * *')).toEqualTypeOf<CronSchedule>();
  });

  it('binds this to the job context in a function task', () => {
    jobs.task('ctx', async function (n: number) {
      expectTypeOf(this).toExtend<JobContext>();
      expectTypeOf(this.job.id).toEqualTypeOf<string>();
      expectTypeOf(this.signal).toEqualTypeOf<AbortSignal>();
      expectTypeOf(this.attempt).toEqualTypeOf<number>();
      return n;
    });
  });

  it('gives the handle a status union and result() the result type', async () => {
    const t = jobs.task('t', async () => 42);
    const job = await t.push();
    expectTypeOf(job.status).toEqualTypeOf<JobStatus>();
    expectTypeOf(job.result()).toEqualTypeOf<number>();
    expectTypeOf(job).not.toHaveProperty('then');
  });

  it('accepts the spec form of QueueMiddleware and exposes its queue', () => {
    const qm = new QueueMiddleware({
      queue: new MemoryQueue({ order: 'priority', maxsize: 1024 }),
      workers: 10,
    });
    qm.queue.maxsize = 2;
    const byDefault = new QueueMiddleware();
    expectTypeOf(byDefault.queue).toEqualTypeOf<MemoryQueue<JobEnvelope>>();
    jobs.use(qm);
  });
});
