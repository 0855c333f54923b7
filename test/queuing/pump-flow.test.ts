/**
 * The pump's side of flow control (SPEC § 7), whatever the queue: limits are checked at the door,
 * handed to the consumer's iterator (`FlowIterator.flow`) when draining starts and on every change,
 * and refused for a consumer that cannot apply them. How a queue applies them is each queue's own
 * test (test/queuing/memory-flow*.test.ts, the flow conformance suite).
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import { type JobEnvelope, Jobs, QueueMiddleware } from '../../src/jobs/index.js';
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import type { Consumer, Delivery, FlowLimits, SendOptions } from '../../src/queuing/types.js';

/** A consumer with nothing to hand out whose iterator records the limits it is given. */
function recordingConsumer(): Consumer<number> & { readonly given: FlowLimits[]; ended: () => void } {
  const given: FlowLimits[] = [];
  let end: () => void = () => {};
  const ended = new Promise<void>((resolve) => {
    end = resolve;
  });
  return {
    given,
    ended: () => end(),
    [Symbol.asyncIterator]() {
      return {
        flow: (limits: FlowLimits) => given.push(limits),
        next: async (): Promise<IteratorResult<Delivery<number>>> => {
          await ended;
          return { done: true, value: undefined };
        },
        return: async () => ({ done: true, value: undefined }),
      };
    },
  };
}

/** A consumer that knows nothing of flow limits: a plain async generator. */
const plainConsumer: Consumer<number> = {
  async *[Symbol.asyncIterator]() {},
};

describe('Pump flow limits', () => {
  it('hands the limits to the iterator when draining starts, and each change after', async () => {
    const consumer = recordingConsumer();
    const draining = new Pump(consumer, () => {}).draining({
      rateLimit: { limit: 100, interval: 1_000 },
      groupConcurrency: 2,
    });
    expect(consumer.given).toEqual([{ rateLimit: { limit: 100, interval: 1_000 }, groupConcurrency: 2 }]);
    expect(Object.isFrozen(consumer.given[0])).toBe(true);

    draining.rateLimit = { limit: 10, interval: 500 };
    expect(draining.rateLimit).toEqual({ limit: 10, interval: 500 });
    draining.groupConcurrency = undefined;
    draining.rateLimit = undefined;
    expect(consumer.given.slice(1)).toEqual([
      { rateLimit: { limit: 10, interval: 500 }, groupConcurrency: 2 },
      { rateLimit: { limit: 10, interval: 500 }, groupConcurrency: undefined },
      { rateLimit: undefined, groupConcurrency: undefined },
    ]);
    consumer.ended();
    await draining.stop();
  });

  it('asks nothing of a consumer when no limit is set', async () => {
    const consumer = recordingConsumer();
    const draining = new Pump(consumer, () => {}).draining({ concurrency: 3 });
    expect(consumer.given).toEqual([]);
    consumer.ended();
    await draining.stop();
  });

  it('keeps a copy: changing the object given afterwards changes nothing', async () => {
    const consumer = recordingConsumer();
    const rateLimit = { limit: 5, interval: 100 };
    const draining = new Pump(consumer, () => {}).draining({ rateLimit });
    rateLimit.limit = 500;
    expect(draining.rateLimit).toEqual({ limit: 5, interval: 100 });
    consumer.ended();
    await draining.stop();
  });

  it.each([
    [{ rateLimit: { limit: 0, interval: 1_000 } }, 'rateLimit.limit'],
    [{ rateLimit: { limit: 1.5, interval: 1_000 } }, 'rateLimit.limit'],
    [{ rateLimit: { limit: 10, interval: -5 } }, 'rateLimit.interval'],
    [{ rateLimit: { limit: 10, interval: 0.5 } }, 'rateLimit.interval'],
    [{ rateLimit: { limit: 10, interval: 2 ** 31 } }, 'rateLimit.interval'],
    [{ rateLimit: { limit: 10 } }, 'rateLimit.interval'],
    [{ rateLimit: null }, 'rateLimit'],
    [{ rateLimit: 100 }, 'rateLimit'],
    [{ groupConcurrency: 0 }, 'groupConcurrency'],
    [{ groupConcurrency: 2.5 }, 'groupConcurrency'],
    [{ groupConcurrency: '2' }, 'groupConcurrency'],
  ])('refuses %j naming %s', (options, name) => {
    const consumer = recordingConsumer();
    const start = () => new Pump(consumer, () => {}).draining(options as never);
    expect(start).toThrow(InvalidOptionError);
    expect(start).toThrow(`invalid ${name}:`);
    expect(consumer.given).toEqual([]);
  });

  it('refuses a bad value set while running, and keeps the limits it had', async () => {
    const consumer = recordingConsumer();
    const draining = new Pump(consumer, () => {}).draining({ groupConcurrency: 2 });
    expect(() => {
      draining.groupConcurrency = 0;
    }).toThrow(InvalidOptionError);
    expect(() => {
      draining.rateLimit = { limit: 0, interval: 10 };
    }).toThrow(InvalidOptionError);
    expect(draining.groupConcurrency).toBe(2);
    expect(consumer.given).toHaveLength(1);
    consumer.ended();
    await draining.stop();
  });

  it('refuses limits on a consumer that cannot apply them, at start and when set later', async () => {
    const start = () => new Pump(plainConsumer, () => {}).draining({ groupConcurrency: 1 });
    expect(start).toThrow(InvalidOptionError);
    expect(start).toThrow(/groupConcurrency.*applies flow limits/);
    const draining = new Pump(plainConsumer, () => {}).draining();
    expect(() => {
      draining.rateLimit = { limit: 1, interval: 1_000 };
    }).toThrow(/rateLimit.*applies flow limits/);
    expect(draining.rateLimit).toBeUndefined();
    await draining.stop();
  });
});

