/**
 * The flow suite's rate-limit cases: a limit shared by several consumers is a sliding window (never
 * more than `limit` starts in any window), and a limit changed while running takes effect within one
 * interval, raised or lowered.
 */
import { expect, it } from 'vitest';
import { sleep } from '../support/async.js';
import type { FlowContext } from './flow.js';
import { type FlowMessage, now } from './flow-consumer.js';
import { eventsOf, eventually, numbersOf, sendAll } from './flow-support.js';
import { busiestWindow, countBetween, timeline } from './flow-windows.js';

/**
 * The limiter counts a hand-out when the queue hands it out, on the queue's clock; the handler starts
 * a little later (a round trip, decoding, the pump's dispatch), and that delay varies from one
 * delivery to the next on a loaded machine. Two hand-outs a full interval apart can so show starts a
 * little closer: the windows checked are this much narrower than the interval. What the cases
 * would catch still shows: a token bucket lets `limit` plus what refills meanwhile through such a
 * window (nearly twice the limit), a fixed window twice the limit, a per-process limiter three times.
 */
export const START_SLACK = 100;

function numbered(count: number, first = 0): FlowMessage[] {
  return Array.from({ length: count }, (_, i) => ({ n: first + i }));
}

export function rateCases({ queueName, open, consumers }: FlowContext): void {
  it('holds a rate limit across consumers: never more than limit starts in any window of interval', async () => {
    const name = queueName('rate');
    const rateLimit = { limit: 20, interval: 500 };
    const total = 100;
    const running = await consumers(name, 3, { concurrency: 8, hold: 10, rateLimit });
    await sendAll(open<FlowMessage>(name), numbered(total));

    await eventually(
      () => numbersOf(running, 'start').size === total,
      30_000,
      () => `all ${total} started (${numbersOf(running, 'start').size} did)`,
      running,
    );
    const times = eventsOf(running, 'start').map((event) => event.t);
    const busiest = busiestWindow(times, rateLimit.interval - START_SLACK);
    expect(busiest.count, `starts (ms after the first): ${timeline(times)}`).toBeLessThanOrEqual(
      rateLimit.limit,
    );
    // Not absurdly slow either: within three times what the limit allows.
    const allowed = (total / rateLimit.limit) * rateLimit.interval;
    expect(Math.max(...times) - Math.min(...times)).toBeLessThan(3 * allowed);
  }, 120_000);

  it('applies a changed rate limit within one interval, raised and lowered', async () => {
    const name = queueName('rate-change');
    const interval = 500;
    const low = { limit: 10, interval };
    const high = { limit: 40, interval };
    await sendAll(open<FlowMessage>(name), numbered(400));
    const running = await consumers(name, 3, { concurrency: 8, rateLimit: low });
    await sleep(1_200);

    const raising = now();
    const raised = await Promise.all(
      running.map((consumer) => consumer.command({ set: { rateLimit: high } })),
    );
    const raisedAt = Math.max(...raised.map((event) => event.t));
    await sleep(raisedAt + interval + 1_000 - now());
    const lowered = await Promise.all(
      running.map((consumer) => consumer.command({ set: { rateLimit: low } })),
    );
    const loweredAt = Math.max(...lowered.map((event) => event.t));
    await sleep(loweredAt + interval + 1_200 - now());

    const times = eventsOf(running, 'start').map((event) => event.t);
    const shown = `starts (ms after the first): ${timeline(times)}`;
    const width = interval - START_SLACK;
    const before = times.filter((time) => time < raising);
    expect(busiestWindow(before, width).count, shown).toBeLessThanOrEqual(low.limit);
    expect(busiestWindow(times, width).count, shown).toBeLessThanOrEqual(high.limit);
    // The low limit allows at most 2 × 10 starts in a second: a raised limit shows far more.
    const afterRaise = countBetween(times, raisedAt + interval, raisedAt + interval + 1_000);
    expect(afterRaise, shown).toBeGreaterThanOrEqual(3 * low.limit);
    const afterLowering = times.filter((time) => time >= loweredAt + interval);
    expect(afterLowering.length, shown).toBeGreaterThan(0);
    expect(busiestWindow(afterLowering, width).count, shown).toBeLessThanOrEqual(low.limit);
  }, 120_000);
}
