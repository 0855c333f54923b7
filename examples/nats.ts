/**
 * Video transcodes as jobs on NATS JetStream, followed through the job store. Two apps share a
 * NatsQueue and a NatsJobStore, as two processes would: a web app that defines no task pushes jobs
 * by name with ids of its own (`workers: 0`), and a worker app runs them, reporting progress. The
 * web app pushes one id twice (it runs once), then looks a job up by id and follows its progress
 * to its result.
 *
 *   npx tsx examples/nats.ts          (NATS with JetStream on $SLUICE_NATS_URL, default nats://127.0.0.1:4222)
 *
 * Each run uses its own queue and store names, and deletes their streams at the end.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { type JobContext, type JobEnvelope, Jobs, QueueMiddleware } from 'sluice';
import { NatsJobStore, NatsQueue } from 'sluice/nats';

const url = process.env.SLUICE_NATS_URL ?? 'nats://127.0.0.1:4222';
const name = `transcode-example-${process.pid}`;

/** One app of the two: its own queue and store handles on the shared stream and buckets. */
function app(workers: number): Jobs {
  const jobs = new Jobs({ store: new NatsJobStore({ url, name }) });
  jobs.use(new QueueMiddleware({ queue: new NatsQueue<JobEnvelope>(name, { url }), workers }));
  return jobs;
}

const worker = app(2);
worker.task('transcode', async function (this: JobContext, file: string) {
  console.log(`worker: transcoding ${file}`);
  for (let percent = 25; percent <= 100; percent += 25) {
    await sleep(150); // transcoding a quarter of the file
    await this.progress(percent);
  }
  return file.replace('.mp4', '-720p.mp4');
});
const web = app(0);
await worker.start();
await web.start();

await web.push('transcode', ['intro.mp4'], { id: 'video-intro' });
await web.push('transcode', ['talk.mp4'], { id: 'video-talk' });
await web.push('transcode', ['intro.mp4'], { id: 'video-intro' }); // the same id: the same job, run once
console.log('web: pushed video-intro, video-talk, and video-intro again');

// Later, in another request: the job by its id, followed until it ends.
const job = await web.get('video-talk');
if (job === undefined) throw new Error('video-talk is not in the store');
const ended = job.wait();
let seen: unknown;
while (job.endedAt === undefined) {
  if (job.progress !== seen)
    console.log(`web: video-talk ${job.status}, progress ${String(job.progress ?? 0)}%`);
  seen = job.progress;
  await Promise.race([ended, sleep(20)]);
}
console.log(`web: video-talk ${job.status}: ${String(job.result())} (attempt ${job.attempt})`);
const intro = await web.get('video-intro');
await intro?.wait();
console.log(`web: video-intro ${intro?.status}: ${String(intro?.result())}`);

await web.stop();
await worker.stop();

// Clean up: the queue's streams (its dead-letter queue's, if any) and the store's buckets.
const connection = await connect({ servers: url });
const manager = await jetstreamManager(connection);
const streams = [`sluice-${name}`, `sluice-${name}_2edead`, `KV_sluice-jobs-${name}`];
for (const bucket of ['success', 'failure']) streams.push(`KV_sluice-jobs_${bucket}-${name}`);
for (const stream of streams) await manager.streams.delete(stream).catch(() => {}); // absent: fine
await connection.close();
