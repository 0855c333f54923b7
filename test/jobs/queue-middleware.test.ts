import { describe, expect, it, vi } from 'vitest';
import { QueueClosedError } from '../../src/errors.js';
import { type Job, type JobContext, type JobEnvelope, Jobs, QueueMiddleware } from '../../src/jobs/index.js';
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import type { SendOptions } from '../../src/queuing/types.js';
import { type Deferred, deferred, flush, sleep, stateOf, until, within } from '../support/async.js';

/** An app (not started) with a `hold` task that keeps its worker busy until `release()`. */
function busyApp(queue: MemoryQueue<JobEnvelope>, workers = 1) {
  const jobs = new Jobs();
  const qm = new QueueMiddleware({ queue, workers });
  jobs.use(qm);
  const ran: string[] = [];
  const gates: Deferred<void>[] = [];
  const hold = jobs.task('hold', async function (this: JobContext, name: string) {
    ran.push(name);
    const gate = deferred();
    gates.push(gate);
    this.signal.addEventListener('abort', () => gate.reject(this.signal.reason));
    await gate.promise;
  });
  const record = (name: string, options: { priority?: number; metadata?: Record<string, unknown> } = {}) =>
    jobs.task(
      name,
      async (label: string) => {
        ran.push(label);
      },
      options,
    );
  const release = async () => {
    for (const gate of gates.splice(0)) gate.resolve();
    await flush();
  };
  return { jobs, qm, hold, record, ran, gates, release, start: () => jobs.start() };
}

describe('QueueMiddleware: priorities and order', () => {
  it('runs higher priority first (task option or metadata.priority), equal priorities in push order', async () => {
    const app = busyApp(new MemoryQueue({ order: 'priority', maxsize: 100 }));
    const critical = app.record('critical', { metadata: { priority: 100 } });
    const regular = app.record('regular', { priority: 10 });
    await app.start();
    await app.hold.push('busy');
    await flush();
    const pushed: Job<void>[] = [];
    for (let i = 1; i <= 5; i++) {
      pushed.push(await regular.push(`regular-${i}`));
      pushed.push(await critical.push(`critical-${i}`));
    }
    await app.release();
    await Promise.all(pushed.map((job) => job.wait()));
    // The Python original (asyncio.PriorityQueue of equal priorities) does not keep push order.
    expect(app.ran).toEqual([
      'busy',
      ...[1, 2, 3, 4, 5].map((i) => `critical-${i}`),
      ...[1, 2, 3, 4, 5].map((i) => `regular-${i}`),
    ]);
    await app.jobs.stop();
  });

  it('runs jobs in push order on a FIFO queue and newest first on a LIFO queue', async () => {
    for (const [order, expected] of [
      ['fifo', ['a', 'b', 'c']],
      ['lifo', ['c', 'b', 'a']],
    ] as const) {
      const app = busyApp(new MemoryQueue({ order, maxsize: 10 }));
      const task = app.record('t', { priority: 50 });
      await app.start();
      await app.hold.push('busy');
      await flush();
      const jobs = [await task.push('a'), await task.push('b'), await task.push('c')];
      await app.release();
      await Promise.all(jobs.map((job) => job.wait()));
      expect(app.ran.slice(1)).toEqual(expected);
      await app.jobs.stop();
    }
  });

  it('uses MemoryQueue({ order: priority, maxsize: 1024 }) and 10 workers by default', () => {
    const qm = new QueueMiddleware();
    expect(qm.workers).toBe(10);
    expect(qm.queue).toBeInstanceOf(MemoryQueue);
    expect(qm.queue.maxsize).toBe(1024);
  });
});

