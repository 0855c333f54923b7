import type { ConnectionOptions } from '@nats-io/transport-node';

/**
 * The connect options of a `url`: one server or several, comma-separated. The NATS client ignores
 * credentials written in a server URL, so `nats://user:password@host` (or `nats://token@host`) is
 * read here and passed as `user`/`pass` (or `token`), from the first server that has them.
 */
export function serverOptions(
  url: string,
): { servers: string[] } & Pick<ConnectionOptions, 'user' | 'pass' | 'token'> {
  const servers: string[] = [];
  let credentials: Pick<ConnectionOptions, 'user' | 'pass' | 'token'> = {};
  for (const server of url.split(',').map((each) => each.trim())) {
    const parsed = URL.canParse(server) ? new URL(server) : undefined;
    if (parsed === undefined || parsed.username === '') {
      servers.push(server);
      continue;
    }
    const [user, pass] = [decodeURIComponent(parsed.username), decodeURIComponent(parsed.password)];
    if (Object.keys(credentials).length === 0)
      credentials = parsed.password === '' ? { token: user } : { user, pass };
    parsed.username = '';
    parsed.password = '';
    servers.push(parsed.href);
  }
  return { servers, ...credentials };
}

/** The servers of a `url` without their credentials, to name in an error message. */
export function withoutCredentials(url: string): string {
  return serverOptions(url).servers.join(',');
}
