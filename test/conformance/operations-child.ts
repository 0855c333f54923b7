/**
 * A process that redrives a queue's dead letters in batches, for the operations suite's crash test:
 *   node --import tsx operations-child.ts <harness module> <queue name> <batch>
 * It opens the queue through the harness module's `open` and prints `{ "moved": n }` after each
 * batch (n in all so far), so that the parent can kill it with SIGKILL while a redrive is under way.
 */
import { pathToFileURL } from 'node:url';
import type { OperableQueue } from '../../src/queuing/operations.js';

const [modulePath, queueName, batch = '100'] = process.argv.slice(2);
if (modulePath === undefined || queueName === undefined) {
  throw new Error('usage: operations-child.ts <harness module> <queue name> [batch]');
}

const harness = (await import(pathToFileURL(modulePath).href)) as {
  open(name: string, options?: object): OperableQueue<unknown>;
};
const queue = harness.open(queueName);
let moved = 0;
for (;;) {
  const count = await queue.redrive({ limit: Number(batch) });
  if (count === 0) break;
  moved += count;
  process.stdout.write(`${JSON.stringify({ moved })}\n`);
}
await queue.close();
