import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidOptionError, InvalidStateError, SerializationError, TimeoutError } from '../../src/errors.js';
import {
  JobCancelledError,
  JobFailedError,
  JobNotCompletedError,
  TaskAlreadyRegisteredError,
} from '../../src/jobs/errors.js';
import { type JobContext, type JobEnvelope, Jobs, QueueMiddleware } from '../../src/jobs/index.js';
import type { ClassicMiddleware } from '../../src/middleware/types.js';
import { deferred, flush, within } from '../support/async.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('Jobs: tasks and job handles', () => {
  it('runs the spec example: push, wait, status, result', async () => {
    await using jobs = new Jobs();
    jobs.use(new QueueMiddleware());
    const charge = jobs.task('charge-payment', async (orderId: string) => `charged:${orderId}`, {
      priority: 100,
      retry: 3,
      timeout: 5_000,
    });
    await jobs.start();
    const job = await charge.push('ord-1');
    expect(typeof job.id).toBe('string');
    expect(job.task).toBe('charge-payment');
    expect(await job.wait()).toBe('success');
    expect(job.status).toBe('success');
    expect(job.result()).toBe('charged:ord-1');
  });

  it('gives each job a distinct id', async () => {
    await using jobs = new Jobs();
    const noop = jobs.task('noop', async () => {});
    await jobs.start();
    const ids = new Set<string>();
    for (let i = 0; i < 100; i++) ids.add((await noop.push()).id);
    expect(ids.size).toBe(100);
  });

  it('returns a handle that is not a thenable, so awaiting push gives the handle itself', async () => {
    await using jobs = new Jobs();
    const never = jobs.task('never', function (this: JobContext) {
      return new Promise<void>((_resolve, reject) => this.signal.addEventListener('abort', reject));
    });
    await jobs.start();
    const job = await never.push();
    expect('then' in job).toBe(false);
    expect(job.status).toBe('running');
    await job.cancel();
  });

  it('binds this to { job, signal, attempt } and passes the pushed arguments', async () => {
    await using jobs = new Jobs();
    jobs.use(new QueueMiddleware());
    let seen: { context: JobContext; args: unknown[] } | undefined;
    const task = jobs.task('ctx', async function (this: JobContext, a: number, b: { x: string[] }) {
      seen = { context: this, args: [a, b] };
      return a;
    });
    await jobs.start();
    const job = await task.push(1, { x: ['y'] });
    await job.wait();
    expect(seen?.args).toEqual([1, { x: ['y'] }]);
    expect(seen?.context.job).toBe(job);
    expect(seen?.context.attempt).toBe(1);
    expect(seen?.context.signal).toBeInstanceOf(AbortSignal);
    expect(seen?.context.signal.aborted).toBe(false);
  });

  it('reports a failure through the handle: wait resolves, result throws JobFailedError with the cause', async () => {
    await using jobs = new Jobs();
    jobs.use(new QueueMiddleware());
    const boom = new Error('card declined');
    const task = jobs.task('fails', async () => {
      throw boom;
    });
    await jobs.start();
    const job = await task.push();
    expect(await job.wait()).toBe('failed');
    const error = (() => {
      try {
        job.result();
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(JobFailedError);
    expect((error as JobFailedError).cause).toBe(boom);
    expect((error as Error).message).toContain(job.id);
    expect((error as Error).message).toContain('"fails"');
  });

  it('throws JobNotCompletedError from result() while the job has not finished', async () => {
    await using jobs = new Jobs();
    const gate = deferred();
    const task = jobs.task('slow', () => gate.promise);
    await jobs.start();
    const job = await task.push();
    expect(() => job.result()).toThrow(JobNotCompletedError);
    gate.resolve();
    await job.wait();
    expect(job.status).toBe('success');
  });

  it('throws on a second task with the same name', () => {
    const jobs = new Jobs();
    jobs.task('dup', async () => {});
    expect(() => jobs.task('dup', async () => {})).toThrow(TaskAlreadyRegisteredError);
    expect(() => jobs.task('dup', async () => {})).toThrow(/"dup"/);
  });

  it('rejects configuration after start with InvalidStateError naming what was attempted', async () => {
    await using jobs = new Jobs();
    await jobs.start();
    expect(() => jobs.task('late', async () => {})).toThrow(InvalidStateError);
    expect(() => jobs.task('late', async () => {})).toThrow(/register task "late".*already started/);
    const passOn: ClassicMiddleware<JobEnvelope, JobContext> = async (_envelope, next) => next();
    expect(() => jobs.use(passOn)).toThrow(/add middlewares/);
    await expect(jobs.start()).rejects.toThrow(InvalidStateError);
  });

  it('rejects push before start and after stop', async () => {
    const jobs = new Jobs();
    const task = jobs.task('t', async () => {});
    await expect(task.push()).rejects.toThrow(/task "t".*has not been started/);
    await jobs.start();
    await jobs.stop();
    await expect(task.push()).rejects.toThrow(InvalidStateError);
  });

  it('rejects bad task options with InvalidOptionError', () => {
    const jobs = new Jobs();
    expect(() => jobs.task('a', async () => {}, { priority: Number.NaN })).toThrow(InvalidOptionError);
    expect(() => jobs.task('b', async () => {}, { metadata: { priority: 'high' } })).toThrow(/priority/);
    expect(() => jobs.task('c', async () => {}, { retry: -1 })).toThrow(/retry/);
    expect(() => jobs.task('d', async () => {}, { timeout: 0 })).toThrow(/timeout/);
    expect(() => jobs.task('', async () => {})).toThrow(InvalidOptionError);
    expect(() => new QueueMiddleware({ workers: -1 })).toThrow(/workers/);
    expect(() => jobs.use(new QueueMiddleware(), new QueueMiddleware())).toThrow(/one QueueMiddleware/);
  });
});

/** `{ next: { next: ... } }`, `depth` levels: deeper than a recursive walk (or JSON.stringify) can go. */
function nested(depth: number): unknown {
  let value: unknown = null;
  for (let i = 0; i < depth; i++) value = { next: value };
  return value;
}

describe('Jobs: JSON-serialisable arguments and results', () => {
  it.each([
    ['a Date', [new Date()], /args\[0\] is an instance of Date/],
    ['a function', [{ cb: () => {} }], /args\[0\]\.cb is a function/],
    ['undefined in an array', [[1, undefined]], /args\[0\]\[1\] is undefined/],
    ['a bigint', [1n], /args\[0\] is a bigint/],
    ['NaN', [Number.NaN], /args\[0\] is NaN/],
    ['a Map', [new Map()], /instance of Map/],
  ])('rejects %s at push with SerializationError', async (_what, args, message) => {
    await using jobs = new Jobs();
    jobs.use(new QueueMiddleware());
    const ran = vi.fn();
    const task = jobs.task('t', async (..._args: unknown[]) => ran());
    await jobs.start();
    const push = task.push(...args);
    await expect(push).rejects.toThrow(SerializationError);
    await expect(push).rejects.toThrow(message);
    await expect(push).rejects.toThrow(/task "t"/);
    await flush();
    expect(ran).not.toHaveBeenCalled();
  });

  it('rejects a cycle and accepts shared (non-cyclic) objects and undefined properties', async () => {
    await using jobs = new Jobs();
    const task = jobs.task('t', async (..._args: unknown[]) => {});
    await jobs.start();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(task.push(cyclic)).rejects.toThrow(/args\[0\]\.self is a circular reference/);
    const shared = { a: 1 };
    await expect(
      task.push({ x: shared, y: shared, z: undefined }, null, 'ok', [true]),
    ).resolves.toBeDefined();
  });

  it('rejects arguments nested too deeply to check: push rejects, it does not throw', async () => {
    await using jobs = new Jobs();
    const task = jobs.task('t', async (_value: unknown) => {});
    await jobs.start();
    let push: Promise<unknown> | undefined;
    expect(() => {
      push = task.push(nested(100_000));
    }).not.toThrow();
    await expect(push).rejects.toThrow(SerializationError);
    await expect(push).rejects.toThrow(/args is nested deeper than 256 levels/);
  });

  it.each([
    ['behind a QueueMiddleware', true],
    ['without a queue', false],
  ])('fails a job whose result is nested too deeply to check (%s)', async (_mode, queued) => {
    await using jobs = new Jobs();
    if (queued) jobs.use(new QueueMiddleware());
    const task = jobs.task('t', async () => nested(100_000));
    await jobs.start();
    const job = await task.push();
    expect(await within(job.wait(), 5_000, () => `job still ${job.status}`)).toBe('failed');
    expect(() => job.result()).toThrow(JobFailedError);
    try {
      job.result();
    } catch (error) {
      expect((error as Error).cause).toBeInstanceOf(SerializationError);
    }
  });

  it('fails a job whose result cannot travel over a queue', async () => {
    await using jobs = new Jobs();
    const task = jobs.task('t', async () => new Date());
    await jobs.start();
    const job = await task.push();
    expect(await job.wait()).toBe('failed');
    expect(() => job.result()).toThrow(JobFailedError);
    try {
      job.result();
    } catch (error) {
      expect((error as Error).cause).toBeInstanceOf(SerializationError);
    }
  });
});

describe('Jobs: retries and timeouts', () => {
  it('retries `retry` times after the first try with exponential backoff, then fails', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    await using jobs = new Jobs({ backoff: { type: 'exponential', delay: 100 } });
    jobs.use(new QueueMiddleware());
    const attempts: number[] = [];
    const task = jobs.task(
      'flaky',
      async function (this: JobContext) {
        attempts.push(this.attempt);
        throw new Error(`try ${this.attempt}`);
      },
      { retry: 3 },
    );
    await jobs.start();
    const job = await task.push();
    await vi.advanceTimersByTimeAsync(0);
    expect(attempts).toEqual([1]);
    expect(job.status).toBe('scheduled');
    await vi.advanceTimersByTimeAsync(99);
    expect(attempts).toEqual([1]);
    await vi.advanceTimersByTimeAsync(1); // 100 ms after the 1st failure
    expect(attempts).toEqual([1, 2]);
    await vi.advanceTimersByTimeAsync(200); // then 200 ms
    expect(attempts).toEqual([1, 2, 3]);
    await vi.advanceTimersByTimeAsync(399);
    expect(attempts).toEqual([1, 2, 3]);
    await vi.advanceTimersByTimeAsync(1); // then 400 ms
    expect(attempts).toEqual([1, 2, 3, 4]);
    expect(job.status).toBe('failed');
    expect(() => job.result()).toThrow(/ended with status failed/);
  });

  it('waits out a delay and a timeout longer than the 24.8-day timer limit (no queue)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const thirtyDays = 30 * 24 * 60 * 60 * 1_000;
    const jobs = new Jobs();
    let runs = 0;
    const task = jobs.task(
      'slow',
      async () => {
        runs++;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      },
      { timeout: thirtyDays },
    );
    await jobs.start();
    const delayed = await task.schedule().delay(thirtyDays);
    const now = await task.push();
    await vi.advanceTimersByTimeAsync(2_000);
    expect(now.status).toBe('success'); // its timeout did not fire after 1 ms
    expect(delayed.status).toBe('scheduled');
    expect(runs).toBe(1);
    await jobs.stop({ graceful: false });
    expect(delayed.status).toBe('cancelled');
  });

  it('succeeds on a retry', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    await using jobs = new Jobs();
    const task = jobs.task(
      'second-time-lucky',
      async function (this: JobContext, n: number) {
        if (this.attempt === 1) throw new Error('not yet');
        return n * 2;
      },
      { retry: 1 },
    );
    await jobs.start();
    const job = await task.push(21);
    await vi.advanceTimersByTimeAsync(100);
    expect(job.status).toBe('success');
    expect(job.result()).toBe(42);
  });

  it('ends a job that runs longer than its timeout with status timeout and aborts its signal', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    await using jobs = new Jobs();
    jobs.use(new QueueMiddleware());
    let signal: AbortSignal | undefined;
    const task = jobs.task(
      'slow',
      function (this: JobContext) {
        signal = this.signal;
        return new Promise<void>(() => {}); // ignores the signal: the timeout must still end the job
      },
      { timeout: 1_000 },
    );
    await jobs.start();
    const job = await task.push();
    await vi.advanceTimersByTimeAsync(999);
    expect(job.status).toBe('running');
    await vi.advanceTimersByTimeAsync(1);
    expect(job.status).toBe('timeout');
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBeInstanceOf(TimeoutError);
    try {
      job.result();
    } catch (error) {
      expect(error).toBeInstanceOf(JobFailedError);
      expect((error as Error).cause).toBeInstanceOf(TimeoutError);
    }
  });

  it('counts only execution time against the timeout, not time spent queued', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    await using jobs = new Jobs();
    jobs.use(new QueueMiddleware({ workers: 1 }));
    const hold = jobs.task('hold', () => new Promise<void>((resolve) => setTimeout(resolve, 5_000)));
    const quick = jobs.task('quick', async () => 'done', { timeout: 100 });
    await jobs.start();
    await hold.push();
    const job = await quick.push();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(job.status).toBe('success');
  });

  it('retries a timed-out execution, each with a fresh signal', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    await using jobs = new Jobs();
    const signals: AbortSignal[] = [];
    const task = jobs.task(
      't',
      function (this: JobContext) {
        signals.push(this.signal);
        if (this.attempt === 1) return new Promise<string>(() => {});
        return Promise.resolve('ok');
      },
      { timeout: 50, retry: 1 },
    );
    await jobs.start();
    const job = await task.push();
    await vi.advanceTimersByTimeAsync(50 + 100);
    expect(job.result()).toBe('ok');
    expect(signals.map((s) => s.aborted)).toEqual([true, false]);
  });
});

