/**
 * A shared store tells watchers that a job ended before the worker that ended it hears its own
 * write acknowledged (on Redis the notification and the script's reply travel on two connections).
 * A store that holds back `finish`'s reply makes that order happen every time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  type JobChange,
  type JobEnd,
  type JobEnvelope,
  type JobListener,
  type JobRecord,
  type JobStore,
  Jobs,
  MemoryJobStore,
  type NewJobRecord,
  QueueMiddleware,
  type Unsubscribe,
} from '../../src/jobs/index.js';
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import { deferred } from '../support/async.js';

/** Not a MemoryJobStore, so a Jobs app treats it as shared with other processes. */
class LateReplyStore implements JobStore {
  readonly #inner = new MemoryJobStore();
  /** `finish` resolves only once this does, after the watchers heard of the end. */
  replies = deferred<void>();

  create(record: NewJobRecord): Promise<JobRecord | undefined> {
    return this.#inner.create(record);
  }
  get(id: string): Promise<JobRecord | undefined> {
    return this.#inner.get(id);
  }
  start(id: string, fallback: NewJobRecord): Promise<JobChange> {
    return this.#inner.start(id, fallback);
  }
  retrying(id: string): Promise<void> {
    return this.#inner.retrying(id);
  }
  progress(id: string, value: unknown): Promise<void> {
    return this.#inner.progress(id, value);
  }
  async finish(id: string, end: JobEnd): Promise<boolean> {
    const ended = await this.#inner.finish(id, end);
    await this.replies.promise;
    return ended;
  }
  remove(id: string): Promise<void> {
    return this.#inner.remove(id);
  }
  recentFailures(options?: { limit?: number }): Promise<JobRecord[]> {
    return this.#inner.recentFailures(options);
  }
  watch(id: string, listener: JobListener): Promise<Unsubscribe> {
    return this.#inner.watch(id, listener);
  }
  onCancel(listener: (id: string) => void): Promise<Unsubscribe> {
    return this.#inner.onCancel(listener);
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** A queue that hands workers a copy of each envelope, as a broker does. */
class CopyingQueue extends MemoryQueue<JobEnvelope> {
  override send(message: JobEnvelope, options?: Parameters<MemoryQueue<JobEnvelope>['send']>[1]) {
    return super.send(structuredClone(message), options);
  }
}

const apps: Jobs[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.stop({ graceful: false });
});

async function started(store: JobStore, queue: MemoryQueue<JobEnvelope>) {
  const jobs = new Jobs({ store });
  apps.push(jobs);
  jobs.use(new QueueMiddleware({ queue, workers: 2 }));
  const double = jobs.task('double', async (n: number) => n * 2);
  await jobs.start();
  return { jobs, double };
}

describe('a shared store that notifies before the worker hears its write', () => {
  it('get() after wait() reports the job ended, though this process ran it with its own handle', async () => {
    const store = new LateReplyStore();
    const { jobs, double } = await started(store, new CopyingQueue({ order: 'priority' }));
    const job = await double.push(21);
    expect(await job.wait({ timeout: 2_000 })).toBe('success');
    const seen = await jobs.get(job.id);
    expect(seen?.status).toBe('success');
    expect(seen?.result()).toBe(42);
    store.replies.resolve();
  });

  it('the handle a worker settled through the store is let go: a graceful stop does not wait for it', async () => {
    const store = new LateReplyStore();
    const { jobs, double } = await started(store, new MemoryQueue<JobEnvelope>({ order: 'priority' }));
    const job = await double.push(1);
    expect(await job.wait({ timeout: 2_000 })).toBe('success');
    store.replies.resolve();
    const began = performance.now();
    await jobs.stop({ graceful: true, timeout: 5_000 });
    expect(performance.now() - began).toBeLessThan(4_000);
  });
});
