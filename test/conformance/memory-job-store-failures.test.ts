import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import { MemoryJobStore } from '../../src/jobs/index.js';
import type { JobEnd } from '../../src/jobs/store.js';
import { sleep } from '../support/async.js';

async function ended(store: MemoryJobStore, id: string, status: JobEnd['status']): Promise<void> {
  await store.create({ id, task: 'work', args: [id], createdAt: Date.now(), status: 'pending' });
  await store.start(id, { id, task: 'work', args: [id], createdAt: Date.now(), status: 'pending' });
  const error = status === 'success' ? undefined : { name: 'Error', message: `${id} broke` };
  await store.finish(id, { status, error });
  await sleep(2); // each ends at its own millisecond
}

describe('MemoryJobStore.recentFailures', () => {
  it('lists the kept records of failed, timed-out and cancelled jobs, most recently ended first', async () => {
    const store = new MemoryJobStore();
    await ended(store, 'a', 'failed');
    await ended(store, 'b', 'success');
    await ended(store, 'c', 'timeout');
    await ended(store, 'd', 'cancelled');
    await store.create({ id: 'e', task: 'work', args: [], createdAt: Date.now(), status: 'pending' });

    const failures = await store.recentFailures();
    expect(failures.map((r) => [r.id, r.status])).toEqual([
      ['d', 'cancelled'],
      ['c', 'timeout'],
      ['a', 'failed'],
    ]);
    expect(failures[2]).toMatchObject({
      task: 'work',
      args: ['a'],
      error: { message: 'a broke' },
      attempt: 1,
    });
    expect((await store.recentFailures({ limit: 2 })).map((r) => r.id)).toEqual(['d', 'c']);

    await store.remove('c');
    expect((await store.recentFailures()).map((r) => r.id)).toEqual(['d', 'a']);
  });

  it('defaults to 20 and leaves out the records it no longer keeps', async () => {
    const store = new MemoryJobStore({ maxEnded: 25 });
    for (let n = 0; n < 30; n++) await ended(store, `job-${n}`, 'failed');
    const failures = await store.recentFailures();
    expect(failures.map((r) => r.id)).toEqual(Array.from({ length: 20 }, (_, i) => `job-${29 - i}`));
    expect(await store.recentFailures({ limit: 1_000 })).toHaveLength(25);

    const brief = new MemoryJobStore({ retain: { success: 1_000, failure: 50 } });
    await ended(brief, 'gone', 'failed');
    await sleep(100);
    expect(await brief.recentFailures()).toEqual([]);
  });

  it('rejects a limit that is not an integer from 1 to 1000 with InvalidOptionError', async () => {
    const store = new MemoryJobStore();
    for (const limit of [0, 1_001, 1.5, Number.NaN]) {
      await expect(store.recentFailures({ limit })).rejects.toBeInstanceOf(InvalidOptionError);
    }
  });
});
