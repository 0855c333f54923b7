/**
 * The job-store conformance suite: what every JobStore does for a Jobs app, whatever keeps the
 * records. MemoryJobStore runs it from `memory.test.ts` (the in-process part); each shared store runs
 * it, unchanged, from its `test/transports/<broker>-job-store.test.ts`, with real child processes.
 *
 * Harness:
 * - `module`: absolute path of a module (it must not connect anything on import) exporting
 *   `store(namespace, options?)` — a NEW store handle on the records of `namespace` — and
 *   `queue(namespace)` — a NEW queue handle on the job queue of `namespace`, redelivering what a
 *   killed consumer held within a couple of seconds. The suite and its child processes both use it.
 * - `shared`: whether two handles from `store(namespace)` see the same records (every store but
 *   MemoryJobStore). Only then do the tests with a second app or a child process run.
 * - `restart(whileDown?)` (optional): restarts the store's server, keeping what it stored.
 * - `setup()` (optional, once per file): returns its undo (holding a lock against other files'
 *   restarts, say).
 * - `teardown(namespace)` (optional, after each test): deletes the namespace's records and queue.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InvalidOptionError, InvalidStateError, TimeoutError } from '../../src/errors.js';
import {
  type Job,
  JobFailedError,
  type JobStore,
  Jobs,
  QueueMiddleware,
  type Retention,
} from '../../src/jobs/index.js';
import type { JobEnvelope } from '../../src/jobs/types.js';
import type { Queue } from '../../src/queuing/types.js';
import { sleep, until, within } from '../support/async.js';
import { registerTasks } from './job-store-tasks.js';

export interface JobStoreModule {
  store(namespace: string, options?: { retain?: Retention }): JobStore;
  queue(namespace: string): Queue<JobEnvelope>;
}

export interface JobStoreHarness {
  name: string;
  module: string;
  shared: boolean;
  restart?(whileDown?: () => Promise<void>): Promise<void>;
  setup?(): Promise<() => void>;
  teardown?(namespace: string): Promise<void>;
}

interface Event {
  event: string;
  id: string;
  attempt?: number;
  pid?: number;
  status?: string;
  result?: unknown;
  error?: { name?: string; message?: string; code?: string };
}

const childProgram = fileURLToPath(new URL('./job-store-child.ts', import.meta.url));
const repositoryRoot = fileURLToPath(new URL('../..', import.meta.url));
/** How long the suite waits for what must happen; generous for a loaded machine. */
const ARRIVAL_MS = 10_000;

