import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import {
  BrokerUnavailableError,
  DeliverySettledError,
  InvalidOptionError,
  MessageTooLargeError,
  SerializationError,
} from '../../src/errors.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import type { Delivery } from '../../src/queuing/types.js';
import { SqliteQueue, type SqliteQueueOptions } from '../../src/transports/sqlite/index.js';
import { deferred, sleep, within } from '../support/async.js';
import { receive } from '../support/deliveries.js';
import { sqliteFiles } from './sqlite-fixture.js';

const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));
const entry = pathToFileURL(
  fileURLToPath(new URL('../../src/transports/sqlite/index.ts', import.meta.url)),
).href;

interface Numbered {
  n: number;
}

const { children, tempDb, open } = sqliteFiles('sqlite');

/** True if `queue` hands out nothing within `ms`. */
async function quiet<T>(queue: SqliteQueue<T>, ms: number): Promise<boolean> {
  const iterator = queue[Symbol.asyncIterator]();
  const result = await Promise.race([iterator.next(), sleep(ms).then(() => undefined)]);
  await iterator.return?.();
  if (result !== undefined && !result.done) await result.value.nack({ requeue: true });
  return result === undefined || result.done === true;
}

function rows(path: string, queue: string): { body: string; reason: string | null; attempt: number }[] {
  const db = new Database(path, { readonly: true });
  try {
    return db
      .prepare('SELECT body, reason, attempt FROM sluice_messages WHERE queue = ? ORDER BY id')
      .all(queue) as {
      body: string;
      reason: string | null;
      attempt: number;
    }[];
  } finally {
    db.close();
  }
}

