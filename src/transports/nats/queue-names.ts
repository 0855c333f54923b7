import { Connection } from './connection.js';
import { decodeName } from './names.js';

/**
 * The sluice queues on a NATS server: its streams named `sluice-<encoded name>`, dead-letter
 * queues included, sorted. Streams of any other name (key-value buckets, job stores, other
 * applications') are not queues. A connection is opened for the call and closed after it.
 * @param options - `url`: the server, or several comma-separated; default `nats://127.0.0.1:4222`
 * @throws {@link sluice!BrokerUnavailableError | BrokerUnavailableError} when the server cannot be reached
 * @throws {@link NatsAccessError} when the server refuses the credentials
 * @throws {@link NatsTopologyError} when the server has no JetStream
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
