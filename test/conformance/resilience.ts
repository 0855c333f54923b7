/**
 * The durable suite's cases on what a production queue meets beyond the happy path, run for every
 * adapter inside `durableQueueSuite` (see durable.ts for the harness and its conventions):
 *
 * - A consumer stops only when it is told to (`stop`, `close`) or on an error no retry can fix, never
 *   on a transient outage: consumers started before, during and after a real broker restart, with
 *   handlers failing while it is down, all carry on with no process restart.
 * - Hostile input is refused at the door (`InvalidOptionError`, `SerializationError`), and a poison
 *   message is dead-lettered once with a bounded reason while later messages keep flowing.
 */
import { expect, it } from 'vitest';
import { InvalidOptionError, SerializationError } from '../../src/errors.js';
import type { Draining } from '../../src/queuing/pump/draining.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import type { Queue } from '../../src/queuing/types.js';
import type { BrokerDelivery } from '../../src/transports/shared/delivery.js';
import { deferred, sleep, within } from '../support/async.js';
import { expectNothing, receive, sendRetrying } from '../support/deliveries.js';
import type { DurableHarness, DurableQueueOptions } from './durable.js';

interface Numbered {
  n: number;
}

/** What the durable suite lends these cases: fresh queue names and handles it cleans up after. */
export interface SuiteScope {
  queueName(label: string): string;
  open<T>(name: string, options?: DurableQueueOptions): Queue<T>;
}

type Phase = 'before' | 'during' | 'after';

