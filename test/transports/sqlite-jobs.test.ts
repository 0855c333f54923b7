import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { type JobEnvelope, Jobs, QueueMiddleware } from '../../src/jobs/index.js';
import { SqliteQueue } from '../../src/transports/sqlite/index.js';
import { within } from '../support/async.js';

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

describe('durable jobs on SqliteQueue', () => {
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