describe('Jobs: cancel', () => {
  it('aborts the signal of a running job and marks it cancelled at once', async () => {
    await using jobs = new Jobs();
    jobs.use(new QueueMiddleware());
    const started = deferred<AbortSignal>();
    const task = jobs.task('long', function (this: JobContext) {
      started.resolve(this.signal);
      return new Promise<void>((_resolve, reject) => {
        this.signal.addEventListener('abort', () => reject(this.signal.reason));
      });
    });
    await jobs.start();
    const job = await task.push();
    const signal = await started.promise;
    await job.cancel();
    expect(job.status).toBe('cancelled');
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBeInstanceOf(JobCancelledError);
    expect(await job.wait()).toBe('cancelled');
    expect(() => job.result()).toThrow(JobNotCompletedError);
  });

  it('does nothing to a job that already finished', async () => {
    await using jobs = new Jobs();
    const task = jobs.task('t', async () => 1);
    await jobs.start();
    const job = await task.push();
    await job.wait();
    await job.cancel();
    expect(job.status).toBe('success');
    expect(job.result()).toBe(1);
  });
});

describe('Jobs: middlewares', () => {
  it('runs middlewares before the QueueMiddleware in push and those after it in the worker', async () => {
    await using jobs = new Jobs();
    const log: string[] = [];
    const atPush: ClassicMiddleware<JobEnvelope, JobContext> = async (envelope, next) => {
      log.push(`push:${envelope.task}:${envelope.id === undefined ? '?' : 'id'}`);
      return next();
    };
    async function* inWorker(envelope: JobEnvelope): AsyncGenerator<void, void, unknown> {
      log.push(`worker-before:${envelope.task}`);
      const result = yield;
      log.push(`worker-after:${String(result)}`);
    }
    const gate = deferred();
    const qm = new QueueMiddleware({ workers: 1 });
    jobs.use(atPush, qm, inWorker);
    const blocker = jobs.task('blocker', () => gate.promise.then(() => 'b'));
    const task = jobs.task('t', async () => 'r');
    await jobs.start();
    await blocker.push();
    await flush();
    log.length = 0;
    const job = await task.push();
    expect(log).toEqual(['push:t:id']); // push resolved after the push side; the worker is busy
    gate.resolve();
    await job.wait();
    expect(log).toEqual(['push:t:id', 'worker-after:b', 'worker-before:t', 'worker-after:r']);
  });

  it('without a QueueMiddleware runs every middleware around the execution', async () => {
    await using jobs = new Jobs();
    const log: string[] = [];
    const outer: ClassicMiddleware<JobEnvelope, JobContext> = async (_envelope, next, context) => {
      log.push(`outer:${context.attempt}`);
      const result = await next();
      log.push('outer-done');
      return result;
    };
    jobs.use(outer);
    const task = jobs.task('t', async () => {
      log.push('task');
    });
    await jobs.start();
    const job = await task.push();
    await job.wait();
    expect(log).toEqual(['outer:1', 'task', 'outer-done']);
  });

  it('follows the job when a push-side middleware passes on an envelope of its own', async () => {
    await using jobs = new Jobs();
    const replace: ClassicMiddleware<JobEnvelope, JobContext> = async (envelope, next) => {
      const { id, task, priority, attempt } = envelope;
      await next(Object.freeze({ id, task, priority, attempt, args: ['replaced'] }));
    };
    jobs.use(replace, new QueueMiddleware());
    const task = jobs.task('echo', async (word: string) => word);
    await jobs.start();
    const job = await task.push('original');
    expect(await job.wait()).toBe('success');
    expect(job.result()).toBe('replaced');
  });

  it('cancels a job that a push-side middleware did not pass on', async () => {
    await using jobs = new Jobs();
    jobs.use(async function* drop() {}, new QueueMiddleware());
    const ran = vi.fn();
    const task = jobs.task('t', async () => ran());
    await jobs.start();
    const job = await task.push();
    expect(job.status).toBe('cancelled');
    await flush();
    expect(ran).not.toHaveBeenCalled();
  });

  it('rejects push when a push-side middleware throws, and the job never runs', async () => {
    await using jobs = new Jobs();
    const refused = new Error('quota exceeded');
    const refuse: ClassicMiddleware<JobEnvelope, JobContext> = async (_envelope, next) => {
      await next();
      throw refused;
    };
    jobs.use(refuse, new QueueMiddleware({ workers: 1 }));
    const ran = vi.fn();
    const gate = deferred();
    const blocker = jobs.task('blocker', () => gate.promise);
    const task = jobs.task('t', async () => ran());
    await jobs.start();
    await expect(blocker.push()).rejects.toBe(refused); // it still runs: a worker took it at once
    await expect(task.push()).rejects.toBe(refused);
    gate.resolve();
    await flush();
    expect(ran).not.toHaveBeenCalled();
  });
});