/** Resolves once `condition()` holds, polling; fails naming `what` after `ms`. */
async function until(condition: () => boolean, ms: number, what: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what()}`);
    await sleep(50);
  }
}

export function resilienceCases(harness: DurableHarness, { queueName, open }: SuiteScope): void {
  it.runIf(harness.restart !== undefined)(
    'keeps every consumer going across a broker restart: started before, during and after it, handlers failing meanwhile',
    async () => {
      const phases: Phase[] = ['before', 'during', 'after'];
      const names = Object.fromEntries(phases.map((phase) => [phase, queueName(phase)])) as Record<
        Phase,
        string
      >;
      const producers = Object.fromEntries(phases.map((phase) => [phase, open<Numbered>(names[phase])]));
      const handled: Record<Phase, Set<number>> = { before: new Set(), during: new Set(), after: new Set() };
      const options = {
        visibilityTimeout: 2_000,
        maxAttempts: 1_000,
        backoff: { type: 'fixed', delay: 100 },
      } as const;
      const drainings: Draining<Numbered>[] = [];
      const stoppedOnTheirOwn: string[] = [];
      let stopping = false;
      let down = false;
      const inHand = deferred();
      const wentDown = deferred();
      let held = 0;

      const consume = (phase: Phase) => {
        const draining = new Pump(
          open<Numbered>(names[phase], options),
          async (message: Numbered) => {
            if (phase === 'before' && message.n < 3 && handled.before.size === 0) {
              if (++held === 3) inHand.resolve();
              await wentDown.promise; // still in hand when the broker goes down: its nack fails
            }
            if (down) throw new Error('failing while the broker is down');
            handled[phase].add(message.n);
          },
          { failSilently: true },
        ).draining({ concurrency: 4 });
        const ended = (why: string) => stopping || stoppedOnTheirOwn.push(`${phase}: ${why}`);
        draining.done.then(
          () => ended('ended'),
          (error) => ended(String(error)),
        );
        drainings.push(draining);
      };

      for (let n = 0; n < 3; n++) await producers.before!.send({ n });
      consume('before');
      await within(inHand.promise, 15_000, () => `3 messages in hand, ${held} so far`);

      await harness.restart!(async () => {
        down = true;
        wentDown.resolve();
        consume('during'); // opened and iterated while nothing answers
        await sleep(1_500);
      });
      down = false;
      consume('after');

      const later = [10, 11, 12, 13, 14];
      for (const phase of phases) {
        for (const n of later) await sendRetrying(producers[phase]!, { n }, 60_000);
      }
      const expected: Record<Phase, number[]> = { before: [0, 1, 2, ...later], during: later, after: later };
      await until(
        () =>
          stoppedOnTheirOwn.length > 0 ||
          phases.every((phase) => expected[phase].every((n) => handled[phase].has(n))),
        60_000,
        () => phases.map((phase) => `${phase}: ${[...handled[phase]].sort((a, b) => a - b)}`).join('; '),
      );
      expect(stoppedOnTheirOwn).toEqual([]);
      stopping = true;
      await Promise.all(drainings.map((draining) => draining.stop()));
    },
    150_000,
  );

  it('refuses hostile input at the door: names and keys that are not well-formed, delays it cannot store, nesting too deep', async () => {
    expect(() => open('q\uD800')).toThrow(InvalidOptionError);
    expect(() => open('q\0')).toThrow(InvalidOptionError);
    expect(() => open('q'.repeat(10_000))).toThrow(InvalidOptionError);
    expect(() => open(queueName('dead-name'), { deadLetter: 'dead\r\n' })).toThrow(InvalidOptionError);
    const queue = open<unknown>(queueName('door'));
    for (const key of ['k\uD800', 'k\r\nx', 'k\0', `${'é'.repeat(512)}k`]) {
      await expect(queue.send({ n: 1 }, { key })).rejects.toBeInstanceOf(InvalidOptionError);
    }
    await expect(queue.send({ n: 1 }, { delay: 1e13 })).rejects.toBeInstanceOf(InvalidOptionError);
    let deep: unknown = 1;
    for (let i = 0; i < 300; i++) deep = [deep];
    await expect(queue.send(deep)).rejects.toBeInstanceOf(SerializationError);
    await queue.send({ n: 1 }, { key: 'k\uFFFD' }); // what a lone surrogate would have become: fine
    await queue.send({ n: 2 }, { key: 'é'.repeat(512) }); // the longest key: 1,024 bytes
    await queue.send({ n: 3 }, { key: 'é'.repeat(512) }); // deduplicated
    const deliveries = await receive(queue, 2);
    expect(deliveries.map((d) => (d.message as Numbered).n).sort()).toEqual([1, 2]);
    await Promise.all(deliveries.map((d) => d.ack()));
    await expectNothing(queue, 300);
  });

  it('dead-letters poison once with a bounded reason, later messages flowing: a body nested 100,000 deep, a handler error of 200 KB with control characters, a backoff that fails', async () => {
    const name = queueName('poison');
    const failing = queueName('backoff');
    await harness.sendRaw(name, `{"payload":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
    const queue = open<Numbered>(name, { maxAttempts: 2, backoff: { type: 'fixed', delay: 50 } });
    const broken = open<Numbered>(failing, { maxAttempts: 5, backoff: () => Number.NaN });
    await queue.send({ n: 1 });
    await queue.send({ n: 2 });
    await broken.send({ n: 3 });
    const handled: number[] = [];
    const handler = (message: Numbered) => {
      if (message.n !== 2) {
        if (message.n === 3) throw new Error('n = 3 fails');
        return void handled.push(message.n);
      }
      throw new Error(`bad\0\r\n${'x'.repeat(200_000)}`);
    };
    const drainings = [queue, broken].map((q) => new Pump(q, handler, { failSilently: true }).draining());
    let stopped = false;
    for (const draining of drainings) draining.done.finally(() => (stopped = true)).catch(() => {});

    const dead = await receive(open<unknown>(`${name}.dead`), 2, 30_000);
    const [deadBackoff] = await receive(open<unknown>(`${failing}.dead`), 1, 30_000);
    await queue.send({ n: 4 });
    await until(
      () => handled.includes(4),
      15_000,
      () => `handled: ${handled}`,
    );
    expect(stopped).toBe(false);
    expect(handled).toEqual([1, 4]);

    const reasons = new Map(
      dead.map((d) => [
        typeof d.message === 'string' ? 'deep' : 'error',
        (d as BrokerDelivery<unknown>).deadLetterReason,
      ]),
    );
    expect(reasons.get('deep')).toMatch(/nested deeper than 256 levels/);
    const reason = reasons.get('error')!;
    expect(reason).toMatch(/^failed 2 of 2 attempts: bad {3}x+…$/);
    expect(reason.length).toBeLessThan(1_100);
    expect((deadBackoff as BrokerDelivery<unknown>).deadLetterReason).toMatch(
      /^backoff failed on attempt 1: /,
    );
    await Promise.all([...dead, deadBackoff!].map((d) => d.ack()));
    // Dead-lettered once each: nothing more arrives, as it would from a settle failing in a loop.
    await expectNothing(open<unknown>(`${name}.dead`), 1_000);
    await expectNothing(open<unknown>(`${failing}.dead`), 500);
    await Promise.all(drainings.map((draining) => draining.stop()));
  }, 60_000);
}
