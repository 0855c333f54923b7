/**
 * A QueueMiddleware's flow limits (SPEC § 7) reach its workers: jobs of one group run at most
 * `groupConcurrency` at once, job starts keep to `rateLimit`, and both change while the workers run.
 */
import { describe, expect, it } from 'vitest';
import { Jobs, QueueMiddleware } from '../../src/jobs/index.js';
import { type Deferred, deferred, sleep, until } from '../support/async.js';

describe('QueueMiddleware flow limits', () => {
  it('runs at most groupConcurrency jobs of a group at once, and a raised cap applies at once', async () => {
    const jobs = new Jobs();
    const middleware = new QueueMiddleware({ workers: 4, groupConcurrency: 1 });
    jobs.use(middleware);
    const running: string[] = [];
    const gates: Deferred<void>[] = [];
    const hold = jobs.task('hold', async (label: string) => {
      running.push(label);
      const gate = deferred();
      gates.push(gate);
      await gate.promise;
    });
    await jobs.start();
    for (const label of ['a1', 'a2', 'a3']) await hold.with({ group: 'a' }).push(label);
    await hold.with({ group: 'b' }).push('b1');
    await until(() => running.length >= 2);
    await sleep(50); // time for a start the cap should hold back
    expect(running).toEqual(['a1', 'b1']); // a2 waits for a's slot, though workers are free

    middleware.groupConcurrency = 2;
    await until(() => running.length >= 3);
    await sleep(50);
    expect(running).toEqual(['a1', 'b1', 'a2']);

    for (const gate of gates.splice(0)) gate.resolve();
    await until(() => running.length >= 4);
    for (const gate of gates.splice(0)) gate.resolve();
    await jobs.stop();
  });

  it('starts at most rateLimit jobs in any interval, and a lifted limit frees the rest', async () => {
    const jobs = new Jobs();
    const middleware = new QueueMiddleware({ workers: 4, rateLimit: { limit: 2, interval: 60_000 } });
    jobs.use(middleware);
    let started = 0;
    const work = jobs.task('work', () => {
      started++;
    });
    await jobs.start();
    const pushed = await Promise.all(Array.from({ length: 5 }, () => work.push()));
    await until(() => started >= 2);
    await sleep(50);
    expect(started).toBe(2); // the window is a minute long: nothing more starts in it

    middleware.rateLimit = undefined;
    await Promise.all(pushed.map((job) => job.wait()));
    expect(started).toBe(5);
    await jobs.stop();
  });
});