describe('QueueMiddleware: backpressure', () => {
  it('makes push wait while the buffer is full, bounding jobs in memory by maxsize + workers', async () => {
    const maxsize = 3;
    const workers = 2;
    const app = busyApp(new MemoryQueue({ order: 'priority', maxsize }), workers);
    await app.start();
    const accepted: Job<void>[] = [];
    const pushes = Array.from({ length: 10 }, (_, i) =>
      app.hold.push(`job-${i}`).then((job) => {
        accepted.push(job);
        return job;
      }),
    );
    await flush();
    // The Python original lets every push return at once and buffers without bound.
    expect(accepted).toHaveLength(maxsize + workers);
    expect(app.ran).toHaveLength(workers);
    expect(await stateOf(pushes[maxsize + workers]!)).toBe('pending');

    await app.release(); // both running jobs finish: two waiting pushes get their slots
    expect(accepted).toHaveLength(maxsize + 2 * workers);
    expect(accepted.length - app.ran.length + workers).toBeLessThanOrEqual(maxsize + workers);

    for (let i = 0; i < 5; i++) await app.release();
    const all = await Promise.all(pushes);
    await app.release();
    await Promise.all(all.map((job) => job.wait()));
    expect(app.ran).toHaveLength(10);
    await app.jobs.stop();
  });

  it('keeps the bound while failing jobs wait for their retry: retries count toward maxsize', async () => {
    const maxsize = 2;
    const workers = 1;
    const jobs = new Jobs({ backoff: { type: 'fixed', delay: 60_000 } });
    jobs.use(
      new QueueMiddleware({ queue: new MemoryQueue<JobEnvelope>({ order: 'priority', maxsize }), workers }),
    );
    const failing = jobs.task('failing', async () => Promise.reject(new Error('down')), { retry: 1 });
    await jobs.start();
    const accepted: Job<void>[] = [];
    const pushes = Array.from({ length: 20 }, () => failing.push().then((job) => accepted.push(job)));
    for (let i = 0; i < 10; i++) await flush();
    expect(accepted.length).toBe(maxsize + workers);
    expect(accepted.every((job) => job.status === 'scheduled')).toBe(true);
    await jobs.stop({ graceful: false, timeout: 100 });
    await Promise.allSettled(pushes);
  });

  it('never makes a worker wait for room to schedule a retry, even on a full queue', async () => {
    const jobs = new Jobs({ backoff: { type: 'fixed', delay: 10 } });
    jobs.use(new QueueMiddleware({ queue: new MemoryQueue<JobEnvelope>({ maxsize: 1 }), workers: 1 }));
    const once = jobs.task(
      'fails-once',
      async function (this: JobContext) {
        if (this.attempt === 1) throw new Error('first try');
      },
      { retry: 1 },
    );
    await jobs.start();
    const pushed = await within(Promise.all(Array.from({ length: 5 }, () => once.push())), 5_000);
    await within(Promise.all(pushed.map((job) => job.wait())), 5_000);
    expect(pushed.map((job) => job.status)).toEqual(Array(5).fill('success'));
    await jobs.stop();
  });

  it('wakes waiting pushes when queue.maxsize grows at run time', async () => {
    const queue = new MemoryQueue<JobEnvelope>({ order: 'priority', maxsize: 1 });
    const app = busyApp(queue);
    await app.start();
    await app.hold.push('running');
    await app.hold.push('buffered');
    const waiting = [app.hold.push('w1'), app.hold.push('w2')];
    expect(await stateOf(waiting[0]!)).toBe('pending');
    queue.maxsize = 3;
    expect(await stateOf(waiting[0]!)).toBe('fulfilled');
    expect(await stateOf(waiting[1]!)).toBe('fulfilled');
    await app.release();
    await app.jobs.stop({ graceful: false });
  });
});

