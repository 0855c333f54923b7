/**
 * Jobs with a QueueMiddleware: priorities, backpressure at push, and re-tuning while running.
 *
 *   npx tsx examples/jobs.ts
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type JobEnvelope, Jobs, MemoryQueue, QueueMiddleware } from 'sluice';

const started = performance.now();
const log = (line: string) =>
  console.log(`${String(Math.round(performance.now() - started)).padStart(5)} ms  ${line}`);

// 1. Priorities: one worker, so the order of execution is the queue's order.
{
  await using jobs = new Jobs();
  jobs.use(new QueueMiddleware({ queue: new MemoryQueue({ order: 'priority', maxsize: 256 }), workers: 1 }));
  const chargePayment = jobs.task('charge-payment', async (orderId: string) => `charged:${orderId}`, {
    metadata: { priority: 100 },
  });
  const sendAnalytics = jobs.task('send-analytics', async (eventId: string) => `tracked:${eventId}`, {
    metadata: { priority: 10 },
  });
  const warmUp = jobs.task('warm-up', () => sleep(20)); // keeps the worker busy while we push
  await jobs.start();
  console.log('\n# priorities: analytics pushed first, payments run first, equal priorities in push order');
  await warmUp.push();
  const pushed = [
    await sendAnalytics.push('evt-1'),
    await sendAnalytics.push('evt-2'),
    await chargePayment.push('ord-1'),
    await chargePayment.push('ord-2'),
  ];
  const finished: string[] = [];
  await Promise.all(
    pushed.map(async (job) => {
      await job.wait();
      finished.push(job.result());
    }),
  );
  log(`ran in this order: ${finished.join(', ')}`);
}

// 2. Backpressure: a buffer of 2 and 1 worker: the third push waits until the worker frees a slot.
{
  await using jobs = new Jobs();
  const queue = new MemoryQueue<JobEnvelope>({ order: 'priority', maxsize: 2 });
  jobs.use(new QueueMiddleware({ queue, workers: 1 }));
  const resize = jobs.task('resize-image', async (name: string) => {
    await sleep(50);
    log(`  resized ${name}`);
  });
  await jobs.start();
  console.log('\n# backpressure: maxsize 2, 1 worker, each job takes 50 ms');
  for (let i = 1; i <= 6; i++) {
    await resize.push(`img-${i}.png`);
    log(`push img-${i}.png accepted (buffered now: ${queue.size})`);
  }
}

// 3. Live re-tuning: start with 1 worker, raise to 4, then grow the buffer.
{
  await using jobs = new Jobs();
  const queue = new MemoryQueue<JobEnvelope>({ order: 'priority', maxsize: 4 });
  const qm = new QueueMiddleware({ queue, workers: 1 });
  jobs.use(qm);
  let running = 0;
  let peak = 0;
  const call = jobs.task('call-api', async () => {
    peak = Math.max(peak, ++running);
    await sleep(20);
    running--;
  });
  await jobs.start();
  console.log('\n# live tuning');
  const batch = async (label: string) => {
    peak = 0;
    const t = performance.now();
    const pushed = [];
    for (let i = 0; i < 12; i++) pushed.push(await call.push());
    await Promise.all(pushed.map((job) => job.wait()));
    log(`${label}: 12 jobs in ${Math.round(performance.now() - t)} ms, at most ${peak} at once`);
  };
  await batch(`workers = ${qm.workers}, maxsize = ${queue.maxsize}`);
  qm.workers = 4;
  await batch(`workers = ${qm.workers}, maxsize = ${queue.maxsize}`);
  queue.maxsize = 16;
  await batch(`workers = ${qm.workers}, maxsize = ${queue.maxsize}`);
}
