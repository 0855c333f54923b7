import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import type { MemoryQueueOptions } from '../../src/queuing/memory/options.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import type { SendOptions } from '../../src/queuing/types.js';

/** The error must be an InvalidOptionError whose message names the option and shows the value. */
function expectInvalid(error: unknown, option: string, shown: string): void {
  expect(error).toBeInstanceOf(InvalidOptionError);
  expect((error as InvalidOptionError).code).toBe('INVALID_OPTION');
  expect((error as Error).message).toContain(option);
  expect((error as Error).message).toContain(shown);
}

function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error, nothing was thrown');
}

function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection, the promise resolved');
    },
    (reason: unknown) => reason,
  );
}

describe('MemoryQueue options', () => {
  it.each<[MemoryQueueOptions<unknown>, string, string]>([
    [{ maxsize: -1 }, 'maxsize', '-1'],
    [{ maxsize: Number.NaN }, 'maxsize', 'NaN'],
    [{ maxsize: 1.5 }, 'maxsize', '1.5'],
    [{ maxsize: '10' as never }, 'maxsize', '"10"'],
    [{ order: 'random' as never }, 'order', '"random"'],
    [{ maxAttempts: 0 }, 'maxAttempts', '0'],
    [{ maxAttempts: Number.NaN }, 'maxAttempts', 'NaN'],
    [{ backoff: { type: 'fixed', delay: -5 } }, 'backoff', '-5'],
    [{ backoff: { type: 'linear' } as never }, 'backoff', 'linear'],
    [{ deadLetter: {} as never }, 'deadLetter', '{}'],
  ])('rejects %o naming the option and the value', (options, option, shown) => {
    expectInvalid(
      thrownBy(() => new MemoryQueue(options)),
      option,
      shown,
    );
  });

  it.each([
    [-1, '-1'],
    [Number.NaN, 'NaN'],
    [2.5, '2.5'],
  ])('rejects setting maxsize to %s and keeps the old value', (value, shown) => {
    const queue = new MemoryQueue({ maxsize: 4 });
    expectInvalid(
      thrownBy(() => {
        queue.maxsize = value;
      }),
      'maxsize',
      shown,
    );
    expect(queue.maxsize).toBe(4);
  });
});

describe('send and nack options', () => {
  it.each<[SendOptions, string, string]>([
    [{ priority: Number.NaN }, 'priority', 'NaN'],
    [{ priority: Number.POSITIVE_INFINITY }, 'priority', 'Infinity'],
    [{ priority: Number.NEGATIVE_INFINITY }, 'priority', '-Infinity'],
    [{ priority: '1' as never }, 'priority', '"1"'],
    [{ delay: -1 }, 'delay', '-1'],
    [{ delay: Number.NaN }, 'delay', 'NaN'],
    [{ key: '' }, 'key', '""'],
    [{ key: 7 as never }, 'key', '7'],
    [{ key: 'k\uD800' }, 'key', '"k\\ud800"'],
    [{ key: 'k\r\nx' }, 'key', '"k\\r\\nx"'],
    [{ key: 'k\0' }, 'key', '"k\\u0000"'],
  ])('send rejects %o and accepts nothing', async (options, option, shown) => {
    const queue = new MemoryQueue<string>({ order: 'priority' });
    expectInvalid(await rejectionOf(queue.send('a', options)), option, shown);
    expect(queue.size).toBe(0);
  });

  it('takes a key of up to 1,024 UTF-8 bytes, the longest every broker can carry', async () => {
    const queue = new MemoryQueue<string>();
    const refused = rejectionOf(queue.send('a', { key: `${'é'.repeat(512)}k` }));
    expect(await refused).toBeInstanceOf(InvalidOptionError);
    expect(String(await refused)).toContain('at most 1024 UTF-8 bytes');
    await queue.send('a', { key: 'é'.repeat(512) });
    expect(queue.size).toBe(1);
  });

  it('nack rejects a bad delay and leaves the delivery unsettled', async () => {
    const queue = new MemoryQueue<string>();
    await queue.send('a');
    const { value: delivery } = await queue[Symbol.asyncIterator]().next();
    expectInvalid(await rejectionOf(delivery!.nack({ delay: -3 })), 'delay', '-3');
    expectInvalid(await rejectionOf(delivery!.nack({ requeue: 'yes' as never })), 'requeue', '"yes"');
    await delivery!.ack();
  });
});

describe('Pump options', () => {
  const queue = new MemoryQueue<string>();

  it.each([
    [0, '0'],
    [-1, '-1'],
    [Number.NaN, 'NaN'],
    [1.5, '1.5'],
  ])('draining rejects concurrency %s', (concurrency, shown) => {
    expectInvalid(
      thrownBy(() => new Pump(queue, () => {}).draining({ concurrency })),
      'concurrency',
      shown,
    );
  });

  it('draining rejects a negative or NaN shutdownTimeout', () => {
    const pump = new Pump(queue, () => {});
    expectInvalid(
      thrownBy(() => pump.draining({ shutdownTimeout: -1 })),
      'shutdownTimeout',
      '-1',
    );
    expectInvalid(
      thrownBy(() => pump.draining({ shutdownTimeout: Number.NaN })),
      'shutdownTimeout',
      'NaN',
    );
  });

  it('rejects a dispatcher that is neither a function nor an object with dispatch', () => {
    expectInvalid(
      thrownBy(() => new Pump(queue, 'bus' as never)),
      'dispatcher',
      '"bus"',
    );
    expectInvalid(
      thrownBy(() => new Pump(queue, { handle() {} } as never)),
      'dispatcher',
      '{}',
    );
  });

  it('rejects a consumer that is not async iterable, and a non-function middleware', () => {
    expectInvalid(
      thrownBy(() => new Pump([] as never, () => {})),
      'consumer',
      '[]',
    );
    expectInvalid(
      thrownBy(() => new Pump(queue, () => {}).use(42 as never)),
      'middleware',
      '42',
    );
  });

  it('MemoryQueue.draining rejects bad options before starting', () => {
    const holding = new MemoryQueue<string>();
    expectInvalid(
      thrownBy(() => holding.draining(() => {}, { concurrency: 0 })),
      'concurrency',
      '0',
    );
    expectInvalid(
      thrownBy(() => holding.draining(null as never)),
      'dispatcher',
      'null',
    );
    expect(holding.closed).toBe(false);
  });
});
