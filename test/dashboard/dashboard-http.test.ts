import { afterEach, describe, expect, it } from 'vitest';
import { type Dashboard, serveDashboard } from '../../src/dashboard/index.js';
import { InvalidOptionError } from '../../src/errors.js';
import { Jobs, MemoryJobStore, QueueMiddleware } from '../../src/jobs/index.js';
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import { openStream, post, request } from './http-client.js';
import { deadLetter, memoryQueue } from './queues.js';

const TOKEN = 'tok-3f9a';
const opened: Dashboard[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((dashboard) => dashboard.close()));
});

async function serve(options: Partial<Parameters<typeof serveDashboard>[0]> = {}) {
  const queue = memoryQueue('orders');
  const dashboard = await serveDashboard({ queues: [queue], port: 0, ...options });
  opened.push(dashboard);
  return { queue, url: dashboard.url };
}

const bearer = { Authorization: `Bearer ${TOKEN}` };

describe('serveDashboard options', () => {
  it.each([
    ['no queues', { queues: [] }],
    ['a queue without the operator face', { queues: [{ name: 'x', send() {} }] }],
    ['two queues of one name', { queues: [memoryQueue('same'), memoryQueue('same')] }],
    ['a port out of range', { queues: [memoryQueue('a')], port: 70_000 }],
    ['an empty host', { queues: [memoryQueue('a')], host: '' }],
    ['a non-boolean readOnly', { queues: [memoryQueue('a')], readOnly: 'yes' }],
    ['an empty token', { queues: [memoryQueue('a')], token: '' }],
    ['a job store without recentFailures', { queues: [memoryQueue('a')], jobs: { get() {} } }],
  ])('rejects %s with InvalidOptionError', async (_, options) => {
    await expect(serveDashboard(options as never)).rejects.toBeInstanceOf(InvalidOptionError);
  });

  it('binds to 127.0.0.1 by default', async () => {
    const { url } = await serve();
    expect(new URL(url).hostname).toBe('127.0.0.1');
  });
});

describe('the page', () => {
  it('has a strict policy, no inline script, and the security headers', async () => {
    const { url } = await serve();
    const page = await request(url);
    expect(page.status).toBe(200);
    const policy = String(page.headers['content-security-policy']);
    expect(policy).toContain("script-src 'self'");
    expect(policy).toContain("frame-ancestors 'none'");
    expect(policy).not.toContain('unsafe-inline');
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.body).toMatch(/<script src="\/app\.js" defer><\/script>/);
    expect(page.body.match(/<script/g)).toHaveLength(1);
    const script = await request(new URL('/app.js', url).href);
    expect(script.headers['content-type']).toMatch(/^text\/javascript/);
    expect(script.body).not.toContain('innerHTML');
  });

  it('refuses a request addressed to another host name (DNS rebinding)', async () => {
    const { url } = await serve();
    const answer = await request(url, { headers: { Host: `evil.example:${new URL(url).port}` } });
    expect(answer.status).toBe(403);
  });
});

