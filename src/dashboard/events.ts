import type { ServerResponse } from 'node:http';
import type { Sampler, Snapshot } from './sampler.js';

/** Output a page may leave unread before it is dropped: a stalled tab must not grow the server. */
const MAX_UNREAD_BYTES = 4 << 20;

/**
 * The live feed of open pages (server-sent events): on connecting a page gets the kept history,
 * then every snapshot the one shared sampler takes, serialised once for all pages.
 */
export class EventStreams {
  readonly #sampler: Sampler;
  readonly #open = new Set<ServerResponse>();
  readonly #unsubscribe: () => void;

  constructor(sampler: Sampler) {
    this.#sampler = sampler;
    this.#unsubscribe = sampler.subscribe((snapshot) => this.#broadcast(snapshot));
  }

  get size(): number {
    return this.#open.size;
  }

  open(response: ServerResponse): void {
    response.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      Connection: 'keep-alive',
    });
    response.write(frame('history', JSON.stringify(this.#sampler.history())));
    const latest = this.#sampler.latest;
    if (latest !== undefined) response.write(frame('stats', JSON.stringify(latest)));
    this.#open.add(response);
    response.on('close', () => this.#open.delete(response));
  }

  close(): void {
    this.#unsubscribe();
    for (const response of this.#open) response.end();
    this.#open.clear();
  }

  #broadcast(snapshot: Snapshot): void {
    if (this.#open.size === 0) return;
    const text = frame('stats', JSON.stringify(snapshot));
    for (const response of this.#open) {
      if (response.writableLength > MAX_UNREAD_BYTES) response.destroy();
      else response.write(text);
    }
  }
}

function frame(event: string, data: string): string {
  return `event: ${event}\ndata: ${data}\n\n`;
}
