/**
 * Durable jobs on one machine, no server: jobs pushed to a SqliteQueue survive the process that
 * pushed them.
 *
 *   npx tsx examples/sqlite-jobs.ts
 *
 * The story: a child process (this file with the argument `push`) pushes five emails and starts
 * sending the first one; it is killed with SIGKILL while its jobs are still queued. Then this
 * process starts a Jobs app on the same file: the four queued emails run at once, and the one the
 * dead process held comes back after the queue's visibility timeout (2 s here).
 * The database file is `$SLUICE_JOBS_DB`, or `sluice-jobs-example.db` in the temporary directory.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type JobEnvelope, Jobs, QueueMiddleware } from 'sluice';
import { SqliteQueue } from 'sluice/sqlite';

const path = process.env.SLUICE_JOBS_DB ?? join(tmpdir(), 'sluice-jobs-example.db');
const recipients = ['ada@', 'grace@', 'edsger@', 'barbara@', 'ken@'].map((name) => `${name}example.com`);

/** The same app in both processes: one durable queue in one file, and the task that uses it. */
function emailApp(workers: number, onSent: (to: string) => void) {
  const jobs = new Jobs();
  const queue = new SqliteQueue<JobEnvelope>('emails', { path, visibilityTimeout: 2_000 });
  jobs.use(new QueueMiddleware({ queue, workers }));
  const sendEmail = jobs.task('send-email', async function (to: string) {
    await sleep(200, undefined, { signal: this.signal }); // talking to the mail server
    onSent(to);
  });
  return { jobs, sendEmail };
}

async function pushThenHang(): Promise<void> {
  const { jobs, sendEmail } = emailApp(1, (to) => console.log(`sent to ${to}`));
  await jobs.start();
  for (const to of recipients) await sendEmail.push(to); // resolves once the job is in the file
  console.log(`pushed ${recipients.length} jobs`);
  await new Promise(() => {}); // busy with the first email until it is killed
}

async function crashThenRecover(): Promise<void> {
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });

  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'push'], {
    env: { ...process.env, SLUICE_JOBS_DB: path },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  for await (const line of createInterface({ input: child.stdout })) {
    console.log(`[pusher ${child.pid}] ${line}`);
    if (line.startsWith('pushed')) break;
  }
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  console.log(`[pusher ${child.pid}] killed with SIGKILL`);

  const started = Date.now();
  const remaining = new Set(recipients);
  let allSent!: () => void;
  const done = new Promise<void>((resolve) => {
    allSent = resolve;
  });
  const { jobs } = emailApp(4, (to) => {
    console.log(`[worker ${process.pid}] sent to ${to} after ${Date.now() - started} ms`);
    remaining.delete(to);
    if (remaining.size === 0) allSent();
  });
  await jobs.start();
  await done;
  await jobs.stop();
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
  console.log('every email was sent once the worker started: nothing was lost in the crash');
}

if (process.argv[2] === 'push') await pushThenHang();
else await crashThenRecover();
