/**
 * NatsQueue's groups on JetStream (docs/wire-protocol.md, NATS, flow control): where grouped
 * messages are stored, the round-robin of hand-outs, priorities within a group, and the operator
 * face (stats, purge, redrive) on grouped messages. The cross-process limits are the conformance
 * suite's (nats-flow.test.ts).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { NatsQueue } from '../../src/transports/nats/index.js';
import {
  encodeName,
  groupKey,
  groupToken,
  parseGroupToken,
  subjectPrefix,
} from '../../src/transports/nats/names.js';
import { brokerAvailable } from '../support/broker.js';
import { open, purge, withConnection } from './nats-harness.js';

const up = await brokerAvailable('nats');

/** Takes `count` deliveries off `queue`'s iterator, acking each; returns their messages. */
async function take<T>(queue: NatsQueue<T>, count: number, settle = true): Promise<T[]> {
  const iterator = queue[Symbol.asyncIterator]();
  const taken: T[] = [];
  while (taken.length < count) {
    const { value, done } = await iterator.next();
    if (done) break;
    taken.push(value.message);
    if (settle) await value.ack();
  }
  await iterator.return?.();
  return taken;
}

describe('group tokens', () => {
  it('writes any group as one subject token, distinct for distinct groups', () => {
    const groups = ['tenant-42', 'a.b c', 'ü/>*', 'x'.repeat(32), 'x'.repeat(33), 'y'.repeat(255)];
    const keys = groups.map(groupKey);
    expect(new Set(keys).size).toBe(groups.length);
    for (const key of keys) expect(key).toMatch(/^[gh][A-Za-z0-9_-]+$/);
    expect(keys[3]!.startsWith('g')).toBe(true);
    expect(keys[4]!.startsWith('h')).toBe(true);
    expect(parseGroupToken(groupToken(5, 'a.b c'))).toEqual({
      band: 'p5',
      priority: 5,
      key: groupKey('a.b c'),
    });
    expect(parseGroupToken('p0')).toBeUndefined();
    expect(parseGroupToken('p42_gAA')).toBeUndefined();
    expect(parseGroupToken('delayed')).toBeUndefined();
  });
});

