/**
 * A consumer process for the durable suite's crash test:
 *   node --import tsx child-consumer.ts <harness module> <queue name> <options JSON>
 * It opens the queue through the harness module's `open`, prints one JSON line
 * `{ "message": ..., "attempt": n }` per delivery and never settles anything, so that the parent can
 * kill it with SIGKILL while it holds a message.
 */
import { pathToFileURL } from 'node:url';
import type { Queue } from '../../src/queuing/types.js';

const [modulePath, queueName, optionsJson = '{}'] = process.argv.slice(2);
if (modulePath === undefined || queueName === undefined) {
  throw new Error('usage: child-consumer.ts <harness module> <queue name> [options JSON]');
}

const harness = (await import(pathToFileURL(modulePath).href)) as {
  open(name: string, options?: object): Queue<unknown>;
};
const queue = harness.open(queueName, JSON.parse(optionsJson));
for await (const delivery of queue) {
  process.stdout.write(`${JSON.stringify({ message: delivery.message, attempt: delivery.attempt })}\n`);
}
