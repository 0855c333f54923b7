import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidOptionError } from '../errors.js';
import { type Action, deadLettersPage, failedJobs, findJob, isAction, runAction } from './api.js';
import { CLIENT_SCRIPT } from './client.js';
import type { EventStreams } from './events.js';
import { HttpError, readJsonObject, sendJson, sendText } from './http.js';
import type { DashboardQueue, ResolvedDashboardOptions } from './options.js';
import { page } from './page.js';
import { actionRefusal, hostAllowed, setSecurityHeaders, type TokenCheck } from './security.js';
import { STYLE } from './style.js';

export interface RouteContext {
  readonly options: ResolvedDashboardOptions;
  readonly streams: EventStreams;
  readonly token: TokenCheck | undefined;
  readonly boundToLoopback: boolean;
}

/**
 * Answers one request. Every GET only reads; every change is a POST to an action path, so no link,
 * image or prefetch can change a queue.
 */
export async function handle(context: RouteContext, request: IncomingMessage, response: ServerResponse) {
  setSecurityHeaders(response);
  try {
    await route(context, request, response);
  } catch (error) {
    if (response.headersSent) {
      response.destroy();
      return;
    }
    const status =
      error instanceof HttpError ? error.status : error instanceof InvalidOptionError ? 400 : 500;
    sendJson(response, status, { error: error instanceof Error ? error.message : String(error) });
  }
}

async function route(context: RouteContext, request: IncomingMessage, response: ServerResponse) {
  if (!hostAllowed(request, context.boundToLoopback)) throw new HttpError(403, 'unknown host name');
  const url = new URL(request.url ?? '/', 'http://dashboard');
  if (context.token !== undefined && !authorized(context.token, request, response, url)) return;
  const path = segments(url.pathname);
  const method = request.method ?? 'GET';
  const action = path[0] === 'api' && path[1] === 'queues' && path.length === 4 ? path[3]! : '';
  if (isAction(action)) {
    if (method !== 'POST') return refuseMethod(response, 'POST');
    return act(context, request, response, queueNamed(context, path[2]!), action);
  }
  if (method !== 'GET') return refuseMethod(response, 'GET');
  const { readOnly, jobs } = context.options;
  switch (url.pathname) {
    case '/':
      return sendText(response, 200, 'text/html', page({ readOnly, jobs: jobs !== undefined }));
    case '/app.js':
      return sendText(response, 200, 'text/javascript', CLIENT_SCRIPT);
    case '/app.css':
      return sendText(response, 200, 'text/css', STYLE);
    case '/events':
      return context.streams.open(response);
    case '/favicon.ico':
      response.writeHead(204);
      return response.end();
    case '/api/failed-jobs':
      return sendJson(response, 200, { jobs: await failedJobs(jobStore(context)) });
  }
  if (path[0] === 'api' && path[1] === 'queues' && path[3] === 'dead-letters' && path.length === 4) {
    const after = url.searchParams.get('after') ?? undefined;
    return sendJson(response, 200, await deadLettersPage(queueNamed(context, path[2]!), after));
  }
  if (path[0] === 'api' && path[1] === 'jobs' && path.length === 3) {
    return sendJson(response, 200, { job: await findJob(jobStore(context), path[2]!) });
  }
  throw new HttpError(404, 'not found');
}

/**
 * Whether the request carries the token. The page may be opened once with `?token=`: it is
 * exchanged for a cookie and the browser sent back to `/`, so the token leaves the address bar
 * and the history, and the page's own requests (the event stream too) carry the cookie.
 */
function authorized(
  token: TokenCheck,
  request: IncomingMessage,
  response: ServerResponse,
  url: URL,
): boolean {
  const given = url.searchParams.get('token');
  if (url.pathname === '/' && given !== null && request.method === 'GET') {
    if (!token.matches(given)) throw new HttpError(401, 'wrong token');
    response.writeHead(303, { Location: '/', 'Set-Cookie': token.cookie() });
    response.end();
    return false;
  }
  if (token.allows(request)) return true;
  throw new HttpError(401, 'this dashboard needs its token: open it as /?token=<token>');
}

async function act(
  context: RouteContext,
  request: IncomingMessage,
  response: ServerResponse,
  queue: DashboardQueue,
  action: Action,
) {
  if (context.options.readOnly) throw new HttpError(403, 'this dashboard is read-only');
  const refusal = actionRefusal(request);
  if (refusal !== undefined) throw new HttpError(refusal.status, refusal.reason);
  const body = await readJsonObject(request);
  sendJson(response, 200, await runAction(queue, action, body));
}

function queueNamed(context: RouteContext, name: string): DashboardQueue {
  const queue = context.options.queues.get(name);
  if (queue === undefined) throw new HttpError(404, `no queue ${name} on this dashboard`);
  return queue;
}

function jobStore(context: RouteContext) {
  if (context.options.jobs === undefined) throw new HttpError(404, 'this dashboard has no job store');
  return context.options.jobs;
}

function refuseMethod(response: ServerResponse, allowed: string): void {
  response.setHeader('Allow', allowed);
  sendJson(response, 405, { error: `only ${allowed} is accepted here` });
}

function segments(pathname: string): string[] {
  try {
    return pathname.split('/').slice(1).map(decodeURIComponent);
  } catch {
    throw new HttpError(400, 'malformed path');
  }
}
