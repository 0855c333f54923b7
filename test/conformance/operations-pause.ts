/**
 * The operations suite's pause cases: a pause holds for every consumer of the queue, on other
 * handles, on consumers started while paused, and in other processes, until `resume`.
 */
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { sleep } from '../support/async.js';
import { receive } from '../support/deliveries.js';
import {
  collect,
  type Numbered,
  numbers,
  type OperationsContext,
  type OperationsHarness,
  statsBecome,
} from './operations-support.js';
import { spawnChild } from './spawn-child.js';

/** The contract gives a pause "about one second" to reach every consumer. */
const TAKES_HOLD = 1_500;
/** How long a paused consumer is watched for a delivery it must not hand out. */
const WATCH = 2_000;

const childConsumer = fileURLToPath(new URL('./child-consumer.ts', import.meta.url));

export function pauseCases(harness: OperationsHarness, { queueName, open }: OperationsContext): void {
  it('pause: consumers on other handles take nothing new, sends are accepted, and a consumer started while paused waits too, until resume', async () => {
    const name = queueName('pause');
    const operator = open<Numbered>(name);
    const producer = open<Numbered>(name);
    const first = collect(open<Numbered>(name));
    await producer.send({ n: 1 });
    await first.reach(1);

    await operator.pause();
    await operator.pause(); // pausing twice is no error
    expect((await operator.stats()).paused).toBe(true);
    await sleep(TAKES_HOLD);
    await producer.send({ n: 2 });
    await producer.send({ n: 3 });
    await sleep(WATCH);
    expect(first.messages).toEqual([{ n: 1 }]);
    await statsBecome(operator, { ready: 2, inFlight: 0, paused: true });

    await first.stop(); // a restart of the consumer: the pause holds for the next one
    const restarted = collect(open<Numbered>(name));
    await sleep(WATCH);
    expect(restarted.messages).toEqual([]);

    await operator.resume();
    await restarted.reach(2, 15_000);
    expect(numbers(restarted.messages)).toEqual([2, 3]);
    expect(restarted.attempts).toEqual([1, 1]);
    await statsBecome(operator, { ready: 0, paused: false });
    await operator.resume(); // resuming a queue that is not paused is no error
    await restarted.stop();
  }, 60_000);

  it('pause lets deliveries under way finish normally', async () => {
    const name = queueName('pause-settle');
    const queue = open<Numbered>(name, { maxAttempts: 3, backoff: { type: 'fixed', delay: 50 } });
    await queue.send({ n: 1 });
    await queue.send({ n: 2 });
    const [acked, nacked] = await receive(open<Numbered>(name), 2);

    await queue.pause();
    await acked!.ack();
    await nacked!.nack({ requeue: true }); // back in the queue, but not handed out while paused
    if (harness.retriesCountInFlight) {
      await statsBecome(queue, { paused: true });
      const { ready, inFlight } = await queue.stats();
      expect(ready + inFlight).toBe(1);
    } else await statsBecome(queue, { ready: 1, inFlight: 0, paused: true });
    const consumer = collect(open<Numbered>(name));
    await sleep(WATCH);
    expect(consumer.messages).toEqual([]);

    await queue.resume();
    await consumer.reach(1, 15_000);
    expect(consumer.messages).toEqual([nacked!.message]);
    if (harness.retriesCountInFlight) expect(consumer.attempts[0]).toBeGreaterThanOrEqual(2);
    else expect(consumer.attempts).toEqual([2]);
    await consumer.stop();
  }, 60_000);

  it.runIf(harness.childModule !== undefined)(
    'pause holds for a consumer in another process until resume',
    async () => {
      const name = queueName('pause-child');
      const operator = open<Numbered>(name);
      // The child never settles: a long lease keeps its first message from coming back meanwhile.
      const child = spawnChild(childConsumer, [harness.childModule!, name, '{"visibilityTimeout":60000}']);
      try {
        await operator.send({ n: 1 });
        expect(JSON.parse(await child.nextLine(30_000))).toEqual({ message: { n: 1 }, attempt: 1 });

        await operator.pause();
        await sleep(TAKES_HOLD);
        await operator.send({ n: 2 });
        await operator.send({ n: 3 });
        await child.quiet(WATCH + 500);
        await statsBecome(operator, { ready: 2, paused: true });

        await operator.resume();
        const lines = [await child.nextLine(15_000), await child.nextLine(15_000)];
        const received = lines.map((line) => JSON.parse(line) as { message: Numbered; attempt: number });
        expect(numbers(received.map((r) => r.message))).toEqual([2, 3]);
      } finally {
        await child.kill();
      }
    },
    90_000,
  );
}
