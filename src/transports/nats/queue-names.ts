import { Connection } from './connection.js';
import { decodeName } from './names.js';

/**
 * The sluice queues on a NATS server: its streams named `sluice-<encoded name>` (names.ts), dead-letter
 * queues included, sorted. Streams of any other name (key-value buckets, job stores, other
 * applications') are not queues.
 */
export async function queueNames(options: { url?: string } = {}): Promise<string[]> {
  const connection = await Connection.open('the queue listing', options.url, undefined);
  try {
    const names: string[] = [];
    for await (const stream of connection.jsm.streams.names()) {
      if (!stream.startsWith(PREFIX)) continue;
      const name = decodeName(stream.slice(PREFIX.length));
      if (name !== undefined) names.push(name);
    }
    return names.sort();
  } finally {
    await connection.close();
  }
}

const PREFIX = 'sluice-';