describe('jobs: groups and limits', () => {
  /** A MemoryQueue that records the options of every send. */
  function recordingQueue() {
    const queue = new MemoryQueue<JobEnvelope>({ order: 'priority' });
    const sent: (SendOptions | undefined)[] = [];
    const send = queue.send.bind(queue);
    queue.send = (message, options) => {
      sent.push(options);
      return send(message, options);
    };
    return { queue, sent };
  }

  it('sends a job pushed with a group in that group, and its retry too', async () => {
    const { queue, sent } = recordingQueue();
    const jobs = new Jobs();
    jobs.use(new QueueMiddleware({ queue, workers: 1 }));
    let runs = 0;
    const flaky = jobs.task(
      'flaky',
      () => {
        runs++;
        if (runs === 1) throw new Error('first run fails');
        return 'ok';
      },
      { retry: 1 },
    );
    await jobs.start();
    const job = await flaky.with({ group: 'tenant-1' }).push();
    expect(await job.wait()).toBe('success');
    expect(job.result()).toBe('ok');
    expect(sent.map((options) => options?.group)).toEqual(['tenant-1', 'tenant-1']);
    await jobs.stop();
  });

  it('refuses a bad group at push, and bad limits on a QueueMiddleware', () => {
    const jobs = new Jobs();
    const task = jobs.task('t', () => {});
    for (const group of [7, '', 'a\u0000b', 'x'.repeat(256)]) {
      expect(() => task.with({ group } as never)).toThrow(InvalidOptionError);
    }
    expect(() => new QueueMiddleware({ rateLimit: { limit: 0, interval: 1_000 } })).toThrow(
      InvalidOptionError,
    );
    expect(() => new QueueMiddleware({ groupConcurrency: -1 })).toThrow(InvalidOptionError);
    const middleware = new QueueMiddleware({ groupConcurrency: 2 });
    expect(() => {
      middleware.groupConcurrency = 0;
    }).toThrow(InvalidOptionError);
    expect(middleware.groupConcurrency).toBe(2);
  });
});
