/**
 * The operations suite's crash case: a redrive killed midway (SIGKILL of the process running it)
 * leaves every message in the queue or in its dead-letter queue, or in both, never in neither.
 */
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import {
  allDeadLetters,
  collect,
  type Numbered,
  type OperationsContext,
  type OperationsHarness,
  statsBecome,
} from './operations-support.js';
import { spawnChild } from './spawn-child.js';

const redriveProgram = fileURLToPath(new URL('./operations-child.ts', import.meta.url));
const TOTAL = 3_000;
const BATCH = 250;

export function redriveCrashCases(harness: OperationsHarness, { queueName, open }: OperationsContext): void {
  it.runIf(harness.childModule !== undefined)(
    'a redrive killed midway loses no message',
    async () => {
      const name = queueName('redrive-kill');
      // The dead letters are the dead-letter queue's messages: sending there is the fast way to make many.
      const dead = open<Numbered>(`${name}.dead`);
      for (let start = 0; start < TOTAL; start += 500) {
        await Promise.all(Array.from({ length: 500 }, (_, i) => dead.send({ n: start + i })));
      }
      const queue = open<Numbered>(name);
      await statsBecome(queue, { dead: TOTAL }, 30_000);

      const child = spawnChild(redriveProgram, [harness.childModule!, name, String(BATCH)]);
      try {
        // Killed as soon as one batch moved: the next batch is under way.
        const progress = JSON.parse(await child.nextLine(60_000)) as { moved: number };
        expect(progress.moved).toBeGreaterThan(0);
      } finally {
        await child.kill();
      }

      const letters = await allDeadLetters(queue);
      const { ready } = await queue.stats();
      const consumer = collect(queue);
      await consumer.reach(ready, 60_000);
      await consumer.stop();

      const found = new Set([...letters.map((l) => l.message.n), ...consumer.messages.map((m) => m.n)]);
      const lost = Array.from({ length: TOTAL }, (_, n) => n).filter((n) => !found.has(n));
      expect(lost).toEqual([]);
      expect(consumer.messages.length).toBeGreaterThan(0); // the redrive did move some
    },
    180_000,
  );
}
