import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * What every response carries: scripts and styles only from the dashboard's own paths (no inline
 * script, so data that slipped into the markup still could not run), no framing, no referrer.
 */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

export function setSecurityHeaders(response: ServerResponse): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.setHeader(name, value);
}

const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

export function isLoopback(host: string): boolean {
  return LOOPBACK_NAMES.has(host) || host.startsWith('127.');
}

/**
 * Bound to loopback, the dashboard answers only requests addressed to a loopback name: a web page
 * whose own domain name resolves to 127.0.0.1 (DNS rebinding) is refused before it reads anything.
 */
export function hostAllowed(request: IncomingMessage, boundToLoopback: boolean): boolean {
  if (!boundToLoopback) return true;
  const host = request.headers.host;
  if (host === undefined) return false;
  try {
    return isLoopback(new URL(`http://${host}`).hostname);
  } catch {
    return false;
  }
}

/**
 * The token travels as `Authorization: Bearer <token>`, or as the cookie the page gets in exchange
 * for `?token=`: the cookie holds a digest of the token, never the token itself.
 */
export class TokenCheck {
  readonly cookieName: string;
  readonly #digest: Buffer;

  constructor(token: string, port: number) {
    // Cookies do not tell ports apart: two dashboards on one machine must not read each other's.
    this.cookieName = `sluice_dashboard_${port}`;
    this.#digest = digest(token);
  }

  /** The `Set-Cookie` value that lets the page in, once `?token=` was right. */
  cookie(): string {
    return `${this.cookieName}=${this.#digest.toString('hex')}; HttpOnly; SameSite=Strict; Path=/`;
  }

  matches(token: string): boolean {
    return timingSafeEqual(digest(token), this.#digest);
  }

  allows(request: IncomingMessage): boolean {
    const authorization = request.headers.authorization;
    if (authorization?.startsWith('Bearer ')) return this.matches(authorization.slice('Bearer '.length));
    const cookie = cookieValue(request.headers.cookie, this.cookieName);
    if (cookie === undefined || !/^[0-9a-f]{64}$/.test(cookie)) return false;
    return timingSafeEqual(Buffer.from(cookie, 'hex'), this.#digest);
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const pair of header?.split(';') ?? []) {
    const [key, value] = pair.split('=', 2);
    if (key?.trim() === name) return value?.trim();
  }
  return undefined;
}

/**
 * Why an action request is refused, or `undefined`: it must come from the dashboard's own page
 * (a browser says so in `Sec-Fetch-Site` and `Origin`; a program sends neither) and carry JSON,
 * which a cross-site form cannot send without a preflight this server never grants.
 */
export function actionRefusal(request: IncomingMessage): { status: number; reason: string } | undefined {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') {
    return { status: 403, reason: 'cross-site request refused' };
  }
  const origin = request.headers.origin;
  if (origin !== undefined && !sameHost(origin, request.headers.host)) {
    return { status: 403, reason: 'cross-origin request refused' };
  }
  const type = request.headers['content-type']?.split(';', 1)[0]?.trim().toLowerCase();
  if (type !== 'application/json') return { status: 415, reason: 'an action takes a JSON body' };
  return undefined;
}

function sameHost(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}
