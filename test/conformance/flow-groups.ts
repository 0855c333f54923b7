/**
 * The flow suite's group-cap cases: `groupConcurrency` holds across consumers (the default group
 * too) and when lowered while running, and a consumer killed while holding a group's slot holds it
 * no longer than its lease.
 */
import { expect, it } from 'vitest';
import { sleep } from '../support/async.js';
import type { FlowContext, FlowHarness } from './flow.js';
import { type FlowEvent, type FlowMessage, now } from './flow-consumer.js';
import { eventsOf, eventually, type FlowConsumer, numbersOf, sendAll } from './flow-support.js';
import { mostAtOnceByGroup } from './flow-windows.js';

const GROUPS = ['g1', 'g2', 'g3', 'g4', undefined];

/** `rounds` messages of each group, numbered from `first`, the groups taking turns. */
function grouped(rounds: number, first: number): FlowMessage[] {
  return Array.from({ length: rounds * GROUPS.length }, (_, i) => {
    const group = GROUPS[i % GROUPS.length];
    return group === undefined ? { n: first + i } : { n: first + i, group };
  });
}

/**
 * A crashed consumer's slot comes back when the queue takes the message back: at most
 * `visibilityTimeout` after its last lease renewal, plus the time the queue takes to notice (its
 * polling) and a survivor to fetch, on a loaded machine.
 */
const RECLAIM_SLACK = 3_000;

export function groupCases(harness: FlowHarness, { queueName, open, consumers }: FlowContext): void {
  it('caps each group across consumers, the default group too, and a cap lowered while running', async () => {
    const name = queueName('groups');
    const running = await consumers(name, 3, { concurrency: 4, hold: 50, groupConcurrency: 2 });
    const producer = open<FlowMessage>(name);
    await sendAll(producer, grouped(10, 0));
    await untilEnded(running, 50);

    const most = mostAtOnceByGroup(eventsOf(running, 'start').concat(eventsOf(running, 'end')));
    const shown = `most at once per group: ${JSON.stringify([...most])}`;
    expect([...most.keys()].sort(), shown).toEqual(['g1', 'g2', 'g3', 'g4', null]);
    expect(Math.max(...most.values()), shown).toBe(2); // reached, never passed

    await Promise.all(running.map((consumer) => consumer.command({ set: { groupConcurrency: 1 } })));
    await sendAll(producer, grouped(5, 50));
    await untilEnded(running, 75);
    const later = (event: FlowEvent) => event.n! >= 50;
    const events = eventsOf(running, 'start').concat(eventsOf(running, 'end')).filter(later);
    expect(Math.max(...mostAtOnceByGroup(events).values())).toBe(1);
  }, 120_000);

  it.runIf(harness.childModule !== undefined)(
    'frees the group slot of a killed consumer once its lease runs out; the message comes back',
    async () => {
      const name = queueName('crash');
      const visibilityTimeout = 3_000;
      // Message 1's first attempt never finishes: whichever consumer takes it holds g1's one slot.
      const options = {
        queue: { visibilityTimeout },
        concurrency: 2,
        groupConcurrency: 1,
        hold: 50,
        stuck: [1],
      };
      const running = await consumers(name, 2, options);
      const producer = open<FlowMessage>(name);
      await sendAll(producer, [{ n: 1, group: 'g1' }]);
      const started = (n: number) => (event: FlowEvent) => event.event === 'start' && event.n === n;
      const held = await Promise.any(
        running.map((consumer) => consumer.waitFor(started(1), 15_000, 'message 1')),
      );
      const holder = running.find((consumer) => consumer.events.some(started(1)))!;
      const survivor = running.find((consumer) => consumer !== holder)!;

      await sendAll(producer, [
        { n: 2, group: 'g1' },
        { n: 3, group: 'g2' },
      ]);
      await Promise.any(running.map((consumer) => consumer.waitFor(started(3), 15_000, 'message 3')));
      await sleep(300);
      // Until its lease runs out (queues that renew leases keep it longer), message 1 fills g1.
      const g1 = (event: FlowEvent) => event.event === 'start' && event.group === 'g1';
      const leased = (event: FlowEvent) =>
        g1(event) && event !== held && event.t < held.t + visibilityTimeout;
      expect(eventsOf(running, 'start').filter(leased), 'g1 is at its cap while message 1 is held').toEqual(
        [],
      );

      const killedAt = now();
      await holder.kill();
      const later = (event: FlowEvent) => g1(event) && event.t >= killedAt;
      const first = await survivor.waitFor(later, visibilityTimeout + 30_000, 'a g1 message after the kill');
      expect(first.t - killedAt).toBeLessThan(visibilityTimeout + RECLAIM_SLACK);
      const again = await survivor.waitFor((event) => g1(event) && event.n === 1, 30_000, 'message 1 again');
      expect(again.attempt).toBe(2);
      await survivor.waitFor((event) => g1(event) && event.n === 2, 15_000, 'message 2');
    },
    120_000,
  );
}

/** Waits until handlers ended messages 0 to `count - 1`, across `consumers`. */
function untilEnded(consumers: readonly FlowConsumer[], count: number): Promise<void> {
  return eventually(
    () => numbersOf(consumers, 'end').size >= count,
    30_000,
    () => `${count} messages handled (${numbersOf(consumers, 'end').size} were)`,
    consumers,
  );
}