describe('QueueMiddleware: cancelling a queued job', () => {
  it('removes it: it never runs, its worker and later jobs are unaffected', async () => {
    const app = busyApp(new MemoryQueue({ order: 'priority', maxsize: 10 }));
    const task = app.record('t');
    await app.start();
    await app.hold.push('busy');
    await flush();
    const first = await task.push('first');
    const doomed = await task.push('doomed');
    const last = await task.push('last');
    await doomed.cancel();
    expect(doomed.status).toBe('cancelled');
    await app.release();
    await last.wait();
    // The Python original still runs a cancelled queued job, and it can kill the worker.
    expect(app.ran).toEqual(['busy', 'first', 'last']);
    expect(first.status).toBe('success');
    expect(last.status).toBe('success');
    const later = await task.push('later'); // the single worker is still alive
    expect(await later.wait()).toBe('success');
    expect(app.ran).toEqual(['busy', 'first', 'last', 'later']);
    expect(await doomed.wait()).toBe('cancelled');
    await app.jobs.stop();
  });

  it('drops a job cancelled while it waits for a retry', async () => {
    const jobs = new Jobs({ backoff: () => 60_000 });
    jobs.use(new QueueMiddleware({ workers: 1 }));
    let calls = 0;
    const task = jobs.task(
      'flaky',
      async () => {
        calls++;
        throw new Error('nope');
      },
      { retry: 5 },
    );
    await jobs.start();
    const job = await task.push();
    await flush();
    expect(job.status).toBe('scheduled');
    await job.cancel();
    await jobs.stop({ graceful: true, timeout: 1_000 }); // nothing left to wait for
    expect(calls).toBe(1);
    expect(job.status).toBe('cancelled');
  });
});

describe('QueueMiddleware: workers', () => {
  it('caps concurrent executions at workers and re-tunes them while running', async () => {
    const app = busyApp(new MemoryQueue({ order: 'priority', maxsize: 100 }), 1);
    await app.start();
    const pushed: Job<void>[] = [];
    for (let i = 0; i < 6; i++) pushed.push(await app.hold.push(`job-${i}`));
    await flush();
    expect(app.gates).toHaveLength(1);

    app.qm.workers = 3;
    expect(app.qm.workers).toBe(3);
    await flush();
    expect(app.gates).toHaveLength(3);

    app.qm.workers = 1; // surplus workers retire after their current job, which is not aborted
    await app.release();
    expect(pushed.slice(0, 3).map((job) => job.status)).toEqual(['success', 'success', 'success']);
    expect(app.gates).toHaveLength(1);
    await app.release();
    expect(app.gates).toHaveLength(1);
    await app.release();
    await app.release();
    expect(pushed.map((job) => job.status)).toEqual(Array(6).fill('success'));
    await app.jobs.stop();
  });

  it('frees the worker while a failed job waits for its retry', async () => {
    const jobs = new Jobs({ backoff: () => 60_000 });
    jobs.use(new QueueMiddleware({ workers: 1 }));
    const flaky = jobs.task(
      'flaky',
      async () => {
        throw new Error('down');
      },
      { retry: 1 },
    );
    const other = jobs.task('other', async () => 'ran');
    await jobs.start();
    const failing = await flaky.push();
    const next = await other.push();
    expect(await next.wait()).toBe('success');
    expect(failing.status).toBe('scheduled');
    await jobs.stop({ graceful: false });
    expect(failing.status).toBe('cancelled');
  });

  it('executes a job pushed by another process (an envelope on the shared queue)', async () => {
    const queue = new MemoryQueue<JobEnvelope>({ order: 'priority' });
    const jobs = new Jobs();
    jobs.use(new QueueMiddleware({ queue }));
    const seen = deferred<{ args: unknown[]; id: string }>();
    jobs.task('greet', async function (this: JobContext, name: string) {
      seen.resolve({ args: [name], id: this.job.id });
    });
    await jobs.start();
    await queue.send({ id: 'elsewhere-1', task: 'greet', args: ['Ada'], priority: 0, attempt: 1 });
    expect(await seen.promise).toEqual({ args: ['Ada'], id: 'elsewhere-1' });
    await jobs.stop();
  });

  it('shows a job pushed elsewhere `scheduled` while its retry waits on the queue', async () => {
    const queue = new MemoryQueue<JobEnvelope>({ order: 'priority' });
    const jobs = new Jobs({ backoff: () => 60_000 });
    jobs.use(new QueueMiddleware({ queue }));
    const ranAs = deferred<Job<unknown>>();
    jobs.task(
      'flaky',
      async function (this: JobContext) {
        ranAs.resolve(this.job);
        throw new Error('down');
      },
      { retry: 1 },
    );
    await jobs.start();
    await queue.send({ id: 'elsewhere-1', task: 'flaky', args: [], priority: 0, attempt: 1 });
    const handle = await ranAs.promise;
    await within(
      until(() => queue.size === 1),
      5_000,
      () => `retry not sent, handle ${handle.status}`,
    );
    // Not ended: the retry may run in any process. Its record here says so.
    expect(handle.status).toBe('scheduled');
    expect(handle.attempt).toBe(1);
    const found = await jobs.get('elsewhere-1');
    expect(found?.status).toBe('scheduled');
    await jobs.stop({ graceful: false });
  });

  it('nacks an envelope naming an unknown task to the queue (dead letter) instead of running it', async () => {
    const dead = new MemoryQueue<JobEnvelope>();
    const queue = new MemoryQueue<JobEnvelope>({ deadLetter: dead });
    const jobs = new Jobs();
    jobs.use(new QueueMiddleware({ queue }));
    await jobs.start();
    await queue.send({ id: 'x', task: 'missing', args: [], priority: 0, attempt: 1 });
    await flush();
    expect(dead.size).toBe(1);
    await jobs.stop();
  });
});

