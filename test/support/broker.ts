import { connect } from 'node:net';

/** How to start each service this project's tests talk to (the machine's own commands). */
export const services = {
  redis: {
    port: 6379,
    start:
      'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log',
  },
  postgres: { port: 5432, start: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start' },
  rabbitmq: { port: 5672, start: 'rabbitmq-server -detached' },
  nats: {
    port: 4222,
    start:
      'start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log',
  },
} as const;

export type Service = keyof typeof services;

export function portOpen(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Whether a broker suite can run. Under CI=true an unreachable broker is a failure (it throws);
 * elsewhere the suite is skipped with a loud message naming the command that starts the service.
 * Use it at the top level of a test file: `const up = await brokerAvailable('redis')` then
 * `describe.runIf(up)(...)`.
 */
export async function brokerAvailable(service: Service): Promise<boolean> {
  const { port, start } = services[service];
  if (await portOpen(port)) return true;
  const message = `${service} is not reachable on 127.0.0.1:${port}; start it with: ${start}`;
  if (process.env.CI === 'true') throw new Error(`CI: ${message}`);
  console.warn(`\n!!! SKIPPED ${service} tests: ${message}\n`);
  return false;
}

/** Polls until `port` accepts connections (after a restart), or throws after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await portOpen(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`port ${port} did not open within ${timeoutMs} ms`);
}
