/**
 * Jobs across processes on Redis: a producer and three worker processes share a RedisQueue and a
 * RedisJobStore. The producer pushes twelve image renders and waits for each; every result comes
 * back to it from whichever worker ran the job, with a live progress line. A third of the way
 * through, one worker is killed with SIGKILL: the jobs it held come back after the queue's visibility timeout,
 * run on the other workers (attempt 2), and the producer still gets every result.
 *
 *   npx tsx examples/distributed-jobs.ts          (Redis on $SLUICE_REDIS_URL, default 127.0.0.1:6379)
 *
 * Each run uses its own queue and store names, and removes them at the end.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { type Job, type JobContext, type JobEnvelope, Jobs, QueueMiddleware } from 'sluice';
import { RedisJobStore, RedisQueue } from 'sluice/redis';

const url = process.env.SLUICE_REDIS_URL ?? 'redis://127.0.0.1:6379';
const JOBS = 12;

/** The same app in every process; only the number of workers differs (0 in the producer). */
function renderApp(name: string, workers: number) {
  const jobs = new Jobs({ store: new RedisJobStore({ url, name }) });
  const queue = new RedisQueue<JobEnvelope>(name, { url, visibilityTimeout: 2_000 });
  jobs.use(new QueueMiddleware({ queue, workers }));
  const render = jobs.task('render', async function (this: JobContext, image: string) {
    for (let percent = 0; percent < 100; percent += 20) {
      await this.progress(percent);
      await sleep(250, undefined, { signal: this.signal }); // rendering a fifth of the image
    }
    return { image, renderedBy: process.pid, attempt: this.job.attempt };
  });
  return { jobs, render };
}

async function worker(name: string): Promise<void> {
  const { jobs } = renderApp(name, 2);
  await jobs.start();
  console.log('ready');
  process.once('SIGTERM', () => void jobs.stop().finally(() => process.exit(0)));
}

function startWorker(name: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'worker', name], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`worker ${child.pid} exited with ${code}`)));
    createInterface({ input: child.stdout! }).once('line', () => {
      child.removeAllListeners('exit');
      resolve(child);
    });
  });
}

function progressLine(handles: Job<unknown>[]): string {
  const cells = handles.map((job) => {
    if (job.status === 'success') return '✓';
    if (job.status === 'running') return `${String(job.progress ?? 0).padStart(2)}%`;
    return '·';
  });
  const done = handles.filter((job) => job.status === 'success').length;
  return `[producer] ${done}/${handles.length} done  ${cells.join(' ')}`;
}

async function producer(): Promise<void> {
  const name = `render-example-${process.pid}`;
  const workers = await Promise.all([1, 2, 3].map(() => startWorker(name)));
  console.log(`[producer] workers ${workers.map((w) => w.pid).join(', ')} ready`);
  const { jobs, render } = renderApp(name, 0);
  await jobs.start();
  const handles: Job<{ image: string; renderedBy: number; attempt: number }>[] = [];
  for (let n = 1; n <= JOBS; n++)
    handles.push(await render.with({ id: `image-${n}` }).push(`image-${n}.png`));
  const ended = Promise.all(handles.map((job) => job.wait()));
  const ticker = setInterval(() => console.log(progressLine(handles)), 500);

  // A third of the way through: kill a worker while it renders.
  while (handles.filter((job) => job.status === 'success').length < JOBS / 3) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const victim = workers[1]!;
  victim.kill('SIGKILL');
  console.log(`[producer] killed worker ${victim.pid} with SIGKILL while it rendered`);

  await ended;
  clearInterval(ticker);
  console.log(progressLine(handles));
  for (const job of handles) {
    const { image, renderedBy, attempt } = job.result();
    const note = attempt > 1 ? `  (attempt ${attempt}: its first worker was killed)` : '';
    console.log(`[producer] ${image} rendered by worker ${renderedBy}${note}`);
  }
  const lost = handles.filter((job) => job.status !== 'success').length;
  console.log(`[producer] ${JOBS - lost} of ${JOBS} results back, ${lost} lost`);

  await Promise.all(
    workers.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }),
  );
  await jobs.stop();
  await removeAll(name);
  if (lost > 0) process.exitCode = 1;
}

/** The example leaves nothing behind in Redis: its queue's keys and its store's records. */
async function removeAll(name: string): Promise<void> {
  const redis = new Redis(url);
  for (const pattern of [`sluice:{${name}}*`, `sluice:{${name}.dead}*`, `sluice-jobs:{${name}}:*`]) {
    const keys = await redis.keys(pattern);
    if (keys.length > 0) await redis.del(...keys);
  }
  redis.disconnect();
}

if (process.argv[2] === 'worker') await worker(process.argv[3]!);
else await producer();
