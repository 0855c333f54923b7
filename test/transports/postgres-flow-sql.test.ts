/**
 * Flow control on PostgreSQL, as the tables show it (the flow conformance suite checks the behaviour
 * every queue shares): an ungrouped queue with no limits keeps its old claim, the group column and
 * its life through dead-lettering and redrive, `claim_flow()`'s rate log and cap as a program in
 * another language sees them, and a freed group slot reaching a consumer of another handle.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FlowIterator } from '../../src/queuing/types.js';
import type { PostgresDelivery } from '../../src/transports/postgres/delivery.js';
import { sleep, within } from '../support/async.js';
import { brokerAvailable } from '../support/broker.js';
import { receive } from '../support/deliveries.js';
import { postgresQueues } from './postgres-fixture.js';
import { adminPool } from './postgres-harness.js';

const up = await brokerAvailable('postgres');

interface Numbered {
  n: number;
}

async function query<R>(text: string, values: unknown[]): Promise<R[]> {
  return (await adminPool().query(text, values)).rows as R[];
}

async function groupsOf(queue: string): Promise<(string | null)[]> {
  const rows = await query<{ grp: string | null }>(
    'SELECT grp FROM sluice.messages WHERE queue = $1 ORDER BY id',
    [queue],
  );
  return rows.map((row) => row.grp);
}

/** Rows and wait of one `claim_flow()` call, as another program would make it. */
async function claimFlow(
  queue: string,
  limit: number,
  leaseMs: number,
  rate: [number, number] | null,
  cap: number | null,
) {
  const rows = await query<{ id: string | null; body: string | null; wait_ms: number | null }>(
    'SELECT id, body, wait_ms FROM sluice.claim_flow($1, $2, $3, $4, $5, $6)',
    [queue, limit, leaseMs, rate?.[0] ?? null, rate?.[1] ?? null, cap],
  );
  const waitRow = rows.find((row) => row.id === null);
  return {
    bodies: rows.filter((row) => row.id !== null).map((row) => JSON.parse(row.body!).payload as Numbered),
    wait: waitRow?.wait_ms ?? undefined,
  };
}

