import { fileURLToPath } from 'node:url';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerUnavailableError,
  InvalidOptionError,
  InvalidStateError,
  SerializationError,
} from '../../src/errors.js';
import {
  type JobChange,
  type JobRecord,
  Jobs,
  type NewJobRecord,
  QueueMiddleware,
  type Retention,
} from '../../src/jobs/index.js';
import { NatsJobStore, NatsTopologyError } from '../../src/transports/nats/index.js';
import { jobBuckets, keyOf } from '../../src/transports/nats/job-buckets.js';
import { encodeJobRecord } from '../../src/transports/shared/job-record.js';
import { jobStoreConformanceSuite } from '../conformance/job-store.js';
import { sleep, until, within } from '../support/async.js';
import { brokerAvailable, services } from '../support/broker.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { lockNatsServer, NATS_URL, purge, restartNats, withConnection } from './nats-harness.js';
import { queue as jobQueue } from './nats-job-store.js';

const up = await brokerAvailable('nats');

/** Deletes the buckets of the store named `namespace`, and its queue. */
async function purgeStore(namespace: string): Promise<void> {
  const { live, success, failure } = jobBuckets(namespace);
  await withConnection(async (connection) => {
    for (const bucket of [live, success, failure]) {
      await connection.jsm.streams.delete(`KV_${bucket}`).catch((error: { code?: number }) => {
        if (error?.code !== 10059) throw error; // never created
      });
    }
  });
  await purge(namespace);
}