export function jobStoreConformanceSuite(harness: JobStoreHarness): void {
  describe(`JobStore conformance: ${harness.name}`, () => {
    let module: JobStoreModule;
    let undo: () => void = () => {};
    const apps: Jobs[] = [];
    const children: Child[] = [];
    const namespaces: string[] = [];
    const events: Event[] = [];

    beforeAll(async () => {
      module = (await import(pathToFileURL(harness.module).href)) as JobStoreModule;
      undo = (await harness.setup?.()) ?? (() => {});
    }, 250_000);
    afterAll(() => undo());
    afterEach(async () => {
      await Promise.allSettled(children.splice(0).map((child) => child.kill()));
      await Promise.allSettled(apps.splice(0).map((app) => app.stop({ graceful: false, timeout: 2_000 })));
      events.length = 0;
      for (const namespace of namespaces.splice(0)) await harness.teardown?.(namespace);
    });

    function namespace(label: string): string {
      const name = `jst-${label}-${Math.random().toString(36).slice(2, 10)}`;
      namespaces.push(name);
      return name;
    }

    /** A started app on `ns`: `workers` 0 makes a producer and observer only. */
    async function app(ns: string, workers: number, options: { retain?: Retention } = {}): Promise<Jobs> {
      const jobs = new Jobs({ store: module.store(ns, options), backoff: { type: 'fixed', delay: 20 } });
      jobs.use(new QueueMiddleware({ queue: module.queue(ns), workers }));
      registerTasks(jobs, (event) => events.push(event));
      apps.push(jobs);
      await jobs.start();
      return jobs;
    }

    /** Where a job is looked up "from elsewhere": another app on its own store handle, when shared. */
    async function observer(ns: string, worker: Jobs): Promise<Jobs> {
      return harness.shared ? app(ns, 0) : worker;
    }

    function child(ns: string, role: object): Child {
      const started = spawnChild(harness.module, ns, role);
      children.push(started);
      return started;
    }

    it('runs a pushed job and keeps its record: status, attempt, result and times, for every handle', async () => {
      const ns = namespace('record');
      const worker = await app(ns, 2);
      const before = Date.now();
      const job = await worker.push<string>('echo', [{ hello: 'world' }], {
        id: 'echo-1',
        metadata: { by: 'suite' },
      });
      expect(job.id).toBe('echo-1');
      expect(await within(job.wait(), ARRIVAL_MS)).toBe('success');
      expect(job.result()).toEqual({ hello: 'world' });
      const seen = await (await observer(ns, worker)).get('echo-1');
      expect(seen).toBeDefined();
      const found = seen as Job<unknown>;
      expect(await within(found.wait(), ARRIVAL_MS)).toBe('success');
      expect(found.status).toBe('success');
      expect(found.attempt).toBe(1);
      expect(found.task).toBe('echo');
      expect(found.args).toEqual([{ hello: 'world' }]);
      expect(found.metadata).toEqual({ by: 'suite' });
      expect(found.result()).toEqual({ hello: 'world' });
      const { createdAt, startedAt, endedAt } = found;
      expect(createdAt.getTime()).toBeGreaterThanOrEqual(before - 1_000);
      expect(startedAt!.getTime()).toBeGreaterThanOrEqual(createdAt.getTime());
      expect(endedAt!.getTime()).toBeGreaterThanOrEqual(startedAt!.getTime());
    });

    it('ends at once a wait begun after the job ended, on the handle push returned', async () => {
      const ns = namespace('late-wait');
      const worker = await app(ns, 1);
      // A wait first, so that a store that notifies has its feed up when the job is pushed.
      const first = await worker.push('echo', ['first'], { id: 'late-0' });
      expect(await within(first.wait(), ARRIVAL_MS)).toBe('success');
      const job = await worker.push('echo', ['late'], { id: 'late-1' });
      const other = await observer(ns, worker);
      await within(
        (async () => {
          while ((await other.get('late-1'))?.endedAt === undefined) await sleep(20);
        })(),
        ARRIVAL_MS,
      );
      expect(await within(job.wait(), ARRIVAL_MS, () => `the wait, job still ${job.status}`)).toBe('success');
      expect(job.result()).toBe('late');
    });

    it('keeps a failure as name, message and code: result() throws JobFailedError with that cause', async () => {
      const ns = namespace('failure');
      const worker = await app(ns, 1);
      await worker.push('fail', ['card declined', 'E_DECLINED'], { id: 'fail-1' });
      const found = (await (await observer(ns, worker)).get('fail-1'))!;
      expect(await within(found.wait(), ARRIVAL_MS)).toBe('failed');
      let thrown: unknown;
      try {
        found.result();
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(JobFailedError);
      const cause = (thrown as JobFailedError).cause as Error & { code?: string };
      expect(cause.name).toBe('ChargeError');
      expect(cause.message).toBe('card declined');
      expect(cause.code).toBe('E_DECLINED');
    });

    it('counts every execution: a retried job succeeds with attempt 2', async () => {
      const ns = namespace('retry');
      const worker = await app(ns, 1);
      const job = await worker.push('flaky', [], { id: 'flaky-1' });
      const found = (await (await observer(ns, worker)).get('flaky-1'))!;
      expect(await within(found.wait(), ARRIVAL_MS)).toBe('success');
      expect(found.result()).toBe('succeeded on attempt 2');
      expect(found.attempt).toBe(2);
      expect(await within(job.wait(), ARRIVAL_MS)).toBe('success');
    });

    it("shows a task's progress to every handle while it runs", async () => {
      const ns = namespace('progress');
      const worker = await app(ns, 1);
      await worker.push('progress', [{ done: 3, of: 10 }, 60_000], { id: 'progress-1' });
      await within(
        until(() => events.some((e) => e.event === 'progressed')),
        ARRIVAL_MS,
      );
      const found = (await (await observer(ns, worker)).get('progress-1'))!;
      const ended = found.wait();
      await within(
        until(() => found.status === 'running' && found.progress !== undefined),
        ARRIVAL_MS,
      );
      expect(found.progress).toEqual({ done: 3, of: 10 });
      await found.cancel();
      expect(await within(ended, ARRIVAL_MS)).toBe('cancelled');
    });

    it('pushes an id once while the store keeps it: the second push returns the same job', async () => {
      const ns = namespace('idempotent');
      const worker = await app(ns, 1);
      const first = await worker.push('count', [], { id: 'once' });
      expect(await within(first.wait(), ARRIVAL_MS)).toBe('success');
      const other = await observer(ns, worker);
      const second = await other.push('count', [], { id: 'once' });
      expect(second.id).toBe('once');
      expect(await within(second.wait(), ARRIVAL_MS)).toBe('success');
      await sleep(300);
      expect(events.filter((e) => e.event === 'ran' && e.id === 'once')).toHaveLength(1);
    });

    it('cancels a queued job from another handle: it never runs, and ends cancelled for every handle', async () => {
      const ns = namespace('cancel-queued');
      const worker = await app(ns, 1);
      const pushed = await worker.push('count', [], { id: 'later', delay: 400 });
      expect(pushed.status).toBe('scheduled');
      const found = (await (await observer(ns, worker)).get('later'))!;
      await found.cancel();
      expect(found.status).toBe('cancelled');
      expect(await within(pushed.wait(), ARRIVAL_MS)).toBe('cancelled');
      await sleep(1_000);
      expect(events.filter((e) => e.event === 'ran')).toHaveLength(0);
      expect((await worker.get('later'))?.status).toBe('cancelled');
    });

    it('cancels a running job from another handle: its signal aborts where it runs', async () => {
      const ns = namespace('cancel-running');
      const worker = await app(ns, 1);
      const pushed = await worker.push('until-aborted', [], { id: 'running' });
      await within(
        until(() => events.some((e) => e.event === 'started')),
        ARRIVAL_MS,
      );
      const found = (await (await observer(ns, worker)).get('running'))!;
      await found.cancel();
      await within(
        until(() => events.some((e) => e.event === 'aborted')),
        ARRIVAL_MS,
      );
      expect(await within(pushed.wait(), ARRIVAL_MS)).toBe('cancelled');
      expect(await within(found.wait(), ARRIVAL_MS)).toBe('cancelled');
    });

    it('forgets an ended job after its retention: get resolves undefined and the id is free', async () => {
      const ns = namespace('retention');
      const worker = await app(ns, 1, { retain: { success: 300, failure: 300 } });
      const first = await worker.push('count', [], { id: 'kept-briefly' });
      expect(await within(first.wait(), ARRIVAL_MS)).toBe('success');
      expect(await worker.get('kept-briefly')).toBeDefined();
      let kept: Job<unknown> | undefined;
      await within(
        (async () => {
          for (;;) {
            kept = await worker.get('kept-briefly');
            if (kept === undefined) return;
            await sleep(50);
          }
        })(),
        ARRIVAL_MS,
        () =>
          `the record to expire, still ${kept?.status} (attempt ${kept?.attempt}, ended ${kept?.endedAt?.toISOString()})`,
      );
      const again = await worker.push('count', [], { id: 'kept-briefly' });
      expect(await within(again.wait(), ARRIVAL_MS)).toBe('success');
      expect(events.filter((e) => e.event === 'ran' && e.id === 'kept-briefly')).toHaveLength(2);
    });

    it('rejects a wait that outlasts its timeout with TimeoutError, and leaves the job alone', async () => {
      const ns = namespace('wait-timeout');
      const worker = await app(ns, 1);
      const job = await worker.push('until-aborted', [], { id: 'slow' });
      await expect(job.wait({ timeout: 100 })).rejects.toBeInstanceOf(TimeoutError);
      expect(job.status === 'pending' || job.status === 'running').toBe(true);
      await job.cancel();
      expect(await within(job.wait(), ARRIVAL_MS)).toBe('cancelled');
    });

    it('refuses bad ids and options with named errors, before anything is stored', async () => {
      const ns = namespace('refusals');
      const worker = await app(ns, 1);
      const echo = worker.push.bind(worker, 'echo', ['x']);
      for (const id of ['', 'x'.repeat(256), 42, 'line\nbreak', '\uD800']) {
        await expect(echo({ id: id as string })).rejects.toBeInstanceOf(InvalidOptionError);
        await expect(worker.get(id as string)).rejects.toBeInstanceOf(InvalidOptionError);
      }
      await expect(echo({ priority: Number.NaN })).rejects.toBeInstanceOf(InvalidOptionError);
      await expect(echo({ delay: -1 })).rejects.toBeInstanceOf(InvalidOptionError);
      await expect(echo({ metadata: 'tag' as never })).rejects.toBeInstanceOf(InvalidOptionError);
      await expect(worker.push('echo', 'x' as never)).rejects.toBeInstanceOf(InvalidOptionError);
      await expect(worker.get('x'.repeat(255))).resolves.toBeUndefined();
      await expect(worker.get('x'.repeat(10))).resolves.toBeUndefined();
      expect(() => module.store(`${ns}-bad`, { retain: { success: 0 } })).toThrow(InvalidOptionError);
      expect(() => module.store(`${ns}-bad`, { retain: { failure: Number.NaN } })).toThrow(
        InvalidOptionError,
      );
      const job = await worker.push('echo', ['y'], { id: 'x'.repeat(255) });
      expect(
        await within(
          job.wait({ timeout: 100 }).catch(() => job.wait()),
          ARRIVAL_MS,
        ),
      ).toBe('success');
    });

    it('refuses lookups once the app stopped', async () => {
      const ns = namespace('stopped');
      const worker = await app(ns, 1);
      await worker.stop();
      await expect(worker.get('any')).rejects.toBeInstanceOf(InvalidStateError);
    });

    describe.runIf(harness.shared)('across processes', () => {
      it('pushes in one process, runs in another and ends a wait in a third', async () => {
        const ns = namespace('three');
        const worker = child(ns, { role: 'worker', workers: 2 });
        await worker.next((e) => e.event === 'ready');
        const producer = await app(ns, 0);
        const job = await producer.push('echo', ['from the producer'], { id: 'three-1' });
        const waiter = child(ns, { role: 'wait', id: 'three-1', timeout: ARRIVAL_MS });
        const ended = await waiter.next((e) => e.event === 'ended');
        expect(ended).toMatchObject({ status: 'success', attempt: 1, result: 'from the producer' });
        expect(await within(job.wait(), ARRIVAL_MS)).toBe('success');
        expect(job.result()).toBe('from the producer');
      });

      it('finishes elsewhere the job of a worker killed mid-job: wait reports success, attempt 2', async () => {
        const ns = namespace('killed');
        const first = child(ns, { role: 'worker', workers: 1 });
        await first.next((e) => e.event === 'ready');
        const producer = await app(ns, 0);
        const job = await producer.push('hang-first', [], { id: 'survivor' });
        const ended = job.wait();
        await first.next((e) => e.event === 'started' && e.attempt === 1);
        await first.kill();
        expect(job.status).toBe('running');
        const second = child(ns, { role: 'worker', workers: 1 });
        await second.next((e) => e.event === 'started' && (e.attempt ?? 0) >= 2, 30_000);
        expect(await within(ended, 30_000)).toBe('success');
        expect(job.attempt).toBeGreaterThanOrEqual(2);
        expect(job.result()).toMatch(/^finished on attempt [2-9]/);
      }, 60_000);

      it('cancels from this process a job queued for, and a job running in, another process', async () => {
        const ns = namespace('cancel-across');
        const worker = child(ns, { role: 'worker', workers: 1 });
        await worker.next((e) => e.event === 'ready');
        const producer = await app(ns, 0);
        const running = await producer.push('until-aborted', [], { id: 'busy' });
        await worker.next((e) => e.event === 'started' && e.id === 'busy');
        const queued = await producer.push('count', [], { id: 'behind' }); // the only worker is busy
        await queued.cancel();
        await running.cancel();
        await worker.next((e) => e.event === 'aborted' && e.id === 'busy');
        expect(await within(running.wait(), ARRIVAL_MS)).toBe('cancelled');
        expect(await within(queued.wait(), ARRIVAL_MS)).toBe('cancelled');
        const after = await producer.push('count', [], { id: 'after' });
        expect(await within(after.wait(), ARRIVAL_MS)).toBe('success');
        expect(worker.events.some((e) => e.event === 'ran' && e.id === 'behind')).toBe(false);
      });

      it('runs once a job two processes push with the same id at the same time', async () => {
        const ns = namespace('race');
        const worker = child(ns, { role: 'worker', workers: 2 });
        await worker.next((e) => e.event === 'ready');
        const pushers = [1, 2, 3].map(() =>
          child(ns, { role: 'push', task: 'count', args: [], id: 'raced' }),
        );
        for (const pusher of pushers) await pusher.next((e) => e.event === 'pushed');
        const waiter = child(ns, { role: 'wait', id: 'raced', timeout: ARRIVAL_MS });
        expect(await waiter.next((e) => e.event === 'ended')).toMatchObject({ status: 'success' });
        await sleep(500);
        expect(worker.events.filter((e) => e.event === 'ran' && e.id === 'raced')).toHaveLength(1);
      });

      it.runIf(harness.restart !== undefined)(
        'loses no record of an ended job when its server restarts under load',
        async () => {
          const ns = namespace('restart');
          const worker = child(ns, { role: 'worker', workers: 4 });
          await worker.next((e) => e.event === 'ready');
          const producer = await app(ns, 0);
          const ids: string[] = [];
          for (let n = 0; n < 100; n++) {
            ids.push((await producer.push('echo', [n], { id: `load-${n}` })).id);
          }
          await harness.restart!();
          // Pushes after the restart: the producer's connections came back.
          for (let n = 100; n < 150; n++) {
            const id = `load-${n}`;
            for (;;) {
              try {
                ids.push((await producer.push('echo', [n], { id })).id);
                break;
              } catch {
                await sleep(100); // the first send after the restart may find the connection down
              }
            }
          }
          const observerApp = await app(ns, 0);
          for (const [n, id] of ids.entries()) {
            const found = await within(observerApp.get(id), ARRIVAL_MS);
            expect(found, id).toBeDefined();
            expect(await within(found!.wait(), 60_000, () => `${id} still ${found!.status}`)).toBe('success');
            expect(found!.result()).toBe(n);
          }
        },
        180_000,
      );
    });
  });
}

interface Child {
  readonly events: Event[];
  /** The first event (already printed or to come) that `match` accepts. */
  next(match: (event: Event) => boolean, timeoutMs?: number): Promise<Event>;
  kill(): Promise<void>;
}

function spawnChild(module: string, namespace: string, role: object): Child {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', childProgram, module, namespace, JSON.stringify(role)],
    { cwd: repositoryRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const events: Event[] = [];
  let arrived: () => void = () => {};
  createInterface({ input: child.stdout }).on('line', (line) => {
    events.push(JSON.parse(line) as Event);
    arrived();
  });
  return {
    events,
    async next(match, timeoutMs = ARRIVAL_MS) {
      const found = async () => {
        for (;;) {
          const event = events.find(match);
          if (event !== undefined) return event;
          if (child.exitCode !== null || child.signalCode !== null) {
            throw new Error(`process ${JSON.stringify(role)} exited: ${stderr}`);
          }
          await Promise.race([new Promise<void>((resolve) => (arrived = resolve)), exited, sleep(200)]);
        }
      };
      return within(found(), timeoutMs, () => `an event from ${JSON.stringify(role)} (stderr: ${stderr})`);
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
