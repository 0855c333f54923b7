/**
 * sluice/otel on a Jobs app: the QueueMiddleware's queue is instrumented, so a push is a send span
 * naming the job, its execution a process span under it, and what the task function does is traced
 * under that execution.
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { type JobEnvelope, Jobs, QueueMiddleware } from '../../src/jobs/index.js';
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import { flush } from '../support/async.js';
import {
  idOf,
  operation,
  PaymentDeclinedError,
  parentOf,
  traced,
  traceOf,
  useOtelGlobals,
} from './otel-fixture.js';

useOtelGlobals();

/** An app (not started) whose QueueMiddleware queue, named `jobs`, is instrumented. */
function tracedApp() {
  const t = traced();
  const queue = t.otel.instrument(new MemoryQueue<JobEnvelope>({ name: 'jobs', order: 'priority' }));
  const jobs = new Jobs({ backoff: () => 0 });
  jobs.use(new QueueMiddleware({ queue, workers: 2 }));
  return { ...t, jobs };
}

describe('sluice/otel on Jobs', () => {
  it('pushes in a send span naming the job and executes in a process span under it, the task’s spans as children', async () => {
    const app = tracedApp();
    const charge = app.jobs.task('charge-payment', async (orderId: string) => {
      app.tracer.startSpan('authorize').end();
      await flush();
      app.tracer.startSpan('capture').end();
      return `charged:${orderId}`;
    });
    await app.jobs.start();
    const job = await charge.push('ord-1');
    expect(await job.wait()).toBe('success');
    await app.ended(4);
    await app.jobs.stop();

    const jobAttributes = { 'sluice.job.task': 'charge-payment', 'sluice.job.id': job.id };
    const send = app.one('send jobs');
    const process = app.one('process jobs');
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(send.attributes).toEqual({ ...operation('jobs', 'send'), ...jobAttributes });
    expect(process.kind).toBe(SpanKind.CONSUMER);
    expect(process.attributes).toEqual({
      ...operation('jobs', 'process'),
      ...jobAttributes,
      'sluice.message.attempt': 1,
      'sluice.message.outcome': 'ack',
    });
    expect(parentOf(process)).toBe(idOf(send));
    expect(parentOf(app.one('authorize'))).toBe(idOf(process));
    expect(parentOf(app.one('capture'))).toBe(idOf(process));
    expect(new Set(app.spans().map(traceOf))).toEqual(new Set([traceOf(send)]));
  });

  it('keeps a retried job in the trace: the retry is sent from the failed execution and runs under that send', async () => {
    const app = tracedApp();
    const charge = app.jobs.task(
      'charge-payment',
      async function (this: { attempt: number }) {
        if (this.attempt === 1) throw new PaymentDeclinedError('card declined');
      },
      { retry: 1 },
    );
    await app.jobs.start();
    const job = await charge.push();
    expect(await job.wait()).toBe('success');
    await app.ended(4);
    await app.jobs.stop();

    // Found by parent, not by end order: the fast hand-off may run a job before its send span ends.
    const push = app.child(undefined, 'send jobs');
    const failed = app.child(push, 'process jobs');
    const retry = app.child(failed, 'send jobs');
    const succeeded = app.child(retry, 'process jobs');
    expect(app.spans()).toHaveLength(4);
    expect(retry.attributes).toMatchObject({ 'sluice.job.task': 'charge-payment', 'sluice.job.id': job.id });
    expect(succeeded.attributes['sluice.message.outcome']).toBe('ack');
    expect(new Set(app.spans().map(traceOf)).size).toBe(1);
  });

  it('jobMiddleware() runs each execution in an execute span under the process span; a failed job fails that span', async () => {
    const t = traced();
    const queue = t.otel.instrument(new MemoryQueue<JobEnvelope>({ name: 'jobs' }));
    const jobs = new Jobs({ backoff: () => 0 });
    jobs.use(new QueueMiddleware({ queue, workers: 1 }), t.otel.jobMiddleware());
    const charge = jobs.task(
      'charge-payment',
      async function (this: { attempt: number }) {
        t.tracer.startSpan('authorize').end();
        if (this.attempt === 1) throw new PaymentDeclinedError('card declined');
      },
      { retry: 1 },
    );
    await jobs.start();
    const job = await charge.push();
    expect(await job.wait()).toBe('success');
    await t.ended(8); // send, process, execute and authorize per execution
    await jobs.stop();

    const first = t.child(t.child(undefined, 'send jobs'), 'process jobs');
    const failed = t.child(first, 'execute charge-payment');
    expect(first.attributes['sluice.message.outcome']).toBe('ack'); // the message was handled: the job failed
    expect(failed.kind).toBe(SpanKind.INTERNAL);
    expect(failed.attributes).toEqual({
      'sluice.job.task': 'charge-payment',
      'sluice.job.id': job.id,
      'sluice.job.attempt': 1,
      'error.type': 'PaymentDeclinedError',
    });
    expect(failed.status.code).toBe(SpanStatusCode.ERROR);
    expect(failed.events.map((event) => event.name)).toEqual(['exception']);
    expect(parentOf(t.child(failed, 'authorize'))).toBe(idOf(failed));
    const retried = t.child(t.child(first, 'send jobs'), 'process jobs'); // the retry is pushed once the execution ended
    const succeeded = t.child(retried, 'execute charge-payment');
    expect(succeeded.attributes['sluice.job.attempt']).toBe(2);
    expect(succeeded.status.code).toBe(SpanStatusCode.UNSET);
  });
});