/** Hands workers a JSON copy of each envelope, as a broker does: the job handle cannot ride on it. */
class CopyingQueue<T> extends MemoryQueue<T> {
  override send(message: T, options?: SendOptions): Promise<void> {
    return super.send(JSON.parse(JSON.stringify(message)) as T, options);
  }
}

describe('QueueMiddleware: a queue that hands workers a copy of the envelope', () => {
  it('still updates the handle push returned, through retries', async () => {
    const jobs = new Jobs({ backoff: () => 1 });
    jobs.use(new QueueMiddleware({ queue: new CopyingQueue<JobEnvelope>({ order: 'priority' }) }));
    const task = jobs.task(
      'flaky',
      async function (this: JobContext, n: number) {
        if (this.attempt < 3) throw new Error('not yet');
        return n * 2;
      },
      { retry: 2 },
    );
    await jobs.start();
    const job = await task.push(21);
    expect(await job.wait()).toBe('success');
    expect(job.result()).toBe(42);
    await jobs.stop();
  });

  it('drops a job cancelled while queued', async () => {
    const app = busyApp(new CopyingQueue({ order: 'priority', maxsize: 10 }));
    const task = app.record('t');
    await app.start();
    await app.hold.push('busy');
    await flush();
    const doomed = await task.push('doomed');
    const last = await task.push('last');
    await doomed.cancel();
    await app.release();
    expect(await last.wait()).toBe('success');
    expect(app.ran).toEqual(['busy', 'last']);
    expect(doomed.status).toBe('cancelled');
    await app.jobs.stop();
  });
});

describe('QueueMiddleware: two apps sharing one MemoryQueue', () => {
  it('runs a job of the other app as one pushed elsewhere, leaving the pushing handle alone', async () => {
    const queue = new MemoryQueue<JobEnvelope>({ order: 'priority' });
    const gate = deferred();
    const pusher = new Jobs();
    pusher.use(new QueueMiddleware({ queue, workers: 1 }));
    const hold = pusher.task('hold', () => gate.promise);
    const greet = pusher.task('greet', async () => 'from pusher');
    const worker = new Jobs();
    worker.use(new QueueMiddleware({ queue }));
    const ranAs = deferred<Job<unknown>>();
    worker.task('greet', async function (this: JobContext) {
      ranAs.resolve(this.job);
      return 'from worker';
    });
    await pusher.start();
    await hold.push(); // keeps the pusher's only worker busy
    await flush();
    await worker.start();
    const handle = await greet.push();
    const workerJob = await ranAs.promise;
    expect(workerJob.id).toBe(handle.id);
    expect(workerJob).not.toBe(handle);
    expect(await workerJob.wait()).toBe('success');
    expect(handle.status).toBe('pending'); // executed by the other app: this handle does not see it
    gate.resolve();
    await worker.stop();
    await pusher.stop({ graceful: false });
    expect(handle.status).toBe('cancelled');
  });
});

