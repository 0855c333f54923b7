import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** For an event stream: resolve once the headers and the first bytes arrived, then hang up. */
  firstChunkOnly?: boolean;
}

/**
 * One HTTP request with exactly the headers given (Host, Origin and Sec-Fetch-* included, which a
 * browser-like fetch would not let a test set).
 */
export function request(url: string, options: RequestOptions = {}): Promise<Answer> {
  const { method = 'GET', headers = {}, body, firstChunkOnly = false } = options;
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(url, { method, headers }, (response) => {
      const chunks: Buffer[] = [];
      const done = () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        if (firstChunkOnly) {
          done();
          response.destroy();
        }
      });
      response.on('end', done);
      response.on('error', () => done());
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** A same-origin action, as the page sends it. */
export function post(base: string, path: string, body: unknown = {}, headers: Record<string, string> = {}) {
  return request(new URL(path, base).href, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Origin: new URL(base).origin,
      'Sec-Fetch-Site': 'same-origin',
      ...headers,
    },
    body: JSON.stringify(body),
  });
}

/** An event stream that counts the `stats` events it receives. */
export async function openStream(url: string) {
  const controller = new AbortController();
  const response = await fetch(url, { signal: controller.signal });
  let count = 0;
  const waiters: (() => void)[] = [];
  void (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        count += decoder.decode(chunk).split('event: stats\n').length - 1;
        for (const wake of waiters.splice(0)) wake();
      }
    } catch {
      // aborted
    }
  })();
  return {
    count: () => count,
    async waitFor(n: number) {
      while (count < n) await new Promise<void>((resolve) => waiters.push(resolve));
    },
    close: () => controller.abort(),
  };
}