describe('SqliteQueue', () => {
  it('stores the documented envelope and accepts rows written by a foreign producer', async () => {
    const path = tempDb();
    const queue = open<{ type: string; payload: unknown }>('orders', { path });
    await queue.send({ type: 'orders.place', payload: { sku: 'a' } });
    const [stored] = rows(path, 'orders');
    expect(JSON.parse(stored!.body)).toEqual({
      id: expect.stringMatching(/^[\w-]{17,}$/),
      type: 'orders.place',
      payload: { type: 'orders.place', payload: { sku: 'a' } },
    });
    const [delivery] = await receive(queue);
    expect(delivery!.id).toBe(JSON.parse(stored!.body).id);
    await delivery!.ack();
    expect(rows(path, 'orders')).toEqual([]);

    const foreign = new Database(path);
    const envelope = { id: 'from-python', type: null, attempt: 1, headers: {}, payload: { n: 1 } };
    foreign
      .prepare('INSERT INTO sluice_messages (queue, body) VALUES (?, ?)')
      .run('orders', JSON.stringify(envelope));
    foreign.close();
    const [fromForeign] = await receive(queue);
    expect([fromForeign!.id, fromForeign!.message, fromForeign!.attempt]).toEqual([
      'from-python',
      { n: 1 },
      1,
    ]);
    await fromForeign!.ack();
  });

  it('keeps several queues apart in one file', async () => {
    const path = tempDb();
    const a = open<Numbered>('a', { path });
    const b = open<Numbered>('b', { path });
    await a.send({ n: 1 });
    await b.send({ n: 2 });
    const [fromB] = await receive(b);
    expect(fromB!.message).toEqual({ n: 2 });
    await fromB!.ack();
    expect(await quiet(b, 100)).toBe(true);
    const [fromA] = await receive(a);
    expect(fromA!.message).toEqual({ n: 1 });
    await fromA!.ack();
  });

  it('accepts a send whose key is held without storing a second copy, and frees the key on ack', async () => {
    const path = tempDb();
    const queue = open<Numbered>('dedup', { path });
    await queue.send({ n: 1 }, { key: 'k' });
    await queue.send({ n: 2 }, { key: 'k' });
    await queue.send({ n: 3 }, { key: 'other' });
    const held = await receive(queue, 2);
    expect(held.map((d) => d.message.n)).toEqual([1, 3]);
    await queue.send({ n: 4 }, { key: 'k' }); // still held by a delivery being processed
    await Promise.all(held.map((d) => d.ack()));
    await queue.send({ n: 5 }, { key: 'k' });
    const [again] = await receive(queue);
    expect(again!.message).toEqual({ n: 5 });
    await again!.ack();
  });

  it('dead-letters into the configured queue, keeping the reason readable on the dead delivery', async () => {
    const path = tempDb();
    const queue = open<Numbered>('work', { path, maxAttempts: 1, deadLetter: 'failures' });
    await queue.send({ n: 1 });
    await queue.send({ n: 2 });
    const [first, second] = await receive(queue, 2);
    await first!.nack({ error: new Error('card declined') });
    await second!.nack({ requeue: false });
    await queue.send({ n: 3 }, { key: 'k' });
    const [third] = await receive(queue);
    await third!.nack({ error: 'plain string' });
    await queue.send({ n: 4 }, { key: 'k' }); // dead-lettering freed the key

    const dead = open<Numbered>('failures', { path });
    const deadLetters = await receive(dead, 3);
    expect(deadLetters.map((d) => [d.message.n, d.deadLetterReason, d.attempt])).toEqual([
      [1, 'failed 1 of 1 attempts: card declined', 1],
      [2, 'rejected', 1],
      [3, 'failed 1 of 1 attempts: plain string', 1],
    ]);
    await Promise.all(deadLetters.map((d) => d.ack()));
    const [fourth] = await receive(queue);
    expect(fourth!.message).toEqual({ n: 4 });
    await fourth!.ack();
  });

  it('checks an asynchronous Standard Schema before handing a message out', async () => {
    const path = tempDb();
    const positive: StandardSchemaV1<unknown, Numbered> = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: async (value) =>
          (value as Numbered).n > 0
            ? { value: value as Numbered }
            : { issues: [{ message: 'must be positive', path: ['n'] }] },
      },
    };
    const queue = open<Numbered>('checked', { path, schema: positive });
    await queue.send({ n: -1 });
    await queue.send({ n: 1 });
    const [delivery] = await receive(queue);
    expect(delivery!.message).toEqual({ n: 1 });
    await delivery!.ack();
    const dead = open<Numbered>('checked.dead', { path });
    const [deadLetter] = await receive(dead);
    expect([deadLetter!.message, deadLetter!.deadLetterReason]).toEqual([
      { n: -1 },
      'invalid message: ValidationError: n: must be positive',
    ]);
    await deadLetter!.ack();
  });

  it('wakes consumers in this process on send, without waiting for a poll', async () => {
    const path = tempDb();
    const consumer = open<Numbered>('wake', { path, pollInterval: 60_000 });
    const producer = open<Numbered>('wake', { path, pollInterval: 60_000 });
    const iterator = consumer[Symbol.asyncIterator]();
    const pending = iterator.next();
    await sleep(20); // the consumer found nothing and went to sleep for a minute
    await producer.send({ n: 1 });
    const next = await within(pending, 5_000);
    expect(next.value?.message).toEqual({ n: 1 });
    await next.value!.ack();
    await iterator.return?.();
  });

  it('gives back prefetched messages nobody took, without counting an attempt', async () => {
    const path = tempDb();
    const first = open<Numbered>('prefetch', { path });
    await first.send({ n: 1 });
    await first.send({ n: 2 });
    const iterator = first[Symbol.asyncIterator]();
    const one = await within(iterator.next(), 5_000);
    await one.value!.ack(); // prefetches the next message for this loop, which never asks for it
    const second = open<Numbered>('prefetch', { path });
    const [two] = await receive(second);
    expect([two!.message, two!.attempt]).toEqual([{ n: 2 }, 1]);
    await two!.ack();
    await iterator.return?.();
  });

  it('ignores a late settlement from a delivery whose lease ended and was claimed again', async () => {
    const path = tempDb();
    const queue = open<Numbered>('lease', { path, visibilityTimeout: 100 });
    await queue.send({ n: 1 });
    const [stale] = await receive(queue);
    const [fresh] = await receive(queue); // the lease ended: claimed again
    expect([stale!.attempt, fresh!.attempt]).toEqual([1, 2]);
    await stale!.ack(); // changes nothing: the message belongs to the second claim now
    await fresh!.nack({ requeue: true });
    const [third] = await receive(queue);
    expect([third!.message, third!.attempt]).toEqual([{ n: 1 }, 3]);
    await third!.ack();
  });

  it('dead-letters a message whose last attempt was never settled (its lease ran out), freeing its key', async () => {
    const path = tempDb();
    const options = { path, maxAttempts: 2, visibilityTimeout: 100, closeTimeout: 50 };
    const queue = open<Numbered>('unsettled', options);
    await queue.send({ n: 1 }, { key: 'k' });
    const [first] = await receive(queue); // held, never settled
    const [second] = await receive(queue); // its lease ran out: claimed again, and never settled
    expect([first!.attempt, second!.attempt]).toEqual([1, 2]);
    await expectDeadLetteredUnsettled(queue, open<Numbered>('unsettled.dead', { path }), first!.id, 2);
    expect([rows(path, 'unsettled'), rows(path, 'unsettled.dead')]).toEqual([[], []]);
  });

  it('still redelivers past maxAttempts what nack({ requeue: true }) put back, at once or after a delay', async () => {
    const path = tempDb();
    const queue = open<Numbered>('requeue', { path, maxAttempts: 1 });
    await queue.send({ n: 1 }, { key: 'k' });
    const [first] = await receive(queue);
    await first!.nack({ requeue: true });
    const [second] = await receive(queue);
    await second!.nack({ requeue: true, delay: 30 }); // a row whose delay ends is not a lapsed lease
    const [third] = await receive(queue);
    expect([first!.attempt, second!.attempt, third!.attempt, third!.message]).toEqual([1, 2, 3, { n: 1 }]);
    await third!.ack();
    expect(rows(path, 'requeue.dead')).toEqual([]);
  });

  it('gives back deliveries still unsettled after closeTimeout; settling them later is refused', async () => {
    const path = tempDb();
    const queue = open<Numbered>('close', { path, closeTimeout: 50 });
    await queue.send({ n: 1 });
    const [held] = await receive(queue);
    await queue.close();
    await expect(held!.ack()).rejects.toBeInstanceOf(DeliverySettledError);
    const reopened = open<Numbered>('close', { path });
    const [again] = await receive(reopened);
    expect([again!.message, again!.attempt]).toEqual([{ n: 1 }, 2]);
    await again!.ack();
  });

  it('drains through a Pump and leaves the table empty', async () => {
    const path = tempDb();
    const queue = open<Numbered>('pump', { path });
    const total = 500;
    await Promise.all(Array.from({ length: total }, (_, n) => queue.send({ n })));
    const seen = new Set<number>();
    const allSeen = deferred();
    const draining = new Pump(queue, (message: Numbered) => {
      seen.add(message.n);
      if (seen.size === total) allSeen.resolve();
    }).draining({ concurrency: 8 });
    await within(allSeen.promise, 10_000);
    await draining.stop();
    await queue.close();
    expect(seen.size).toBe(total);
    expect(rows(path, 'pump')).toEqual([]);
  });

  it('rejects bad options and unserialisable messages at the boundary', async () => {
    const path = tempDb();
    const bad: [string, Partial<SqliteQueueOptions<unknown>>][] = [
      ['path', { path: '' }],
      ['maxAttempts', { path, maxAttempts: 0 }],
      ['visibilityTimeout', { path, visibilityTimeout: 0 }],
      ['pollInterval', { path, pollInterval: Number.NaN }],
      ['closeTimeout', { path, closeTimeout: -1 }],
      ['deadLetter', { path, deadLetter: 'same' }],
      ['schema', { path, schema: 42 as never }],
      ['maxMessageSize', { path, maxMessageSize: 0 }],
    ];
    for (const [option, options] of bad) {
      expect(() => new SqliteQueue('same', options as SqliteQueueOptions<unknown>)).toThrow(
        InvalidOptionError,
      );
      expect(() => new SqliteQueue('same', options as SqliteQueueOptions<unknown>)).toThrow(option);
    }
    expect(() => new SqliteQueue('', { path })).toThrow(InvalidOptionError);
    const unopenable = () => new SqliteQueue('x', { path: join(tempDb(), 'no', 'such', 'dir.db') });
    expect(unopenable).toThrow(BrokerUnavailableError);
    expect(unopenable).toThrow('SQLite is unavailable: opening');

    const queue = open<unknown>('serialise', { path });
    await expect(queue.send({ big: 1n })).rejects.toBeInstanceOf(SerializationError);
    await expect(queue.send(undefined)).rejects.toBeInstanceOf(SerializationError);
    await expect(queue.send({ n: 1 }, { key: '' })).rejects.toBeInstanceOf(InvalidOptionError);
    expect(rows(path, 'serialise')).toEqual([]);
  });

  it('refuses, naming the path, a message that would not arrive equal to what was sent', async () => {
    const path = tempDb();
    const queue = open<unknown>('strict', { path });
    const refused: [unknown, string][] = [
      [{ x: Number.NaN }, 'message.x is NaN'],
      [{ order: { at: new Date(0) } }, 'message.order.at is an instance of Date'],
      [{ lines: [1, undefined] }, 'message.lines[1] is undefined'],
      [{ tags: new Map() }, 'message.tags is an instance of Map'],
    ];
    for (const [message, problem] of refused) {
      const sent = queue.send(message);
      await expect(sent).rejects.toBeInstanceOf(SerializationError);
      await expect(sent).rejects.toThrow(problem);
    }
    expect(rows(path, 'strict')).toEqual([]);
  });

  it('refuses a message over maxMessageSize at send, storing nothing; a smaller one is stored', async () => {
    const path = tempDb();
    const queue = open<{ text: string }>('sized', { path, maxMessageSize: 200 });
    const sent = queue.send({ text: 'é'.repeat(100) }); // 200 bytes of text alone in UTF-8
    await expect(sent).rejects.toBeInstanceOf(MessageTooLargeError);
    await expect(sent).rejects.toMatchObject({ code: 'MESSAGE_TOO_LARGE', limit: 200 });
    expect(rows(path, 'sized')).toEqual([]);

    await queue.send({ text: 'x'.repeat(100) });
    const [stored] = rows(path, 'sized');
    expect(JSON.parse(stored!.body).payload).toEqual({ text: 'x'.repeat(100) });
  });
});