describe('the token', () => {
  const paths = [
    '/',
    '/app.js',
    '/app.css',
    '/events',
    '/api/queues/orders/dead-letters',
    '/api/failed-jobs',
  ];

  it.each(paths)('is required on GET %s, event stream included', async (path) => {
    const { url } = await serve({ token: TOKEN, jobs: new MemoryJobStore() });
    const target = new URL(path, url).href;
    expect((await request(target, { firstChunkOnly: true })).status).toBe(401);
    const wrong = await request(target, { headers: { Authorization: 'Bearer nope' }, firstChunkOnly: true });
    expect(wrong.status).toBe(401);
    expect((await request(target, { headers: bearer, firstChunkOnly: true })).status).toBe(200);
  });

  it('is required on actions, which do nothing without it', async () => {
    const { url, queue } = await serve({ token: TOKEN });
    expect((await post(url, '/api/queues/orders/pause')).status).toBe(401);
    expect((await post(url, '/api/queues/orders/pause', {}, { Authorization: 'Bearer nope' })).status).toBe(
      401,
    );
    expect((await queue.stats()).paused).toBe(false);
    expect((await post(url, '/api/queues/orders/pause', {}, bearer)).status).toBe(200);
    expect((await queue.stats()).paused).toBe(true);
  });

  it('?token= is exchanged for a cookie and the page sent back to a URL without it', async () => {
    const { url } = await serve({ token: TOKEN });
    expect((await request(new URL('/?token=nope', url).href)).status).toBe(401);
    const exchange = await request(new URL(`/?token=${TOKEN}`, url).href);
    expect(exchange.status).toBe(303);
    expect(exchange.headers.location).toBe('/');
    const cookie = String(exchange.headers['set-cookie']);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toContain(TOKEN);
    const pair = cookie.split(';')[0]!;
    const page = await request(url, { headers: { Cookie: pair } });
    expect(page.status).toBe(200);
    const events = await request(new URL('/events', url).href, {
      headers: { Cookie: pair },
      firstChunkOnly: true,
    });
    expect(events.status).toBe(200);
    expect(events.headers['content-type']).toMatch(/^text\/event-stream/);
    const forged = await request(url, { headers: { Cookie: `${pair.slice(0, -4)}0000` } });
    expect(forged.status).toBe(401);
  });
});

