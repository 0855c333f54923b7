/**
 * The shared flow-control state of NatsQueue (flow-store.ts): the rate limit's sliding-window log
 * and the group slots, written by compare-and-set in the `sluice-flow` key-value bucket.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Connection } from '../../src/transports/nats/connection.js';
import { FlowStore } from '../../src/transports/nats/flow-store.js';
import { GroupSlots } from '../../src/transports/nats/group-slots.js';
import { RateWindow, takeFromLog } from '../../src/transports/nats/rate-window.js';
import { brokerAvailable } from '../support/broker.js';
import { NATS_URL } from './nats-harness.js';

const up = await brokerAvailable('nats');

describe('the sliding-window log', () => {
  const limit = { limit: 10, interval: 1_000 };

  it('grants what the window has room for, and says when the entry that makes room leaves', () => {
    const first = takeFromLog([], 6, limit, 0);
    expect(first.granted).toBe(6);
    const second = takeFromLog(first.log, 6, limit, 400);
    expect(second.granted).toBe(4);
    const full = takeFromLog(second.log, 1, limit, 900);
    expect(full).toMatchObject({ granted: 0, wait: 100 }); // the entry of 6 at 0 leaves at 1000
    expect(takeFromLog(second.log, 6, limit, 1_000).granted).toBe(6);
  });

  it('is a window, not a bucket: no more than the limit across any interval', () => {
    let log = takeFromLog([], 10, limit, 990).log;
    expect(takeFromLog(log, 10, limit, 1_010).granted).toBe(0);
    log = takeFromLog(log, 10, limit, 1_990).log;
    expect(takeFromLog(log, 1, limit, 1_995).granted).toBe(0);
  });

  it('waits for enough entries to leave when the limit was lowered below what the window holds', () => {
    const log = takeFromLog(takeFromLog([], 8, limit, 0).log, 2, limit, 500).log;
    expect(takeFromLog(log, 1, { limit: 5, interval: 1_000 }, 600)).toMatchObject({ granted: 0, wait: 400 });
  });

  it('merges old entries into later ones, which only keeps them in the window longer', () => {
    let log: [number, number][] = [];
    for (let t = 0; t < 400; t++) log = takeFromLog(log, 1, { limit: 1_000, interval: 10_000 }, t).log;
    expect(log.length).toBeLessThanOrEqual(256);
    expect(log.reduce((sum, [, count]) => sum + count, 0)).toBe(400);
    expect(log[0]![0]).toBeGreaterThan(0);
  });
});

describe.runIf(up)('the shared state on JetStream', () => {
  const connections: Connection[] = [];
  async function store(): Promise<FlowStore> {
    const connection = await Connection.open('the flow state test', NATS_URL, undefined);
    connections.push(connection);
    return new FlowStore(connection);
  }
  const prefix = `nats-flow-state-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  afterAll(async () => {
    const connection = connections[0];
    if (connection !== undefined) {
      const { Kvm } = await import('@nats-io/kv');
      const bucket = await new Kvm(connection.js).open('sluice-flow');
      await bucket.purge(`${prefix}.>`).catch(() => {});
    }
    await Promise.all(connections.map((c) => c.close()));
  });

  it('never grants more than the limit to writers racing on one key', async () => {
    const windows = await Promise.all(
      [1, 2, 3].map(async () => new RateWindow(await store(), `${prefix}.rate`)),
    );
    const taken = await Promise.all(
      windows.flatMap((window) => [1, 2, 3].map(() => window.take(4, { limit: 10, interval: 60_000 }))),
    );
    expect(taken.reduce((sum, { granted }) => sum + granted, 0)).toBe(10);
    expect(taken.filter(({ granted }) => granted === 0).every(({ wait }) => wait > 59_000)).toBe(true);
  });

  it('caps a group across holders, and a holder that stops renewing loses its slots after its lease', async () => {
    const key = `${prefix}.slots.g`;
    const crashed = new GroupSlots(await store(), 1_000);
    const other = new GroupSlots(await store(), 1_000);
    expect(await crashed.acquire(key, 3, 2)).toBe(2);
    expect(await other.acquire(key, 1, 2)).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(await other.acquire(key, 3, 2)).toBe(2);
    await other.release(key, 1);
    expect(other.held(key)).toBe(1);
    expect(await crashed.acquire(key, 1, 2)).toBe(1);
  });
});
