/**
 * What every broker's CLI test file checks, against the real program in a child process: the same
 * cases on each broker, given how to reach it.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type JobStore, Jobs, QueueMiddleware } from '../../src/jobs/index.js';
import type { OperableQueue } from '../../src/queuing/operations.js';
import type { Queue } from '../../src/queuing/types.js';
import type { DurableQueueOptions } from '../conformance/durable.js';
import { cliJson, runCli } from './run-cli.js';

export interface CliBroker {
  name: string;
  /** The broker's URL as the program takes it. */
  url: string;
  open<T>(name: string, options?: DurableQueueOptions): Queue<T>;
  /** Deletes every trace of the queue and of its dead-letter queue. */
  purge(name: string): Promise<void>;
  /** Sends a JSON envelope the way a producer in another language does, without sluice. */
  rawSend(queue: string, envelope: string): Promise<void>;
  /** A job store of this name on the broker, when it keeps job records. */
  jobStore?(name: string): JobStore;
  /**
   * false: another process (the program) does not see delayed messages (RabbitMQ without its
   * management API, where each process counts the delay queues it knows): the cases send none.
   */
  delayedSeen?: boolean;
  /** Held for the whole file (a lock shared with the broker's other test files); returns its release. */
  setup?(): Promise<() => unknown>;
}