describe('actions', () => {
  it('refuse cross-site requests, and do nothing', async () => {
    const { url, queue } = await serve();
    const crossSite = await post(url, '/api/queues/orders/pause', {}, { 'Sec-Fetch-Site': 'cross-site' });
    expect(crossSite.status).toBe(403);
    const crossOrigin = await post(url, '/api/queues/orders/pause', {}, { Origin: 'http://evil.example' });
    expect(crossOrigin.status).toBe(403);
    const form = await post(
      url,
      '/api/queues/orders/pause',
      {},
      { 'Content-Type': 'application/x-www-form-urlencoded' },
    );
    expect(form.status).toBe(415);
    const plain = await post(url, '/api/queues/orders/pause', {}, { 'Content-Type': 'text/plain' });
    expect(plain.status).toBe(415);
    expect((await queue.stats()).paused).toBe(false);
  });

  it('are refused with 403 in read-only mode, and the page offers none', async () => {
    const { url, queue } = await serve({ readOnly: true });
    await queue.send({ n: 1 });
    for (const action of ['pause', 'purge', 'redrive']) {
      expect((await post(url, `/api/queues/orders/${action}`)).status).toBe(403);
    }
    expect(await queue.stats()).toMatchObject({ ready: 1, paused: false });
    expect((await request(url)).body).toContain('data-read-only="true"');
  });

  it('cannot be triggered by a GET (nor any other method)', async () => {
    const { url, queue } = await serve();
    await queue.send({ n: 1 });
    for (const action of ['pause', 'purge', 'redrive', 'discard', 'resume']) {
      const answer = await request(new URL(`/api/queues/orders/${action}`, url).href);
      expect(answer.status).toBe(405);
      expect(answer.headers.allow).toBe('POST');
    }
    const put = await request(new URL('/api/queues/orders/purge', url).href, { method: 'PUT' });
    expect(put.status).toBe(405);
    expect(await queue.stats()).toMatchObject({ ready: 1, paused: false });
  });

  it('pause, resume, purge, redrive and discard, answering counts', async () => {
    const { url, queue } = await serve();
    await deadLetter(queue, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    await queue.send({ n: 4 });
    expect((await post(url, '/api/queues/orders/pause')).status).toBe(200);
    expect((await queue.stats()).paused).toBe(true);
    await post(url, '/api/queues/orders/resume');
    expect((await queue.stats()).paused).toBe(false);
    expect(JSON.parse((await post(url, '/api/queues/orders/purge')).body)).toEqual({ count: 1 });
    const [first, second] = await queue.deadLetters();
    const redrive = await post(url, '/api/queues/orders/redrive', { ids: [first!.id] });
    expect(JSON.parse(redrive.body)).toEqual({ count: 1 });
    const discard = await post(url, '/api/queues/orders/discard', { ids: [second!.id] });
    expect(JSON.parse(discard.body)).toEqual({ count: 1 });
    expect(await queue.stats()).toMatchObject({ ready: 1, dead: 1 });
    expect(JSON.parse((await post(url, '/api/queues/orders/redrive')).body)).toEqual({ count: 1 });
    expect(await queue.stats()).toMatchObject({ ready: 2, dead: 0 });
  });

  it('answer 400 on bad ids, 404 on an unknown queue', async () => {
    const { url } = await serve();
    expect((await post(url, '/api/queues/orders/discard', {})).status).toBe(400);
    expect((await post(url, '/api/queues/orders/discard', { ids: [1] })).status).toBe(400);
    expect((await post(url, '/api/queues/nope/pause')).status).toBe(404);
    expect((await request(new URL('/api/queues/nope/dead-letters', url).href)).status).toBe(404);
  });
});

describe('reading', () => {
  it('pages dead letters oldest first, with the message as pretty JSON text', async () => {
    const { url, queue } = await serve();
    await deadLetter(
      queue,
      Array.from({ length: 120 }, (_, n) => ({ n })),
    );
    const read = async (after?: string) => {
      const query = after === undefined ? '' : `?after=${encodeURIComponent(after)}`;
      return JSON.parse((await request(new URL(`/api/queues/orders/dead-letters${query}`, url).href)).body);
    };
    const first = await read();
    expect(first.letters).toHaveLength(50);
    expect(first.letters[0].message).toBe(JSON.stringify({ n: 0 }, null, 2));
    expect(first.letters[0]).toMatchObject({ attempt: expect.any(Number), reason: expect.any(String) });
    expect(first.next).toBe(first.letters[49].id);
    const second = await read(first.next);
    expect(second.letters[0].message).toContain('"n": 50');
    const third = await read(second.next);
    expect(third.letters).toHaveLength(20);
    expect(third.next).toBeNull();
  });

  it('looks a job up by id, and lists the recent failures', async () => {
    const store = new MemoryJobStore();
    const jobs = new Jobs({ store });
    jobs.use(new QueueMiddleware({ queue: new MemoryQueue(), workers: 1 }));
    jobs.task('send-mail', async (_n: number, _s: string) => {
      throw new Error('<b>boom</b>');
    });
    await jobs.start();
    try {
      const job = await jobs.push('send-mail', [1, 'two'], { id: 'job-1' });
      await job.wait().catch(() => {});
      const { url } = await serve({ jobs: store });
      const found = JSON.parse((await request(new URL('/api/jobs/job-1', url).href)).body);
      expect(found.job).toMatchObject({ id: 'job-1', status: 'failed', error: 'Error: <b>boom</b>' });
      expect(found.job.args).toBe(JSON.stringify([1, 'two'], null, 2));
      expect((await request(new URL('/api/jobs/nope', url).href)).status).toBe(404);
      const list = JSON.parse((await request(new URL('/api/failed-jobs', url).href)).body);
      expect(list.jobs.map((job: { id: string }) => job.id)).toEqual(['job-1']);
    } finally {
      await jobs.stop();
    }
  });

  it('without a job store, has no jobs view', async () => {
    const { url } = await serve();
    expect((await request(new URL('/api/failed-jobs', url).href)).status).toBe(404);
    expect((await request(url)).body).toContain('data-jobs="false"');
  });

  it('samples each queue once per interval, whatever the number of open event streams', async () => {
    const queue = memoryQueue('counted');
    let calls = 0;
    const counted = new Proxy(queue, {
      get(target, property) {
        if (property === 'stats') {
          return () => {
            calls++;
            return target.stats();
          };
        }
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const dashboard = await serveDashboard({ queues: [counted], port: 0 });
    opened.push(dashboard);
    const streams = await Promise.all(
      [0, 1, 2, 3].map(() => openStream(new URL('/events', dashboard.url).href)),
    );
    const before = calls;
    await Promise.all(streams.map((stream) => stream.waitFor(3)));
    const ticks = Math.max(...streams.map((stream) => stream.count()));
    for (const stream of streams) stream.close();
    // Each snapshot costs one stats() call, shared by the four pages.
    expect(calls - before).toBeLessThanOrEqual(ticks + 1);
  });
});
