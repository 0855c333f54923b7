/**
 * RabbitMQ's management HTTP API (the `rabbitmq_management` plugin), where the broker runs it: the
 * only place that counts a queue's unacknowledged messages and lists queues, which AMQP 0-9-1
 * cannot. Reached on the AMQP URL's host, port 15672 (15671 for amqps), with the URL's credentials
 * and vhost. Its figures are samples the broker refreshes every statistics interval (5 s unless
 * configured), so sluice takes from it only what AMQP has no answer for.
 */

/** How long a request may take before the API counts as unreachable. */
const REQUEST_TIMEOUT = 1_000;
/** How long an unreachable API is not asked again. */
const RETRY_AFTER = 30_000;
/** Queues per page of a listing: the API's own maximum. */
const PAGE_SIZE = 500;

interface QueueRow {
  readonly name: string;
  readonly messages_unacknowledged?: number;
}

interface Page {
  readonly items: readonly QueueRow[];
  readonly page_count: number;
}

export class Management {
  readonly base: string;
  readonly #vhost: string;
  readonly #authorization: string;
  #unreachableUntil = 0;

  constructor(amqpUrl: string) {
    const url = new URL(amqpUrl);
    const secure = url.protocol === 'amqps:';
    this.base = `${secure ? 'https' : 'http'}://${url.hostname}:${secure ? 15671 : 15672}/api`;
    const vhost = decodeURIComponent(url.pathname.slice(1));
    this.#vhost = encodeURIComponent(vhost === '' ? '/' : vhost);
    const user = url.username === '' ? 'guest' : decodeURIComponent(url.username);
    const password = url.password === '' ? 'guest' : decodeURIComponent(url.password);
    this.#authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  }

  /** The messages of `queue` handed to consumers and not acked yet; undefined if the API is unreachable. */
  async unacknowledged(queue: string): Promise<number | undefined> {
    const row = await this.#get<QueueRow>(
      `/queues/${this.#vhost}/${encodeURIComponent(queue)}?columns=name,messages_unacknowledged`,
    );
    return row?.messages_unacknowledged ?? (row === undefined ? undefined : 0);
  }

  /** The names of the vhost's queues matching `pattern` (a regular expression); undefined if unreachable. */
  async queueNames(pattern?: string): Promise<string[] | undefined> {
    const names: string[] = [];
    const filter = pattern === undefined ? '' : `&use_regex=true&name=${encodeURIComponent(pattern)}`;
    for (let page = 1; ; page++) {
      const listed = await this.#get<Page>(
        `/queues/${this.#vhost}?columns=name&page=${page}&page_size=${PAGE_SIZE}${filter}`,
      );
      if (listed === undefined) return undefined;
      names.push(...listed.items.map((row) => row.name));
      if (page >= listed.page_count) return names;
    }
  }

  async #get<R>(path: string): Promise<R | undefined> {
    if (Date.now() < this.#unreachableUntil) return undefined;
    try {
      const response = await fetch(`${this.base}${path}`, {
        headers: { authorization: this.#authorization },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT),
      });
      if (response.status === 404) return undefined;
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return (await response.json()) as R;
    } catch {
      this.#unreachableUntil = Date.now() + RETRY_AFTER;
      return undefined;
    }
  }
}
