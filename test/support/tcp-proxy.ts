import { createServer, connect as dial, type Socket } from 'node:net';

/** A TCP proxy to a local port whose connections a test can cut, to make a client reconnect. */
export interface TcpProxy {
  /** The local port to connect to instead of the target's. */
  readonly port: number;
  /** Drops every connection now and refuses new ones for `ms`. */
  cut(ms: number): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let refusing = false;
  const server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = dial(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const socket of [client, upstream]) socket.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cutAll = () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
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
    close() {
      cutAll();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
