/**
 * The flow suite's fairness cases: a group's backlog delays another group's message by at most one
 * round of the groups with ready messages, and priorities order messages within a group.
 *
 * One consumer, taking one delivery at a time, makes the bound exact: the first hand-outs are the
 * first round, one message of each group that has ready messages. Several consumers would each
 * fetch and start at their own pace, and the order of their starts would only approximate the
 * order of hand-outs.
 */
import { expect, it } from 'vitest';
import { Pump } from '../../src/queuing/pump/pump.js';
import type { Queue } from '../../src/queuing/types.js';
import { receive } from '../support/deliveries.js';
import type { FlowContext } from './flow.js';
import type { FlowMessage } from './flow-consumer.js';
import { eventually, sendAll } from './flow-support.js';

const BACKLOG = 2_000;

/**
 * A's backlog, then one message each of groups B, C and the default group, and an urgent one of A:
 * the first round must hold B, C, the default group's and A's urgent one.
 */
async function sendBacklogAndRound(producer: Queue<FlowMessage>): Promise<void> {
  await sendAll(
    producer,
    Array.from({ length: BACKLOG }, (_, n) => ({ n, group: 'A' })),
  );
  await sendAll(producer, [{ n: BACKLOG, group: 'B' }, { n: BACKLOG + 1, group: 'C' }, { n: BACKLOG + 2 }]);
  await producer.send({ n: URGENT, group: 'A' }, { group: 'A', priority: 10 });
}

const URGENT = BACKLOG + 3;

function expectFirstRound(round: readonly FlowMessage[]): void {
  const shown = `the first round: ${JSON.stringify(round)}`;
  expect(round.map((message) => message.group ?? null).sort(), shown).toEqual(['A', 'B', 'C', null]);
  expect(round.find((message) => message.group === 'A')!.n, shown).toBe(URGENT);
}

export function fairnessCases({ queueName, open }: FlowContext): void {
  it('hands out one message of each ready group per round, whatever the backlog; priorities within a group', async () => {
    const name = queueName('fair');
    await sendBacklogAndRound(open<FlowMessage>(name));
    // A plain iteration: fairness needs no limit.
    const round = await receive(open<FlowMessage>(name), 4, 30_000);
    expectFirstRound(round.map((delivery) => delivery.message));
    expect(round.map((delivery) => delivery.group)).toEqual(round.map((delivery) => delivery.message.group));
    await Promise.all(round.map((delivery) => delivery.ack()));
  }, 60_000);

  it('hands out one message of each ready group per round to a pump capping groups', async () => {
    const name = queueName('fair-pump');
    await sendBacklogAndRound(open<FlowMessage>(name));
    const dispatched: FlowMessage[] = [];
    const draining = new Pump(open<FlowMessage>(name), (message: FlowMessage) => {
      dispatched.push(message);
    }).draining({ concurrency: 1, groupConcurrency: 2 });
    try {
      await eventually(
        () => dispatched.length >= 4,
        30_000,
        () => `4 dispatches (${dispatched.length})`,
      );
    } finally {
      await draining.stop();
    }
    expectFirstRound(dispatched.slice(0, 4));
  }, 60_000);
}
