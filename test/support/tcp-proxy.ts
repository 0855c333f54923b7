import { createServer, connect as dial, type Socket } from 'node:net';

/** A TCP proxy to a local port whose connections a test can cut, to make a client reconnect. */
export interface TcpProxy {
  /** The local port to connect to instead of the target's. */
  readonly port: number;
  /** Drops every connection now and refuses new ones for `ms`. */
  cut(ms: number): void;
  /**
   * Calls `listener` (until replaced; `undefined` stops it) with each chunk from the target before
   * passing it on: a `cut()` made in it keeps that chunk from the client, a `stall()` holds back
   * only what follows.
   */
  inspect(listener: ((chunk: Buffer) => void) | undefined): void;
  /** Stops forwarding on the open connections without closing them: a server that stopped answering. */
  stall(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  /** Each client connection with its connection to the target. */
  const pairs = new Set<[Socket, Socket]>();
  let refusing = false;
  let inspector: ((chunk: Buffer) => void) | undefined;
  const server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = dial(targetPort, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    // Before the pipe's own listener, so that a chunk is seen before it is passed on.
    upstream.on('data', (chunk: Buffer) => inspector?.(chunk));
    client.pipe(upstream).pipe(client);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of pair) socket.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cutAll = () => {
    for (const pair of pairs) for (const socket of pair) socket.destroy();
    pairs.clear();
  };
  return {
    port: (server.address() as { port: number }).port,
    cut(ms) {
      refusing = true;
      cutAll();
      setTimeout(() => {
        refusing = false;
      }, ms);
    },
    inspect(listener) {
      inspector = listener;
    },
    stall() {
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream).pause();
        upstream.unpipe(client).pause();
      }
    },
    close() {
      cutAll();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
