import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { type JobContext, type JobEnvelope, Jobs, QueueMiddleware } from '../../src/jobs/index.js';
import { SqliteQueue } from '../../src/transports/sqlite/index.js';
import { deferred, sleep, within } from '../support/async.js';

const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));
const moduleUrl = (relative: string) => pathToFileURL(fileURLToPath(new URL(relative, import.meta.url))).href;

const files: string[] = [];
const children: ChildProcess[] = [];

function tempDb(): string {
  const path = join(tmpdir(), `sluice-sqlite-jobs-${process.pid}-${randomUUID()}.db`);
  files.push(path);
  return path;
}

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const path of files.splice(0)) {
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
  }
});

function run(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: repositoryRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return child;
}

/** An app on the file whose `work(name)` records each run and runs `body` (a plain record by default). */
function fileApp(
  path: string,
  runs: string[],
  workers: number,
  body: (this: JobContext, name: string) => Promise<unknown> = async () => {},
) {
  const jobs = new Jobs();
  jobs.use(new QueueMiddleware({ queue: new SqliteQueue<JobEnvelope>('jobs', { path }), workers }));
  const work = jobs.task('work', function (this: JobContext, name: string) {
    runs.push(name);
    return body.call(this, name);
  });
  return { jobs, work };
}

/** Starts an app on the file, pushes a last job and waits for it: the jobs left before it ran first. */
async function runLeftovers(path: string, runs: string[]): Promise<void> {
  const { jobs, work } = fileApp(path, runs, 1);
  await jobs.start();
  try {
    const last = await work.push('last');
    await within(last.wait(), 15_000, () => `ran ${runs.join(', ')}`);
  } finally {
    await jobs.stop();
  }
}

describe('durable jobs on SqliteQueue', () => {
  it('graceful: false leaves the aborted job and the queued ones in the file for the next start', async () => {
    const path = tempDb();
    const runs: string[] = [];
    const started = deferred();
    const first = fileApp(path, runs, 1, function (this: JobContext) {
      started.resolve();
      return new Promise((_resolve, reject) => this.signal.addEventListener('abort', reject));
    });
    await first.jobs.start();
    const pushed = [await first.work.push('a'), await first.work.push('b'), await first.work.push('c')];
    await started.promise;
    await first.jobs.stop({ graceful: false });
    expect(pushed.map((job) => job.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    await runLeftovers(path, runs);
    expect(runs).toEqual(['a', 'a', 'b', 'c', 'last']);
  });

  it('does not run again a job that succeeded during a stop, or that was cancelled while running', async () => {
    const path = tempDb();
    const runs: string[] = [];
    const started = new Map([
      ['paid', deferred()],
      ['cancelled', deferred()],
    ]);
    const gates = new Map([
      ['paid', deferred()],
      ['cancelled', deferred()],
    ]);
    const first = fileApp(path, runs, 2, (name) => {
      started.get(name)!.resolve();
      return gates.get(name)!.promise; // ignores its signal
    });
    await first.jobs.start();
    const paid = await first.work.push('paid');
    const cancelled = await first.work.push('cancelled');
    await Promise.all([...started.values()].map((one) => one.promise));
    await cancelled.cancel();
    const stopping = first.jobs.stop({ graceful: false });
    await sleep(20); // the stop is well under way: a worker that gives back early has done so
    for (const gate of gates.values()) gate.resolve();
    await stopping;
    expect([paid.status, cancelled.status]).toEqual(['success', 'cancelled']);
    await runLeftovers(path, runs);
    expect(runs).toEqual(['paid', 'cancelled', 'last']);
  });

  it('runs the jobs a SIGKILLed process left queued when another process starts on the file', async () => {
    const path = tempDb();
    const total = 20;
    // The pusher runs one worker whose job never ends, so the other jobs are still queued when it dies.
    const pusher = run([
      '--input-type=module',
      '-e',
      `import { Jobs, QueueMiddleware } from ${JSON.stringify(moduleUrl('../../src/jobs/index.ts'))};
       import { SqliteQueue } from ${JSON.stringify(moduleUrl('../../src/transports/sqlite/index.ts'))};
       const queue = new SqliteQueue('jobs', { path: ${JSON.stringify(path)}, visibilityTimeout: 1000 });
       const jobs = new Jobs();
       jobs.use(new QueueMiddleware({ queue, workers: 1 }));
       const work = jobs.task('work', async function (n) {
         console.log('running ' + n);
         await new Promise(() => {});
       });
       await jobs.start();
       for (let n = 0; n < ${total}; n++) await work.push(n);
       console.log('pushed');`,
    ]);
    let stderr = '';
    pusher.stderr!.on('data', (chunk) => {
      stderr += chunk;
    });
    const lines: string[] = [];
    for await (const line of createInterface({ input: pusher.stdout! })) {
      lines.push(line);
      if (line === 'pushed') break;
    }
    expect(lines, stderr).toContain('pushed');
    pusher.kill('SIGKILL');
    await new Promise((resolve) => pusher.once('exit', resolve));

    const ran = new Map<number, number>();
    let allRan!: () => void;
    const complete = new Promise<void>((resolve) => {
      allRan = resolve;
    });
    const jobs = new Jobs();
    jobs.use(new QueueMiddleware({ queue: new SqliteQueue<JobEnvelope>('jobs', { path }), workers: 4 }));
    jobs.task('work', async (n: number) => {
      ran.set(n, (ran.get(n) ?? 0) + 1);
      if (ran.size === total) allRan();
    });
    await jobs.start();
    try {
      await within(complete, 15_000, () => `ran ${ran.size} of ${total} jobs`);
    } finally {
      await jobs.stop();
    }
    expect([...ran.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, n) => n));
    expect([...ran.values()].every((times) => times === 1)).toBe(true);
  }, 60_000);

  it('runs examples/sqlite-jobs.ts to the end', async () => {
    const path = tempDb();
    const example = run([fileURLToPath(new URL('../../examples/sqlite-jobs.ts', import.meta.url))], {
      SLUICE_JOBS_DB: path,
    });
    let output = '';
    example.stdout!.on('data', (chunk) => {
      output += chunk;
    });
    example.stderr!.on('data', (chunk) => {
      output += chunk;
    });
    const code = await within(
      new Promise((resolve) => example.once('exit', resolve)),
      30_000,
      () => `the example to finish; output so far:\n${output}`,
    );
    expect(code, output).toBe(0);
    for (const name of ['ada', 'grace', 'edsger', 'barbara', 'ken']) {
      expect(output).toMatch(new RegExp(`\\[worker \\d+\\] sent to ${name}@example.com`));
    }
  }, 60_000);
});
