import { describe, expect, it } from 'vitest';
import { Job } from '../../src/jobs/job.js';
import { LiveJobs } from '../../src/jobs/live-jobs.js';

const owner = { cancel: () => Promise.resolve(), follow: () => undefined };
const jobs = (count: number) =>
  Array.from({ length: count }, (_, i) => new Job(owner, `j${i}`, 't', 'pending', []));

describe('LiveJobs', () => {
  it('keeps jobs in the order they were added and removes them from anywhere', () => {
    const live = new LiveJobs();
    const [a, b, c, d] = jobs(4) as [Job, Job, Job, Job];
    for (const job of [a, b, c, d]) live.add(job);
    live.delete(b); // middle
    live.delete(a); // first
    live.delete(d); // last
    expect(live.toArray()).toEqual([c]);
    expect(live.size).toBe(1);
    live.add(a);
    expect(live.toArray()).toEqual([c, a]);
  });

  it('ignores a job that is not in the list, even removed twice', () => {
    const live = new LiveJobs();
    const [a, b, c] = jobs(3) as [Job, Job, Job];
    live.add(a);
    live.add(b);
    live.delete(b);
    live.delete(b);
    live.delete(c); // never added
    expect(live.toArray()).toEqual([a]);
    expect(live.size).toBe(1);
  });

  it('clears every job, which can then be added again', () => {
    const live = new LiveJobs();
    const all = jobs(3);
    for (const job of all) live.add(job);
    live.clear();
    expect(live.size).toBe(0);
    expect(live.toArray()).toEqual([]);
    live.add(all[1]!);
    expect(live.toArray()).toEqual([all[1]]);
  });
});