export function cliScenarios(broker: CliBroker, enabled = true): void {
  // Each run of the program starts Node and tsx: seconds each on a loaded machine.
  describe.runIf(enabled)(`sluice on ${broker.name}`, { timeout: 180_000 }, () => {
    const names: string[] = [];
    const handles: Queue<unknown>[] = [];
    let release: () => unknown = () => {};
    const delayedSeen = broker.delayedSeen ?? true;

    beforeAll(async () => {
      release = (await broker.setup?.()) ?? (() => {});
    }, 250_000);
    afterAll(() => release());
    afterEach(async () => {
      await Promise.all(handles.splice(0).map((queue) => queue.close()));
      for (const name of names.splice(0)) await broker.purge(name);
    });

    const queueName = (label: string) => {
      const name = `cli-${label}-${randomUUID().slice(0, 8)}`;
      names.push(name);
      return name;
    };
    const open = <T>(name: string, options?: DurableQueueOptions) => {
      const queue = broker.open<T>(name, options) as OperableQueue<T>;
      handles.push(queue as Queue<unknown>);
      return queue;
    };
    const stats = (name: string) => cliJson(['stats', broker.url, name]);

    /** Sends `count` messages `{ n }` and nacks each for good: they become dead letters, in order. */
    async function deadLetters(name: string, count: number): Promise<void> {
      const queue = open<{ n: number }>(name, { maxAttempts: 1 });
      for (let n = 1; n <= count; n++) await queue.send({ n });
      const iterator = queue[Symbol.asyncIterator]();
      for (let i = 0; i < count; i++) {
        const { value } = await iterator.next();
        await value.nack({ error: new Error(`boom ${value.message.n}`) });
      }
      await iterator.return?.();
    }

    it('stats: counts after sends, as a table and as JSON', async () => {
      const name = queueName('stats');
      const queue = open<{ n: number }>(name);
      for (let n = 0; n < 3; n++) await queue.send({ n });
      const delayed = delayedSeen ? 1 : 0;
      if (delayedSeen) await queue.send({ n: 3 }, { delay: 600_000 });
      expect(await stats(name)).toEqual({
        queue: name,
        ready: 3,
        delayed,
        inFlight: 0,
        dead: 0,
        paused: false,
      });
      const { code, stdout, stderr } = await runCli(['stats', broker.url, name]);
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      const [header, row] = stdout.trimEnd().split('\n');
      expect(header).toMatch(/^QUEUE\s+READY\s+DELAYED\s+IN FLIGHT\s+DEAD\s+PAUSED$/);
      expect(row).toMatch(new RegExp(`^${name}\\s+3\\s+${delayed}\\s+0\\s+0\\s+no$`));
    });

    it('dead, then redrive one by id, then all of them', async () => {
      const name = queueName('dead');
      await deadLetters(name, 3);
      const letters = await cliJson<any[]>(['dead', broker.url, name]);
      expect(letters.map((letter) => letter.message)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
      for (const letter of letters) {
        expect(letter).toEqual({
          id: expect.any(String),
          message: letter.message,
          reason: expect.any(String),
          attempt: 1,
          deadAt: expect.any(Number),
        });
        expect(Math.abs(letter.deadAt - Date.now())).toBeLessThan(600_000);
      }
      const table = await runCli(['dead', broker.url, name]);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/^ID\s+ATTEMPT\s+DEAD AT\s+REASON\s+MESSAGE\n/);
      expect(table.stdout).toContain(letters[0].id);
      expect(table.stdout).toContain('{"n":2}');
      expect(table.stdout).toMatch(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/);

      const page = await cliJson<any[]>(['dead', broker.url, name, '--limit', '1', '--after', letters[0].id]);
      expect(page.map((letter) => letter.message)).toEqual([{ n: 2 }]);

      expect(await cliJson(['redrive', broker.url, name, '--id', letters[1].id])).toEqual({
        queue: name,
        redriven: 1,
      });
      const left = await cliJson<any[]>(['dead', broker.url, name]);
      expect(left.map((letter) => letter.message)).toEqual([{ n: 1 }, { n: 3 }]);
      expect(await cliJson(['redrive', broker.url, name])).toEqual({ queue: name, redriven: 2 });
      expect(await stats(name)).toMatchObject({ ready: 3, dead: 0 });
      const human = await runCli(['redrive', broker.url, name]);
      expect(human).toEqual({ code: 0, stdout: `redrove 0 dead letters to ${name}\n`, stderr: '' });
    });

    it('purge refuses without --yes (usage, exit 2) and deletes the waiting messages with it', async () => {
      const name = queueName('purge');
      const queue = open<{ n: number }>(name);
      await queue.send({ n: 1 });
      const delayed = delayedSeen ? 1 : 0;
      if (delayedSeen) await queue.send({ n: 2 }, { delay: 600_000 });
      const refused = await runCli(['purge', broker.url, name]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain('--yes');
      expect(await stats(name)).toMatchObject({ ready: 1, delayed });
      expect(await cliJson(['purge', broker.url, name, '--yes'])).toEqual({
        queue: name,
        purged: 1 + delayed,
      });
      expect(await stats(name)).toMatchObject({ ready: 0, delayed: 0 });
    });

    it('pause and resume, seen by stats', async () => {
      const name = queueName('pause');
      open(name); // the queue exists before it is paused, as in production
      const paused = await runCli(['pause', broker.url, name]);
      expect(paused).toMatchObject({ code: 0, stderr: '' });
      expect(paused.stdout).toContain(`paused ${name}`);
      expect(await stats(name)).toMatchObject({ paused: true });
      expect(await cliJson(['resume', broker.url, name])).toEqual({ queue: name, paused: false });
      expect(await stats(name)).toMatchObject({ paused: false });
    });

    it('declare: a producer without sluice can then send, and a sluice consumer gets it', async () => {
      const name = queueName('declare');
      expect(await runCli(['declare', broker.url, name])).toEqual({
        code: 0,
        stdout: `declared ${name}\n`,
        stderr: '',
      });
      await broker.rawSend(name, JSON.stringify({ id: 'foreign-1', payload: { from: 'elsewhere' } }));
      const iterator = open<{ from: string }>(name)[Symbol.asyncIterator]();
      const { value } = await iterator.next();
      expect(value.message).toEqual({ from: 'elsewhere' });
      await value.ack();
      await iterator.return?.();
    });

    it.runIf(broker.jobStore !== undefined)(
      'job: a stored job that succeeded, then one that failed',
      async () => {
        const name = queueName('jobs');
        const store = broker.jobStore!(name);
        const app = new Jobs({ store });
        app.use(new QueueMiddleware({ queue: open(name), workers: 1 }));
        const double = app.task('double', async (n: number) => n * 2);
        const fail = app.task('fail', async () => {
          throw new Error('no such order');
        });
        await app.start();
        try {
          const done = await double.push(21);
          const failed = await fail.push();
          await done.wait();
          await failed.wait();

          const record = await cliJson(['job', broker.url, done.id, '--store', name]);
          expect(record).toMatchObject({
            id: done.id,
            task: 'double',
            status: 'success',
            attempt: 1,
            result: 42,
          });
          const table = await runCli(['job', broker.url, done.id, '--store', name]);
          expect(table.code).toBe(0);
          expect(table.stdout).toMatch(/^status\s+success$/m);
          expect(table.stdout).toMatch(/^result\s+42$/m);
          expect(table.stdout).toMatch(/^ended\s+\d{4}-\d\d-\d\dT/m);

          const error = await runCli(['job', broker.url, failed.id, '--store', name]);
          expect(error.stdout).toMatch(/^status\s+failed$/m);
          expect(error.stdout).toMatch(/^error\s+Error: no such order$/m);
          expect(await cliJson(['job', broker.url, failed.id, '--store', name])).toMatchObject({
            status: 'failed',
            error: { name: 'Error', message: 'no such order' },
          });

          const missing = await runCli(['job', broker.url, 'no-such-job', '--store', name]);
          expect(missing.code).toBe(1);
          expect(missing.stderr).toMatch(/^JOB_NOT_FOUND: no job no-such-job in job store .+\n$/);
        } finally {
          await app.stop();
          await store.close();
        }
      },
    );

    it('a bad limit is a usage error (exit 2), before anything is sent', async () => {
      const { code, stderr } = await runCli(['dead', broker.url, 'any', '--limit', '5000']);
      expect(code).toBe(2);
      expect(stderr).toBe('INVALID_OPTION: invalid limit: 5000 (expected an integer from 1 to 1000)\n');
    });
  });
}
