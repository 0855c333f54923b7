/** The commands that act on one queue: each opens a handle, does one thing, and closes it. */
import { resolveDeadLettersOptions, resolveRedriveOptions } from '../queuing/operations-options.js';
import { type CliQueue, type OpenOptions, openBroker } from './brokers.js';
import { type Output, print } from './output.js';
import { deadLettersTable, statsTable } from './render.js';

async function withQueue<R>(
  url: string,
  name: string,
  use: (queue: CliQueue) => Promise<R>,
  options?: OpenOptions,
): Promise<R> {
  const broker = await openBroker(url, options);
  const queue = broker.queue(name);
  try {
    return await use(queue);
  } finally {
    await queue.close();
  }
}

export async function stats(url: string, name: string, output: Output): Promise<void> {
  const counts = await withQueue(url, name, (queue) => queue.stats());
  print(output, { queue: name, ...counts }, statsTable);
}

export interface DeadOptions {
  readonly limit?: number;
  readonly after?: string;
}

export async function dead(url: string, name: string, options: DeadOptions, output: Output): Promise<void> {
  // Checked before connecting: a wrong limit is a usage error, whatever the broker.
  const page = resolveDeadLettersOptions({ limit: options.limit, after: options.after });
  const letters = await withQueue(url, name, (queue) => queue.deadLetters(page));
  print(output, letters, deadLettersTable);
  // A full page may have a next one: say how to read it, out of the way of the table.
  const last = letters.at(-1);
  if (!output.json && last !== undefined && letters.length === page.limit) {
    process.stderr.write(`more may follow: add --after ${last.id}\n`);
  }
}

export interface RedriveCommandOptions {
  readonly limit?: number;
  readonly id?: readonly string[];
}

export async function redrive(
  url: string,
  name: string,
  options: RedriveCommandOptions,
  output: Output,
): Promise<void> {
  const { limit, id: ids } = options;
  resolveRedriveOptions({ limit, ids });
  const redriven = await withQueue(url, name, (queue) => queue.redrive({ limit, ids }));
  print(output, { queue: name, redriven }, () => `redrove ${plural(redriven, 'dead letter')} to ${name}`);
}

export async function purge(url: string, name: string, output: Output): Promise<void> {
  const purged = await withQueue(url, name, (queue) => queue.purge());
  print(output, { queue: name, purged }, () => `purged ${plural(purged, 'waiting message')} from ${name}`);
}

export async function pause(url: string, name: string, output: Output): Promise<void> {
  await withQueue(url, name, (queue) => queue.pause());
  print(output, { queue: name, paused: true }, () => `paused ${name}: its consumers take no new messages`);
}

export async function resume(url: string, name: string, output: Output): Promise<void> {
  await withQueue(url, name, (queue) => queue.resume());
  print(output, { queue: name, paused: false }, () => `resumed ${name}`);
}

/** Creates the queue's topology, so that producers in other languages can send before any sluice process ran. */
export async function declare(url: string, name: string, output: Output): Promise<void> {
  await withQueue(url, name, (queue) => queue.declare(), { create: true });
  print(output, { queue: name, declared: true }, () => `declared ${name}`);
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
