/**
 * A consumer process for the flow suite:
 *   node --import tsx flow-child.ts <harness module> <queue name> <options JSON>
 * The options are the queue's (`queue`, passed to the module's `open`) and the consumer's
 * (`FlowConsumerOptions`). It prints one JSON line per `FlowEvent` and reads one JSON `FlowCommand`
 * per line on stdin; after `{ "stop": true }` it closes the queue and exits.
 */
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import type { Queue } from '../../src/queuing/types.js';
import type { DurableQueueOptions } from './durable.js';
import { consume, type FlowCommand, type FlowConsumerOptions, type FlowMessage } from './flow-consumer.js';

const [modulePath, queueName, optionsJson = '{}'] = process.argv.slice(2);
if (modulePath === undefined || queueName === undefined) {
  throw new Error('usage: flow-child.ts <harness module> <queue name> [options JSON]');
}

const harness = (await import(pathToFileURL(modulePath).href)) as {
  open(name: string, options?: DurableQueueOptions): Queue<FlowMessage>;
};
const { queue: queueOptions, ...consumerOptions } = JSON.parse(optionsJson) as FlowConsumerOptions & {
  queue?: DurableQueueOptions;
};
const queue = harness.open(queueName, queueOptions);
const consumer = consume(queue, consumerOptions, (event) => {
  process.stdout.write(`${JSON.stringify(event)}\n`);
});
consumer.done.catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line) as FlowCommand;
  await consumer.command(command);
  if ('stop' in command) break;
}
await queue.close();
process.exit(0);