describe.runIf(up)('PostgresQueue flow control in the tables', () => {
  const { queueName, open } = postgresQueues<Numbered>('sluice-pg-flow-sql');
  afterEach(async () => {
    const mine = `sluice-pg-flow-sql-%-${process.pid}-%`;
    await adminPool().query('DELETE FROM sluice.flow WHERE queue LIKE $1', [mine]);
    await adminPool().query('DELETE FROM sluice.rate_log WHERE queue LIKE $1', [mine]);
  });

  it('an ungrouped queue consumed without limits claims as before: no flow row, no rate log', async () => {
    const name = queueName('plain');
    const queue = open<Numbered>(name);
    await Promise.all([1, 2, 3].map((n) => queue.send({ n })));
    const received = await receive(queue, 3);
    await Promise.all(received.map((delivery) => delivery.ack()));
    expect(await query('SELECT queue FROM sluice.flow WHERE queue = $1', [name])).toEqual([]);
    expect(await query('SELECT queue FROM sluice.rate_log WHERE queue = $1', [name])).toEqual([]);
  });

  it('writes the group column from send, in a batch and in the caller transaction', async () => {
    const name = queueName('column');
    const queue = open<Numbered>(name);
    await Promise.all([queue.send({ n: 1 }), queue.send({ n: 2 }, { group: 'tenant-a' })]);
    const client = await adminPool().connect();
    try {
      await client.query('BEGIN');
      await queue.send({ n: 3 }, { group: 'tenant-b', client });
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    expect(await groupsOf(name)).toEqual([null, 'tenant-a', 'tenant-b']);
    const received = await receive(queue, 3);
    expect(received.map((delivery) => [delivery.message.n, delivery.group]).sort()).toEqual([
      [1, undefined],
      [2, 'tenant-a'],
      [3, 'tenant-b'],
    ]);
    await Promise.all(received.map((delivery) => delivery.ack()));
  });

  it('counts, holds and purges grouped rows; dead-lettering leaves the group, redrive restores it', async () => {
    const name = queueName('operator');
    const queue = open<Numbered>(name, { prefetch: 0 });
    await queue.send({ n: 1 }, { group: 'g1' });
    await queue.send({ n: 2 }, { group: 'g1', delay: 60_000 });
    await queue.send({ n: 3 }, { group: 'g2' });
    expect(await queue.stats()).toMatchObject({ ready: 2, delayed: 1, inFlight: 0 });

    await queue.pause();
    const iterator = queue[Symbol.asyncIterator]();
    const pending = iterator.next();
    const nothing = await Promise.race([pending, sleep(500).then(() => 'none')]);
    expect(nothing).toBe('none');
    await queue.resume();
    const first = (await within(pending, 10_000, () => 'a delivery after resume'))
      .value as PostgresDelivery<Numbered>;
    expect((await queue.stats()).inFlight).toBeGreaterThanOrEqual(1);
    await first.nack({ requeue: false });
    await iterator.return?.();
    const [dead] = await query<{ grp: string | null }>('SELECT grp FROM sluice.messages WHERE queue = $1', [
      `${name}.dead`,
    ]);
    expect(dead).toEqual({ grp: null });
    expect(await queue.redrive()).toBe(1);
    expect(await groupsOf(name)).toContain(first.group);

    expect(await queue.purge()).toBe(3);
    expect(await queue.stats()).toMatchObject({ ready: 0, delayed: 0, inFlight: 0 });
  });

  it('claim_flow: the rate log refuses more than the limit and says how long to wait', async () => {
    const name = queueName('rate');
    const queue = open<Numbered>(name);
    await Promise.all([1, 2, 3, 4].map((n) => queue.send({ n })));
    await queue.migrate();
    const first = await claimFlow(name, 3, 30_000, [2, 10_000], null);
    expect(first.bodies.map((body) => body.n)).toEqual([1, 2]);
    expect(first.wait).toBeGreaterThan(5_000);
    expect(first.wait).toBeLessThanOrEqual(10_000);
    const second = await claimFlow(name, 3, 30_000, [2, 10_000], null);
    expect(second.bodies).toEqual([]);
    expect(second.wait).toBeGreaterThan(5_000);
    const [logged] = await query<{ n: number }>(
      'SELECT sum(n)::int AS n FROM sluice.rate_log WHERE queue = $1',
      [name],
    );
    expect(logged).toEqual({ n: 2 });
  });

  it('claim_flow: round-robin over the groups, the cap counts leases until they run out', async () => {
    const name = queueName('cap');
    const queue = open<Numbered>(name);
    for (const [n, group] of [
      [1, 'a'],
      [2, 'a'],
      [3, 'a'],
      [4, 'b'],
      [5, undefined],
    ] as const) {
      await queue.send({ n }, group === undefined ? undefined : { group });
    }
    await queue.migrate();
    const first = await claimFlow(name, 10, 300, null, 1);
    expect(first.bodies.map((body) => body.n)).toEqual([1, 4, 5]);
    expect((await claimFlow(name, 10, 300, null, 1)).bodies).toEqual([]);
    // Nobody settles: the leases run out, the slots are free and the rows ready again (behind the
    // rows that were ready before the lease ended, as in any queue).
    await sleep(600);
    const again = await claimFlow(name, 10, 30_000, null, 2);
    expect(again.bodies.map((body) => body.n)).toEqual([2, 4, 5, 3]);
  });

  it('claim_flow: a round starts after the group served last and wraps around once', async () => {
    const name = queueName('wrap');
    const queue = open<Numbered>(name);
    for (const [n, group] of [
      [1, 'a'],
      [2, 'b'],
      [3, 'b'],
      [4, 'c'],
      [5, 'c'],
    ] as const) {
      await queue.send({ n }, { group });
    }
    await queue.migrate();
    const taken = async (limit: number) =>
      (await claimFlow(name, limit, 30_000, null, null)).bodies.map((body) => body.n);
    expect(await taken(1)).toEqual([1]);
    // From b on; a has nothing ready, so the round does not come back to b.
    expect(await taken(10)).toEqual([2, 4, 3, 5]);
    await queue.send({ n: 6 }, { group: 'a' });
    await queue.send({ n: 7 }, { group: 'c' });
    // c was served last: the round wraps around to a.
    expect(await taken(10)).toEqual([6, 7]);
  });

  it('an ack under a group cap wakes a consumer of another handle waiting for that group', async () => {
    const name = queueName('wake');
    const producer = open<Numbered>(name);
    await producer.send({ n: 1 }, { group: 'only' });
    await producer.send({ n: 2 }, { group: 'only' });
    const handles = [open<Numbered>(name, { prefetch: 0 }), open<Numbered>(name, { prefetch: 0 })];
    const iterators = handles.map((handle) => {
      const iterator = handle[Symbol.asyncIterator]() as FlowIterator<Numbered>;
      iterator.flow({ groupConcurrency: 1 });
      return iterator;
    });
    const first = (await within(iterators[0]!.next(), 10_000, () => 'the first delivery')).value!;
    const waiting = iterators[1]!.next();
    await sleep(300); // the second handle claimed, found the group full, and sleeps
    await first.ack();
    // The lease is 30 s and an idle consumer looks again every 5 s at most: the ack's notification
    // is what brings the second message this soon.
    const second = (await within(waiting, 4_000, () => 'the second delivery after the ack')).value!;
    expect(second.message.n).toBe(2);
    await second.ack();
    await Promise.all(iterators.map((iterator) => iterator.return?.()));
  });
});
