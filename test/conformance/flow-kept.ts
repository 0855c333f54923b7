/**
 * The flow suite's cases on values and groups: invalid limits and groups are refused and send
 * nothing; a message's group is kept on its delivery, its retries, its dead letter and its redrive,
 * whatever characters it holds; a delayed message joins its group when due.
 */
import { expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import { MAX_GROUP_BYTES } from '../../src/queuing/flow-options.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import type { Delivery, SendOptions } from '../../src/queuing/types.js';
import { deferred, sleep } from '../support/async.js';
import { expectNothing, receive } from '../support/deliveries.js';
import type { FlowContext } from './flow.js';
import type { FlowMessage } from './flow-consumer.js';
import { eventually } from './flow-support.js';
import { operable, statsBecome } from './operations-support.js';

/** Characters a broker may treat specially in a key, subject or routing key, and a group of the longest size. */
const ODD_GROUP = 'tenant 42.*>/%{é}\u{1F600}';
const LONGEST_GROUP = `${'é'.repeat((MAX_GROUP_BYTES - 1) / 2)}x`;

function byNumber(deliveries: Delivery<FlowMessage>[]): Delivery<FlowMessage>[] {
  return [...deliveries].sort((a, b) => a.message.n - b.message.n);
}

export function keptCases({ queueName, open }: FlowContext): void {
  it('refuses invalid limits and groups with InvalidOptionError, and sends nothing', async () => {
    const name = queueName('invalid');
    const queue = open<FlowMessage>(name);
    const pump = new Pump(queue, () => {});
    const invalidLimits = [
      { rateLimit: { limit: 0, interval: 1_000 } },
      { rateLimit: { limit: 1, interval: -5 } },
      { rateLimit: { limit: 1.5, interval: 1_000 } },
      { groupConcurrency: 0 },
    ];
    for (const options of invalidLimits) expect(() => pump.draining(options)).toThrow(InvalidOptionError);

    const rateLimit = { limit: 5, interval: 1_000 };
    const draining = pump.draining({ rateLimit, groupConcurrency: 2 });
    try {
      expect(() => {
        draining.rateLimit = { limit: 0, interval: 1_000 };
      }).toThrow(InvalidOptionError);
      expect(() => {
        draining.groupConcurrency = 0;
      }).toThrow(InvalidOptionError);
      expect([draining.rateLimit, draining.groupConcurrency]).toEqual([rateLimit, 2]);
    } finally {
      await draining.stop();
    }

    const invalidGroups: SendOptions[] = [
      { group: 7 as never },
      { group: '' },
      { group: `${LONGEST_GROUP}x` },
      { group: 'a\u0000b' },
    ];
    for (const options of invalidGroups) {
      await expect(queue.send({ n: 0 }, options)).rejects.toBeInstanceOf(InvalidOptionError);
    }
    await queue.send({ n: 1 });
    const [delivery] = await receive(queue, 1);
    expect(delivery!.message).toEqual({ n: 1 });
    await delivery!.ack();
    await expectNothing(queue, 300);
  });

  it('keeps the group on the delivery, its retry and its dead letter', async () => {
    const name = queueName('kept');
    const queue = operable(
      open<FlowMessage>(name, { maxAttempts: 2, backoff: { type: 'fixed', delay: 50 } }),
    );
    const delayedAt = Date.now();
    await queue.send({ n: 4, group: ODD_GROUP }, { group: ODD_GROUP, delay: 200 });
    await queue.send({ n: 1, group: ODD_GROUP }, { group: ODD_GROUP });
    await queue.send({ n: 2 });
    await queue.send({ n: 3, group: LONGEST_GROUP }, { group: LONGEST_GROUP });

    const first = byNumber(await receive(queue, 4));
    expect(first.map((delivery) => delivery.group)).toEqual([ODD_GROUP, undefined, LONGEST_GROUP, ODD_GROUP]);
    expect(Date.now() - delayedAt).toBeGreaterThanOrEqual(150); // message 4 was delayed
    const [one, two, three, four] = first;
    await Promise.all([three!.ack(), four!.ack()]);
    await one!.nack({ error: new Error('again') });
    await two!.nack({ requeue: false });

    const [retry] = await receive(queue, 1);
    expect([retry!.message.n, retry!.attempt, retry!.group]).toEqual([1, 2, ODD_GROUP]);
    await retry!.nack({ error: new Error('dead') });
    const dead = byNumber(await receive(open<FlowMessage>(`${name}.dead`), 2));
    expect(dead.map((delivery) => [delivery.message.n, delivery.group])).toEqual([
      [1, ODD_GROUP],
      [2, undefined],
    ]);
    await Promise.all(dead.map((delivery) => delivery.ack()));
  });

  it('counts and redrives grouped dead letters into their group, after the dead-letter queue was consumed too', async () => {
    const name = queueName('redrive');
    const queue = operable(open<FlowMessage>(name));
    await queue.send({ n: 1, group: ODD_GROUP }, { group: ODD_GROUP });
    const [one] = await receive(queue, 1);
    await one!.nack({ requeue: false });
    // A consumer of the dead-letter queue takes a grouped letter; later letters must stay countable.
    const [letter] = await receive(open<FlowMessage>(`${name}.dead`), 1);
    expect([letter!.message.n, letter!.group]).toEqual([1, ODD_GROUP]);
    await letter!.ack();

    for (const [n, group] of [
      [2, ODD_GROUP],
      [3, undefined],
    ] as const) {
      await queue.send({ n, group }, { group });
      const [delivery] = await receive(queue, 1);
      await delivery!.nack({ requeue: false });
      await statsBecome(queue, { dead: n - 1, inFlight: 0 });
    }
    expect(await queue.redrive()).toBe(2);
    const redriven = byNumber(await receive(queue, 2));
    expect(redriven.map((delivery) => [delivery.message.n, delivery.attempt, delivery.group])).toEqual([
      [2, 1, ODD_GROUP],
      [3, 1, undefined],
    ]);
    await Promise.all(redriven.map((delivery) => delivery.ack()));
  });

  it('puts a delayed message in its group when due: it waits for its group, not for others', async () => {
    const name = queueName('delayed');
    const queue = open<FlowMessage>(name);
    const started: number[] = [];
    const release = deferred();
    const draining = new Pump(queue, async (message: FlowMessage) => {
      started.push(message.n);
      if (message.n === 1) await release.promise;
    }).draining({ concurrency: 3, groupConcurrency: 1 });
    try {
      await queue.send({ n: 1, group: 'g' }, { group: 'g' });
      await eventually(
        () => started.includes(1),
        10_000,
        () => 'message 1 started',
      );
      await queue.send({ n: 2, group: 'g' }, { group: 'g', delay: 200 });
      await queue.send({ n: 3, group: 'other' }, { group: 'other', delay: 200 });
      await eventually(
        () => started.includes(3),
        10_000,
        () => 'the delayed message of another group',
      );
      await sleep(300);
      expect(started, 'message 2 is due, but its group is at its cap').toEqual([1, 3]);
      release.resolve();
      await eventually(
        () => started.includes(2),
        10_000,
        () => 'message 2 once message 1 was done',
      );
    } finally {
      release.resolve();
      await draining.stop();
    }
  });
}