describe('SqliteQueue across processes', () => {
  /** A process on the same file that runs `code` (ESM, with `SqliteQueue` and `path` in scope). */
  function spawnProcess(path: string, code: string): AsyncIterator<string> {
    const program = `import { SqliteQueue } from ${JSON.stringify(entry)};\nconst path = ${JSON.stringify(path)};\n${code}`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program], {
      cwd: repositoryRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    return createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  }

  it('hands each message to exactly one of several processes sharing the file', async () => {
    const path = tempDb();
    const total = 600;
    const consumerCode = `
      const queue = new SqliteQueue('shared', { path, pollInterval: 20 });
      console.log('ready');
      for await (const delivery of queue) {
        console.log(JSON.stringify({ n: delivery.message.n, attempt: delivery.attempt }));
        await new Promise((resolve) => setTimeout(resolve, 1));
        await delivery.ack();
      }`;
    const outputs = [spawnProcess(path, consumerCode), spawnProcess(path, consumerCode)];
    for (const output of outputs) expect((await within(output.next(), 20_000)).value).toBe('ready');

    const counts = new Uint8Array(total);
    const perConsumer = [0, 0, 0];
    let received = 0;
    const allReceived = deferred();
    const count = (consumer: number, n: number, attempt: number) => {
      if (attempt !== 1) allReceived.reject(new Error(`message ${n} delivered again (attempt ${attempt})`));
      counts[n]!++;
      perConsumer[consumer]!++;
      if (++received === total) allReceived.resolve();
    };
    outputs.forEach(async (output, index) => {
      for (let line = await output.next(); !line.done; line = await output.next()) {
        const { n, attempt } = JSON.parse(line.value) as { n: number; attempt: number };
        count(index, n, attempt);
      }
    });
    const queue = open<Numbered>('shared', { path });
    const consuming = (async () => {
      for await (const delivery of queue) {
        count(2, delivery.message.n, delivery.attempt);
        await sleep(1);
        await delivery.ack();
      }
    })();
    await Promise.all(Array.from({ length: total }, (_, n) => queue.send({ n })));

    await within(allReceived.promise, 30_000);
    await queue.close();
    await consuming;
    expect(counts.every((c) => c === 1)).toBe(true);
    expect(perConsumer.every((c) => c > 0)).toBe(true);
  }, 60_000);

  it('dead-letters a message whose consumer process was killed during its last attempt, freeing its key', async () => {
    const path = tempDb();
    const output = spawnProcess(
      path,
      `const queue = new SqliteQueue('crash', { path, visibilityTimeout: 300 });
       for await (const delivery of queue) console.log(JSON.stringify([delivery.id, delivery.attempt]));`,
    );
    const queue = open<Numbered>('crash', { path, maxAttempts: 1 });
    await queue.send({ n: 1 }, { key: 'k' });
    const [id, attempt] = JSON.parse((await within(output.next(), 20_000)).value as string);
    expect(attempt).toBe(1);
    children.at(-1)!.kill('SIGKILL'); // mid-message: it never settles

    await expectDeadLetteredUnsettled(queue, open<Numbered>('crash.dead', { path }), id, 1);
  }, 30_000);

  it('delivers what another process sends within the poll interval', async () => {
    const path = tempDb();
    const queue = open<Numbered>('remote', { path, pollInterval: 20 });
    const pending = queue[Symbol.asyncIterator]().next();
    const output = spawnProcess(
      path,
      `const queue = new SqliteQueue('remote', { path });
       await queue.send({ n: 42 }, { delay: 50 });
       await queue.close();
       console.log('sent');`,
    );
    expect((await within(output.next(), 20_000)).value).toBe('sent');
    const next = await within(pending, 5_000);
    expect(next.value?.message).toEqual({ n: 42 });
    await (next.value as Delivery<Numbered>).ack();
  }, 30_000);
});

/**
 * `queue` held message `{ n: 1 }` (key 'k') whose last of `attempts` was never settled: the next claim
 * dead-letters it with the not-settled reason and its id, and its key is free again.
 */
async function expectDeadLetteredUnsettled(
  queue: SqliteQueue<Numbered>,
  deadLetters: SqliteQueue<Numbered>,
  id: string,
  attempts: number,
): Promise<void> {
  const iterator = queue[Symbol.asyncIterator]();
  const pending = iterator.next(); // once the last lease ran out: claims it, and dead-letters it instead
  const [dead] = await receive(deadLetters);
  expect([dead!.message, dead!.id, dead!.deadLetterReason]).toEqual([
    { n: 1 },
    id,
    `failed ${attempts} of ${attempts} attempts: not settled: its consumer stopped or its lease ran out`,
  ]);
  await dead!.ack();
  await queue.send({ n: 2 }, { key: 'k' }); // the key is free: stored
  const next = await within(pending, 5_000);
  expect([next.value!.message, next.value!.attempt]).toEqual([{ n: 2 }, 1]);
  await next.value!.ack();
  await iterator.return?.();
}