describe.runIf(up)('NatsJobStore', () => {
  jobStoreConformanceSuite({
    name: 'NatsJobStore',
    module: fileURLToPath(new URL('./nats-job-store.ts', import.meta.url)),
    shared: true,
    setup: () => lockNatsServer(),
    restart: (whileDown) => restartNats(whileDown),
    teardown: purgeStore,
  });

  describe('on JetStream key-value buckets', () => {
    let unlock: (() => void) | undefined;
    beforeAll(async () => {
      unlock = await lockNatsServer(); // a test here restarts the server
    }, 300_000);
    afterAll(() => unlock?.());

    const names: string[] = [];
    const opened: NatsJobStore[] = [];
    afterEach(async () => {
      await Promise.allSettled(opened.splice(0).map((store) => store.close()));
      for (const name of names.splice(0)) await purgeStore(name);
    });

    function storeName(label: string): string {
      const name = `njs-${label}-${Math.random().toString(36).slice(2, 8)}`;
      names.push(name);
      return name;
    }

    function open(name: string, options: { retain?: Retention; url?: string } = {}): NatsJobStore {
      const store = new NatsJobStore({ url: NATS_URL, name, ...options });
      opened.push(store);
      return store;
    }

    function fresh(id: string, args: unknown[] = []): NewJobRecord {
      return { id, task: 'task', args, status: 'pending', createdAt: Date.now() };
    }

    /** Messages in a bucket's stream: records, and deletion markers if any were left. */
    function messagesIn(bucket: string): Promise<number> {
      return withConnection(
        async (connection) => (await connection.jsm.streams.info(`KV_${bucket}`)).state.messages,
      );
    }

    it('keys any id of up to 255 characters apart from every other: dots, wildcards, case, any script', async () => {
      const store = open(storeName('ids'));
      const ids = [
        'x'.repeat(255),
        '€'.repeat(255), // 765 UTF-8 bytes: the longest key
        '😀'.repeat(127),
        'a.b',
        'a..b',
        '*',
        '>',
        'a/b',
        ' spaced ',
        'Case',
        'case',
        'ключ',
      ];
      for (const [n, id] of ids.entries()) expect(await store.create(fresh(id, [n]))).toBeUndefined();
      for (const [n, id] of ids.entries()) {
        expect(await store.get(id)).toMatchObject({ id, args: [n], status: 'pending', version: 1 });
        expect(await store.start(id, fresh(id))).toMatchObject({ id, status: 'running', attempt: 1 });
        expect(await store.finish(id, { status: 'success', result: n })).toBe(true);
      }
      for (const [n, id] of ids.entries()) {
        expect(await store.get(id)).toMatchObject({ id, status: 'success', result: n, version: 3 });
      }
    });

    it('moves an ended record to the bucket of its outcome and leaves nothing in the live bucket', async () => {
      const name = storeName('move');
      const store = open(name);
      for (const [id, status] of [
        ['won', 'success'],
        ['lost', 'failed'],
        ['late', 'timeout'],
        ['dropped', 'cancelled'],
      ] as const) {
        await store.create(fresh(id));
        await store.start(id, fresh(id));
        await store.finish(id, { status, error: { name: 'E', message: status } });
      }
      const { live, success, failure } = jobBuckets(name);
      expect(await messagesIn(live)).toBe(0);
      expect(await messagesIn(success)).toBe(1);
      expect(await messagesIn(failure)).toBe(3);
      expect(await store.get('lost')).toMatchObject({ status: 'failed', error: { message: 'failed' } });
    });

    it('leaves expiry to the server: an outcome bucket has the max_age of its retention', async () => {
      const name = storeName('expiry');
      const store = open(name, { retain: { success: 400, failure: 60_000 } });
      await store.create(fresh('brief'));
      await store.finish('brief', { status: 'success' });
      await store.create(fresh('kept'));
      await store.finish('kept', { status: 'failed' });
      const { success, failure } = jobBuckets(name);
      await within(
        (async () => {
          while ((await messagesIn(success)) > 0) await sleep(50);
        })(),
        5_000,
      );
      expect(await store.get('brief')).toBeUndefined();
      expect(await store.get('kept')).toMatchObject({ status: 'failed' });
      expect(await messagesIn(failure)).toBe(1);
      expect(await store.create(fresh('brief'))).toBeUndefined(); // the id is free again
    });

    it("changes an existing bucket's max_age to the retention of the store opened on it", async () => {
      const name = storeName('max-age');
      await open(name, { retain: { success: 60_000, failure: 120_000 } }).get('any');
      await open(name, { retain: { success: 5_000, failure: 7_000 } }).get('any');
      const { success, failure } = jobBuckets(name);
      await withConnection(async (connection) => {
        expect((await connection.jsm.streams.info(`KV_${success}`)).config.max_age).toBe(5_000 * 1e6);
        expect((await connection.jsm.streams.info(`KV_${failure}`)).config.max_age).toBe(7_000 * 1e6);
      });
    });

    it('takes the id of a retained record: create returns it and keeps nothing of the new one', async () => {
      const name = storeName('retained');
      const store = open(name);
      await store.create(fresh('done', ['first']));
      await store.finish('done', { status: 'success', result: 'first' });
      const other = open(name);
      expect(await other.create(fresh('done', ['second']))).toMatchObject({
        args: ['first'],
        status: 'success',
        result: 'first',
      });
      expect(await messagesIn(jobBuckets(name).live)).toBe(0);
      expect(await other.start('done', fresh('done', ['second']))).toMatchObject({ status: 'success' });
      expect(await messagesIn(jobBuckets(name).live)).toBe(0);
    });

    it('moves an ended record that a writer left in the live bucket (it died before the move)', async () => {
      const name = storeName('half-moved');
      const store = open(name);
      await store.create(fresh('orphan'));
      const running = await store.start('orphan', fresh('orphan'));
      // What a finish that died between its end and the move leaves: the ended record, still live.
      const ended: JobRecord = { ...running, status: 'success', result: 7, endedAt: Date.now(), version: 3 };
      await withConnection(async (connection) => {
        const kv = await new Kvm(connection.js).open(jobBuckets(name).live);
        const entry = await kv.get(keyOf('orphan'));
        await kv.update(keyOf('orphan'), encodeJobRecord(ended), entry!.revision);
      });
      const other = open(name);
      expect(await other.get('orphan')).toMatchObject({ status: 'success', result: 7 });
      // The job's message comes back to a worker: its start finds the job ended, and moves it.
      expect(await other.start('orphan', fresh('orphan'))).toMatchObject({ status: 'success', result: 7 });
      expect(await messagesIn(jobBuckets(name).live)).toBe(0);
      expect(await messagesIn(jobBuckets(name).success)).toBe(1);
      expect(await store.get('orphan')).toMatchObject({ status: 'success', result: 7 });
    });

    it('uses buckets another client made (the nats CLI denies deletes), and refuses one that denies purges', async () => {
      const [cliMade, locked] = [storeName('cli'), storeName('deny-purge')];
      await withConnection(async (connection) => {
        for (const [name, deny] of [
          [cliMade, { deny_delete: true, allow_rollup_hdrs: true }],
          [locked, { deny_purge: true }],
        ] as const) {
          const bucket = jobBuckets(name).live;
          await connection.jsm.streams.add({
            name: `KV_${bucket}`,
            subjects: [`$KV.${bucket}.>`],
            max_msgs_per_subject: 5, // a history the store brings down to 1
            allow_direct: true,
            ...deny,
          });
        }
      });
      const store = open(cliMade);
      await store.create(fresh('cli'));
      await store.start('cli', fresh('cli'));
      expect(await store.finish('cli', { status: 'success', result: 'ok' })).toBe(true);
      expect(await messagesIn(jobBuckets(cliMade).live)).toBe(0);
      expect(await store.get('cli')).toMatchObject({ status: 'success', result: 'ok' });
      await expect(open(locked).get('any')).rejects.toBeInstanceOf(NatsTopologyError);
    });

    it('lets one of many racing ends win, from any handle', async () => {
      const name = storeName('race');
      const [a, b] = [open(name), open(name)];
      await a.create(fresh('contested'));
      await a.start('contested', fresh('contested'));
      const ends = await Promise.all(
        [a, b, a, b, a, b].map((store, n) =>
          store.finish('contested', n % 2 === 0 ? { status: 'success', result: n } : { status: 'cancelled' }),
        ),
      );
      expect(ends.filter(Boolean)).toHaveLength(1);
      const winner = ends.indexOf(true);
      const record = await b.get('contested');
      expect(record?.status).toBe(winner % 2 === 0 ? 'success' : 'cancelled');
      expect(await a.progress('contested', 'late')).toBeUndefined();
      expect((await a.get('contested'))?.progress).toBeUndefined();
    });

    it('notifies a watcher in another handle within milliseconds of a write, and ends a watch after its unsubscribe', async () => {
      const name = storeName('latency');
      const [writer, watcher] = [open(name), open(name)];
      const latencies: number[] = [];
      for (let n = 0; n < 20; n++) {
        const id = `job-${n}`;
        await writer.create(fresh(id));
        const seen: JobChange[] = [];
        const unwatch = await watcher.watch(id, (record) => seen.push(record));
        const before = performance.now();
        const finishing = writer.finish(id, { status: 'success', result: n });
        await within(
          until(() => seen.some((record) => record.status === 'success'), 1),
          2_000,
        );
        latencies.push(performance.now() - before);
        await finishing;
        unwatch();
        expect(seen.at(-1)).toMatchObject({ id, status: 'success', result: n, version: 2 });
      }
      latencies.sort((x, y) => x - y);
      console.info(
        `NatsJobStore: a finish reaches another handle's watcher in ${latencies[10]!.toFixed(1)} ms ` +
          `(median of 20; slowest ${latencies[19]!.toFixed(1)} ms)`,
      );
      expect(latencies[10]).toBeLessThan(50);
    });

    it('keeps a consumer on each of its buckets only while a job is watched (and a moment after)', async () => {
      const name = storeName('consumer');
      const store = open(name);
      const { live, success, failure } = jobBuckets(name);
      const consumers = () =>
        withConnection(async (connection) => {
          const counts: number[] = [];
          for (const bucket of [live, success, failure]) {
            let count = 0;
            for await (const _ of connection.jsm.consumers.list(`KV_${bucket}`)) count++;
            counts.push(count);
          }
          return counts;
        });
      await store.create(fresh('watched'));
      expect(await consumers()).toEqual([0, 0, 0]);
      const unwatch = await store.watch('watched', () => {});
      expect(await consumers()).toEqual([1, 1, 1]);
      unwatch();
      await within(
        (async () => {
          while ((await consumers()).some((count) => count > 0)) await sleep(100);
        })(),
        5_000,
      );
    });

    it('tells a watcher of an end whose record left the live bucket before the server pushed it', async () => {
      const name = storeName('left-early');
      const [writer, watcher] = [open(name), open(name)];
      const running = await writer.start('early', fresh('early'));
      const seen: JobChange[] = [];
      await watcher.watch('early', (record) => seen.push(record));
      // What a watcher's consumer, lagging, finds of an end: the copy, the live record already gone.
      const ended: JobRecord = { ...running, status: 'failed', endedAt: Date.now(), version: 2 };
      const { live, failure } = jobBuckets(name);
      await withConnection(async (connection) => {
        await (await new Kvm(connection.js).open(failure)).create(keyOf('early'), encodeJobRecord(ended));
        await connection.jsm.streams.purge(`KV_${live}`, { filter: `$KV.${live}.${keyOf('early')}` });
      });
      await within(
        until(() => seen.some((record) => record.status === 'failed')),
        2_000,
      );
    });

    it('ends every wait of a producer under load, its jobs run by workers of another app', async () => {
      const name = storeName('load');
      const producer = new Jobs({ store: open(name) });
      producer.use(new QueueMiddleware({ queue: jobQueue(name), workers: 0 }));
      const worker = new Jobs({ store: open(name) });
      worker.use(new QueueMiddleware({ queue: jobQueue(name), workers: 50 }));
      for (const jobs of [producer, worker]) jobs.task('noop', async () => 'done');
      await producer.start();
      await worker.start();
      try {
        const jobs = 2_000;
        const window = 500;
        let pushed = 0;
        const lanes = Array.from({ length: window }, async () => {
          while (pushed < jobs) {
            pushed++;
            const job = await producer.push('noop', []);
            await job.wait({ timeout: 20_000 });
          }
        });
        await Promise.all(lanes);
      } finally {
        await producer.stop({ graceful: false });
        await worker.stop({ graceful: false });
      }
    }, 60_000);

    it('announces a cancel to every onCancel listener, and nothing for another end', async () => {
      const name = storeName('cancels');
      const [writer, listener] = [open(name), open(name)];
      const heard: string[] = [];
      const stop = await listener.onCancel((id) => heard.push(id));
      for (const id of ['failing', 'cancelled']) await writer.create(fresh(id));
      await writer.finish('failing', { status: 'failed' });
      await writer.finish('cancelled', { status: 'cancelled' });
      expect(await writer.finish('cancelled', { status: 'cancelled' })).toBe(false);
      await within(
        until(() => heard.length > 0),
        2_000,
      );
      await sleep(100);
      expect(heard).toEqual(['cancelled']);
      stop();
      await writer.create(fresh('after'));
      await writer.finish('after', { status: 'cancelled' });
      await sleep(100);
      expect(heard).toEqual(['cancelled']);
    });

    it("refuses a record over the server's max_payload with SerializationError, and keeps the job as it was", async () => {
      const store = open(storeName('too-large'));
      await store.create(fresh('big'));
      await store.start('big', fresh('big'));
      const result = 'x'.repeat(2 * 1024 * 1024);
      await expect(store.finish('big', { status: 'success', result })).rejects.toBeInstanceOf(
        SerializationError,
      );
      await expect(store.create(fresh('bigger', [result]))).rejects.toBeInstanceOf(SerializationError);
      expect(await store.get('big')).toMatchObject({ status: 'running' });
      expect(await store.finish('big', { status: 'success', result: 'small' })).toBe(true);
    });

    it('refuses bad options at construction, and operations once closed', async () => {
      expect(() => new NatsJobStore({ name: 'ü'.repeat(40) })).toThrow(InvalidOptionError); // 240 encoded
      expect(() => new NatsJobStore({ url: ' ' })).toThrow(InvalidOptionError);
      expect(() => new NatsJobStore({ connection: {} as never })).toThrow(InvalidOptionError);
      expect(() => new NatsJobStore({ retain: { success: -1 } })).toThrow(InvalidOptionError);
      const store = open(storeName('closed'));
      await store.get('any');
      await store.close();
      await expect(store.get('any')).rejects.toBeInstanceOf(InvalidStateError);
      await expect(store.watch('any', () => {})).rejects.toBeInstanceOf(InvalidStateError);
      await expect(store.onCancel(() => {})).rejects.toBeInstanceOf(InvalidStateError);
    });

    it('uses a connection it is given, and leaves it open', async () => {
      const name = storeName('borrowed');
      const nc = await connect({ servers: NATS_URL });
      try {
        const store = new NatsJobStore({ connection: nc, name });
        await store.create(fresh('borrowed'));
        expect(await store.get('borrowed')).toMatchObject({ status: 'pending' });
        await store.close();
        expect(nc.isClosed()).toBe(false);
      } finally {
        await nc.close();
      }
    });

    it('holds a read while disconnected until the connection is back, and catches a watch up on what it missed', async () => {
      const name = storeName('cut');
      const proxy = await startTcpProxy(services.nats.port);
      try {
        const cut = open(name, { url: `nats://127.0.0.1:${proxy.port}` });
        const writer = open(name);
        await writer.create(fresh('meanwhile'));
        await writer.start('meanwhile', fresh('meanwhile'));
        const seen: JobChange[] = [];
        await cut.watch('meanwhile', (record) => seen.push(record));
        proxy.cut(1_500);
        await sleep(200); // the client sees its socket closed at once
        const reading = cut.get('meanwhile'); // sent once the connection is back
        // Ended, and moved out of the live bucket, while the watcher is away: no message tells it.
        await writer.finish('meanwhile', { status: 'success', result: 'done' });
        expect(await reading).toMatchObject({ status: 'success', result: 'done' });
        await within(
          until(() => seen.some((record) => record.status === 'success')),
          10_000,
          () => `the watcher saw ${JSON.stringify(seen)}`,
        );
      } finally {
        await Promise.allSettled(opened.splice(0).map((store) => store.close()));
        await proxy.close();
      }
    });

    it('fails a write with BrokerUnavailableError while the server stays away, and keeps a watch across its restart', async () => {
      const name = storeName('restart');
      const [watcher, writer] = [open(name), open(name)];
      await writer.create(fresh('across'));
      const seen: JobChange[] = [];
      await watcher.watch('across', (record) => seen.push(record));
      await restartNats(async () => {
        await expect(writer.create(fresh('while-down'))).rejects.toBeInstanceOf(BrokerUnavailableError);
      });
      let started: JobRecord | undefined;
      while (started === undefined) {
        started = await writer.start('across', fresh('across')).catch(() => undefined); // until reconnected
        if (started === undefined) await sleep(100);
      }
      await writer.finish('across', { status: 'success', result: 'after' });
      await within(
        until(() => seen.some((record) => record.status === 'success')),
        15_000,
        () => `the watcher saw ${JSON.stringify(seen)}`,
      );
    }, 60_000);
  });
});