describe.runIf(up)('NatsQueue groups', () => {
  const names: string[] = [];
  const queues: NatsQueue<unknown>[] = [];
  function queue<T>(label: string, options = {}): NatsQueue<T> {
    const name = `nats-flow-${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    names.push(name);
    const made = open<T>(name, { closeTimeout: 500, ...options });
    queues.push(made as NatsQueue<unknown>);
    return made;
  }
  function handle<T>(of: NatsQueue<T>, options = {}): NatsQueue<T> {
    const made = open<T>(of.name, { closeTimeout: 500, ...options });
    queues.push(made as NatsQueue<unknown>);
    return made;
  }
  afterEach(async () => {
    await Promise.all(queues.splice(0).map((q) => q.close()));
  });
  afterAll(async () => {
    await purge(...names);
  });

  it('stores a grouped message on its group band subject and hands it out with its group', async () => {
    const producer = queue<string>('subject');
    await producer.send('grouped', { group: 'tenant.1 x' });
    await producer.send('plain');
    const subjects = await withConnection(async (connection) => {
      const info = await connection.jsm.streams.info(producer.stream, { subjects_filter: '>' });
      return Object.keys(info.state.subjects ?? {}).sort();
    });
    const prefix = subjectPrefix(producer.name);
    expect(subjects).toEqual([`${prefix}p0`, `${prefix}${groupToken(0, 'tenant.1 x')}`].sort());
    const iterator = handle(producer)[Symbol.asyncIterator]();
    const seen = new Map<string, string | undefined>();
    for (let i = 0; i < 2; i++) {
      const { value } = await iterator.next();
      seen.set(value.message, value.group);
      await value.ack();
    }
    await iterator.return?.();
    expect(seen).toEqual(
      new Map([
        ['grouped', 'tenant.1 x'],
        ['plain', undefined],
      ]),
    );
  });

  it('hands out round-robin across groups whatever their backlog', async () => {
    const producer = queue<string>('round');
    for (let i = 0; i < 30; i++) await producer.send(`big-${i}`, { group: 'big' });
    for (let i = 0; i < 3; i++) await producer.send(`small-${i}`, { group: 'small' });
    await producer.send('plain-0');
    const taken = await take(handle(producer), 34);
    const firstSmall = taken.findIndex((m) => m.startsWith('small'));
    const lastSmall = taken.findLastIndex((m) => m.startsWith('small'));
    // Three groups with ready messages: each small one comes within a round or two of the last.
    expect(firstSmall).toBeLessThan(6);
    expect(lastSmall).toBeLessThan(12);
    expect(taken.indexOf('plain-0')).toBeLessThan(6);
    expect(taken.filter((m) => m.startsWith('big'))).toEqual(
      Array.from({ length: 30 }, (_, i) => `big-${i}`),
    );
  });

  it('reads and writes no shared state while no limit applies, grouped or not', async () => {
    const producer = queue<string>('unlimited');
    await producer.send('a', { group: 'g' });
    await producer.send('b');
    expect((await take(handle(producer), 2)).sort()).toEqual(['a', 'b']);
    const keys = await withConnection(async (connection) => {
      try {
        const filter = `$KV.sluice-flow.${encodeName(producer.name)}.>`;
        const info = await connection.jsm.streams.info('KV_sluice-flow', { subjects_filter: filter });
        return Object.keys(info.state.subjects ?? {});
      } catch {
        return []; // no bucket: nothing was ever limited on this server
      }
    });
    expect(keys).toEqual([]);
  });

  it('hands out the higher priority first within a group', async () => {
    const producer = queue<string>('priority');
    await producer.send('low-1', { group: 'g', priority: 0 });
    await producer.send('low-2', { group: 'g', priority: 0 });
    await producer.send('high', { group: 'g', priority: 5 });
    expect(await take(handle(producer), 3)).toEqual(['high', 'low-1', 'low-2']);
  });

  it('moves a delayed grouped message into its group when due', async () => {
    const producer = queue<string>('delayed');
    await producer.send('later', { group: 'g', delay: 300 });
    const iterator = handle(producer)[Symbol.asyncIterator]();
    const { value } = await iterator.next();
    expect([value.message, value.group]).toEqual(['later', 'g']);
    await value.ack();
    await iterator.return?.();
  });

  it('counts, purges and redrives grouped messages in their group', async () => {
    const producer = queue<string>('operate', { maxAttempts: 1 });
    await producer.send('a', { group: 'one' });
    await producer.send('b', { group: 'two', priority: 3 });
    await producer.send('c');
    expect(await producer.stats()).toMatchObject({ ready: 3, inFlight: 0 });
    expect(await producer.purge()).toBe(3);
    expect(await producer.stats()).toMatchObject({ ready: 0 });

    await producer.send('doomed', { group: 'one' });
    const consumer = handle(producer, { maxAttempts: 1 });
    const iterator = consumer[Symbol.asyncIterator]();
    const { value } = await iterator.next();
    await value.nack();
    await iterator.return?.();
    await expect.poll(async () => (await producer.stats()).dead).toBe(1);
    expect((await producer.deadLetters())[0]).toMatchObject({ message: 'doomed' });
    expect(await producer.redrive()).toBe(1);
    const redriven = await withConnection(async (connection) => {
      const info = await connection.jsm.streams.info(producer.stream, { subjects_filter: '>' });
      return Object.keys(info.state.subjects ?? {});
    });
    expect(redriven).toEqual([`${subjectPrefix(producer.name)}${groupToken(0, 'one')}`]);
    const again = handle(producer)[Symbol.asyncIterator]();
    const back = (await again.next()).value;
    expect([back.message, back.group, back.attempt]).toEqual(['doomed', 'one', 1]);
    await back.ack();
    await again.return?.();
  });
});
