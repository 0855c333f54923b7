import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import type { NewJobRecord } from '../../src/jobs/store.js';
import { CONTROL_BUCKET } from '../../src/transports/nats/control.js';
import { NatsJobStore, queueNames } from '../../src/transports/nats/index.js';
import { jobBuckets } from '../../src/transports/nats/job-buckets.js';
import { encodeName, streamName, subjectPrefix } from '../../src/transports/nats/names.js';
import { operationsSuite } from '../conformance/operations.js';
import { collect, statsBecome } from '../conformance/operations-support.js';
import { sleep } from '../support/async.js';
import { brokerAvailable } from '../support/broker.js';
import { lockNatsServer, NATS_URL, natsHarness, open, purge, withConnection } from './nats-harness.js';

const up = await brokerAvailable('nats');

describe.runIf(up)('NatsQueue operations', () => {
  let unlock: (() => void) | undefined;
  beforeAll(async () => {
    unlock = await lockNatsServer(); // the other NATS test files restart the server
  }, 300_000);
  afterAll(async () => {
    // The pauses this run wrote, resumed since: their keys are left in the shared control bucket.
    await withConnection(async ({ jsm }) => {
      const stream = `KV_${CONTROL_BUCKET}`;
      const info = await jsm.streams.info(stream, { subjects_filter: '>' }).catch(() => undefined);
      for (const subject of Object.keys(info?.state.subjects ?? {})) {
        if (subject.includes(`-${process.pid}-`)) await jsm.streams.purge(stream, { filter: subject });
      }
    });
    unlock?.();
  });

  operationsSuite({ ...natsHarness, retriesCountInFlight: true });

  describe('on NATS', () => {
    const names: string[] = [];
    const closing: { close(): Promise<void> }[] = [];
    const stores: string[] = [];
    afterEach(async () => {
      await Promise.allSettled(closing.splice(0).map((handle) => handle.close()));
      await purge(...names.splice(0));
      await withConnection(async ({ jsm }) => {
        for (const store of stores.splice(0)) {
          for (const bucket of Object.values(jobBuckets(store)).slice(0, 3)) {
            await jsm.streams.delete(`KV_${bucket}`).catch(() => {});
          }
        }
      });
    }, 60_000);

    function queueName(label: string): string {
      const name = `nats-ops-${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
      names.push(name);
      return name;
    }
    function handle<T>(name: string) {
      const queue = open<T>(name, { closeTimeout: 500 });
      closing.push(queue);
      return queue;
    }

    it('a pause is seen by another handle, holds for a consumer started later, and is the bucket key', async () => {
      const name = queueName('pause');
      const operator = handle<{ n: number }>(name);
      await operator.pause();
      expect((await handle(name).stats()).paused).toBe(true);
      const entry = await withConnection(({ jsm }) =>
        jsm.streams.getMessage(`KV_${CONTROL_BUCKET}`, {
          last_by_subj: `$KV.${CONTROL_BUCKET}.${encodeName(name)}`,
        }),
      );
      expect(entry?.string()).toBe('paused');

      await operator.send({ n: 1 });
      const later = collect(handle<{ n: number }>(name));
      await sleep(1_500);
      expect(later.messages).toEqual([]);
      await statsBecome(operator, { ready: 1, inFlight: 0, paused: true });
      await operator.resume();
      await later.reach(1);
      expect(later.attempts).toEqual([1]);
      await later.stop();
    }, 30_000);

    it('a pause written by another client into the bucket stops consumers, its deletion resumes them', async () => {
      const name = queueName('foreign-pause');
      const queue = handle<{ n: number }>(name);
      const consumer = collect(handle<{ n: number }>(name));
      await queue.send({ n: 1 });
      await consumer.reach(1);
      const { Kvm } = await import('@nats-io/kv');
      await withConnection(async ({ js }) => {
        const bucket = await new Kvm(js).create(CONTROL_BUCKET, { history: 1 });
        await bucket.put(encodeName(name), 'stop');
        await sleep(1_500);
        await queue.send({ n: 2 });
        await sleep(1_000);
        expect(consumer.messages).toEqual([{ n: 1 }]);
        await bucket.delete(encodeName(name));
      });
      await consumer.reach(2);
      await consumer.stop();
    }, 30_000);

    it('a consumer stopping puts back what it fetched and never handed out, as ready at attempt 1', async () => {
      const name = queueName('put-back');
      const queue = handle<{ n: number }>(name);
      for (let n = 1; n <= 5; n++) await queue.send({ n });
      const consumer = handle<{ n: number }>(name);
      const iterator = consumer[Symbol.asyncIterator]();
      const first = (await iterator.next()).value!;
      await iterator.return?.();
      await statsBecome(queue, { ready: 4, inFlight: 1 });
      await first.ack();
      const rest = collect(handle<{ n: number }>(name));
      await rest.reach(4);
      expect(rest.attempts).toEqual([1, 1, 1, 1]);
      await rest.stop();
    }, 30_000);

    it('deadLetters names a foreign letter without an id or reason by its stream and sequence', async () => {
      const name = queueName('foreign-letter');
      const queue = handle<unknown>(name);
      await withConnection(async ({ js }, topology) => {
        await topology.ensureConsumer(`${name}.dead`, 'p0');
        await js.publish(`${subjectPrefix(`${name}.dead`)}p0`, 'not an envelope');
      });
      const [letter] = await queue.deadLetters();
      expect(letter).toMatchObject({
        id: `${streamName(`${name}.dead`)}:1`,
        message: 'not an envelope',
        reason: '',
        attempt: 1,
      });
      expect(await queue.redrive({ ids: [letter!.id] })).toBe(1);
      expect((await queue.stats()).dead).toBe(0);
    });

    it('declare creates both streams with p0 and delayed, sending nothing; queueNames lists them', async () => {
      const name = queueName('declare é.x');
      const queue = handle<unknown>(name);
      await queue.declare();
      await withConnection(async ({ jsm }) => {
        for (const stream of [streamName(name), streamName(`${name}.dead`)]) {
          expect((await jsm.streams.info(stream)).state.messages).toBe(0);
          const consumers: string[] = [];
          for await (const info of jsm.consumers.list(stream)) consumers.push(info.name);
          expect(consumers.sort()).toEqual(['delayed', 'p0']);
        }
      });
      const listed = await queueNames({ url: NATS_URL });
      expect(listed).toContain(name);
      expect(listed).toContain(`${name}.dead`);
    });

    it('recentFailures reads the failure bucket, most recently ended first', async () => {
      const storeName = `ops-failures-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
      stores.push(storeName);
      const store = new NatsJobStore({ url: NATS_URL, name: storeName });
      closing.push(store);
      const fresh = (id: string): NewJobRecord => ({
        id,
        task: 'task',
        args: [],
        status: 'pending',
        createdAt: Date.now(),
      });
      expect(await store.recentFailures()).toEqual([]);
      const ends = ['failed', 'success', 'timeout', 'cancelled', 'failed'] as const;
      for (const [n, status] of ends.entries()) {
        await store.create(fresh(`job-${n}`));
        await store.finish(`job-${n}`, { status, error: { name: 'E', message: status } });
        await sleep(5); // distinct end times
      }
      const failures = await store.recentFailures();
      expect(failures.map((record) => [record.id, record.status])).toEqual([
        ['job-4', 'failed'],
        ['job-3', 'cancelled'],
        ['job-2', 'timeout'],
        ['job-0', 'failed'],
      ]);
      expect((await store.recentFailures({ limit: 2 })).map((record) => record.id)).toEqual([
        'job-4',
        'job-3',
      ]);
      for (const limit of [0, 1_001, 1.5]) {
        await expect(store.recentFailures({ limit })).rejects.toBeInstanceOf(InvalidOptionError);
      }
    });
  });
});