/** A queue whose close() fails, as a broker's may when its connection dropped. */
class FailingCloseQueue<T> extends MemoryQueue<T> {
  override async close(): Promise<void> {
    await super.close();
    throw new Error('connection lost while closing');
  }
}

/** An app whose `charge(n)` ignores its signal: it ends when the test settles `gates[n]`. */
function stubbornApp(queue: MemoryQueue<JobEnvelope>, workers: number) {
  const jobs = new Jobs();
  jobs.use(new QueueMiddleware({ queue, workers }));
  const gates = [deferred<string>(), deferred<string>(), deferred<string>()];
  const started = [deferred(), deferred(), deferred()];
  const ran: number[] = [];
  const charge = jobs.task('charge', async (n: number) => {
    ran.push(n);
    started[n]!.resolve();
    return gates[n]!.promise;
  });
  return { jobs, charge, gates, started, ran };
}

describe('Jobs.stop', () => {
  it('graceful: lets queued and running jobs finish', async () => {
    const app = busyApp(new MemoryQueue({ order: 'priority', maxsize: 10 }));
    await app.start();
    const pushed = [await app.hold.push('a'), await app.hold.push('b'), await app.hold.push('c')];
    const stopped = app.jobs.stop({ graceful: true, timeout: 10_000 });
    await expect(app.hold.push('late')).rejects.toThrow(/stopping/);
    for (let i = 0; i < 3; i++) {
      expect(await stateOf(stopped)).toBe('pending');
      await app.release();
    }
    await stopped;
    expect(pushed.map((job) => job.status)).toEqual(['success', 'success', 'success']);
  });

  it('graceful: aborts what is still running at the timeout and cancels what never ran', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
    try {
      const jobs = new Jobs();
      jobs.use(new QueueMiddleware({ workers: 1 }));
      const signals: AbortSignal[] = [];
      const endless = jobs.task('endless', function (this: JobContext) {
        signals.push(this.signal);
        return new Promise<void>((_resolve, reject) => this.signal.addEventListener('abort', reject));
      });
      await jobs.start();
      const running = await endless.push();
      const queued = await endless.push();
      let stopped = false;
      const stopping = jobs.stop({ graceful: true, timeout: 5_000 }).then(() => {
        stopped = true;
      });
      await vi.advanceTimersByTimeAsync(4_999);
      expect(stopped).toBe(false);
      expect(signals[0]?.aborted).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(signals[0]?.aborted).toBe(true);
      await vi.advanceTimersByTimeAsync(1); // the workers release what they hold on the next tick
      await stopping;
      expect(signals).toHaveLength(1);
      expect(signals[0]?.aborted).toBe(true);
      expect(running.status).toBe('cancelled');
      expect(queued.status).toBe('cancelled');
    } finally {
      vi.useRealTimers();
    }
  });

  it('not graceful: aborts running jobs at once; queued jobs never run', async () => {
    const jobs = new Jobs();
    jobs.use(new QueueMiddleware({ workers: 1 }));
    const started = deferred<AbortSignal>();
    const ran = vi.fn();
    const endless = jobs.task('endless', function (this: JobContext) {
      started.resolve(this.signal);
      return new Promise<void>((_resolve, reject) => this.signal.addEventListener('abort', reject));
    });
    const other = jobs.task('other', async () => ran());
    await jobs.start();
    const running = await endless.push();
    const queued = await other.push();
    const signal = await started.promise;
    await jobs.stop({ graceful: false });
    expect(signal.aborted).toBe(true);
    expect(running.status).toBe('cancelled');
    expect(queued.status).toBe('cancelled');
    await flush();
    expect(ran).not.toHaveBeenCalled();
  });

  it('not graceful: a job that succeeds during the stop is acked; the others go back to the queue', async () => {
    const queue = new MemoryQueue<JobEnvelope>({ order: 'priority' });
    const app = stubbornApp(queue, 2);
    await app.jobs.start();
    const paid = await app.charge.push(0);
    const aborted = await app.charge.push(1);
    const queued = await app.charge.push(2);
    await Promise.all(app.started.slice(0, 2).map((started) => started.promise));
    const stopping = app.jobs.stop({ graceful: false, timeout: 10_000 });
    await sleep(20); // the stop is well under way: a worker that gives back early has done so
    app.gates[0]!.resolve('charged');
    // Failing once the stop aborted it counts as aborted (the failure may be the abort's doing).
    app.gates[1]!.reject(new Error('gave up'));
    await stopping;
    expect([paid.status, aborted.status, queued.status]).toEqual(['success', 'cancelled', 'cancelled']);
    expect(paid.result()).toBe('charged');
    // Once stopping, the workers ran nothing more: the aborted and the queued job wait for a next start.
    expect(app.ran).toEqual([0, 1]);
    expect(queue.size).toBe(2);
  });

  it('acks a running job cancelled with cancel() once its function returns: it is not given back', async () => {
    const queue = new MemoryQueue<JobEnvelope>({ order: 'priority' });
    const app = stubbornApp(queue, 1);
    await app.jobs.start();
    const job = await app.charge.push(0);
    await app.started[0]!.promise;
    await job.cancel();
    const stopping = app.jobs.stop({ graceful: true, timeout: 10_000 });
    expect(await stateOf(stopping)).toBe('pending'); // its function still runs
    await sleep(20); // the stop is well under way: a worker that gives back early has done so
    app.gates[0]!.resolve('charged anyway');
    await stopping;
    expect(job.status).toBe('cancelled');
    expect(queue.size).toBe(0);
  });

  it('settles every handle when the queue fails to close, then rejects with its error', async () => {
    const jobs = new Jobs();
    jobs.use(
      new QueueMiddleware({ queue: new FailingCloseQueue<JobEnvelope>({ order: 'priority' }), workers: 1 }),
    );
    const started = deferred();
    const endless = jobs.task('endless', function (this: JobContext) {
      started.resolve();
      return new Promise<void>((_resolve, reject) => this.signal.addEventListener('abort', reject));
    });
    await jobs.start();
    const pushed = [await endless.push(), await endless.push(), await endless.schedule().delay(60_000)];
    await started.promise;
    await expect(jobs.stop({ graceful: false })).rejects.toThrow('connection lost while closing');
    expect(pushed.map((job) => job.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
  });

  it('never hangs on a task that ignores its signal', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
    try {
      const jobs = new Jobs();
      jobs.use(new QueueMiddleware());
      const stuck = jobs.task('stuck', () => new Promise<void>(() => {}));
      await jobs.start();
      const job = await stuck.push();
      const stopping = jobs.stop({ graceful: false, timeout: 1_000 });
      await vi.advanceTimersByTimeAsync(1_001); // the timeout, then the workers release what they hold
      await stopping;
      expect(job.status).toBe('cancelled');
    } finally {
      vi.useRealTimers();
    }
  });

  it('rejects pushes still waiting for room with QueueClosedError', async () => {
    const app = busyApp(new MemoryQueue({ order: 'priority', maxsize: 1 }));
    await app.start();
    await app.hold.push('running');
    await app.hold.push('buffered');
    const waiting = app.hold.push('waiting');
    expect(await stateOf(waiting)).toBe('pending');
    await app.jobs.stop({ graceful: false, timeout: 100 });
    await expect(waiting).rejects.toThrow(QueueClosedError);
  });

  it('is what await using does, and can be called twice', async () => {
    let job: Job<string> | undefined;
    {
      await using jobs = new Jobs();
      jobs.use(new QueueMiddleware());
      const task = jobs.task('t', async () => 'done');
      await jobs.start();
      job = await task.push();
    }
    expect(job.status).toBe('success');
    const jobs = new Jobs();
    await jobs.start();
    await Promise.all([jobs.stop(), jobs.stop()]);
    await expect(jobs.start()).rejects.toThrow(/an app runs once/);
  });
});
