/**
 * Seeded, randomized model-based tests of MemoryQueue and Pump. Timers are faked and each step waits
 * until every promise callback ran, so a seed replays the same run. A failure names its seed, the
 * configuration and the last operations; `SEED=n npx vitest run <this file>` replays one seed.
 *
 * - An exact model: one queue, one or two consumers (iterators asked for one message at a time, or a
 *   Pump at concurrency 1), one operation at a time. The model states the README's rules plainly
 *   (orders, maxsize, waiting senders, delays, retries, dedup keys, close) and must agree with the
 *   queue after every step: what each consumer received, `size`, and how every send settled.
 * - Concurrent actors: producers, several consumers (`for await`, iterators with several pending
 *   next() calls, pumps re-tuned live, one consumer stopped mid-run), resizes and a close, all
 *   interleaved. What holds whatever the interleaving is checked: nothing lost or duplicated, attempts
 *   counted, keys held while their message is anywhere, size bounded, senders admitted in arrival
 *   order, pump concurrency respected, and everything settles once the queue is closed.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeliverySettledError, QueueClosedError } from '../../src/errors.js';
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import type { Draining } from '../../src/queuing/pump/draining.js';
import { Pump, type PumpContext } from '../../src/queuing/pump/pump.js';
import type { Consumer, Delivery, NackOptions, SendOptions } from '../../src/queuing/types.js';
import { flush } from '../support/async.js';
import { Random } from '../support/random.js';

// Only timers are faked: flush() relies on a real setImmediate to let promise callbacks run.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
});
afterEach(() => {
  vi.useRealTimers();
});

type Order = 'fifo' | 'lifo' | 'priority';
const ORDERS: Order[] = ['fifo', 'lifo', 'priority'];
const MAXSIZES = [0, 1, 3, 8, Number.POSITIVE_INFINITY];
const KEYS = ['a', 'b', 'c'];

interface Message {
  readonly id: number;
}

/** The operations of one run, so that a failure shows how it got there. */
class History {
  readonly #lines: string[] = [];

  constructor(readonly title: string) {}

  log(line: string): void {
    this.#lines.push(line);
  }

  failure(error: unknown): Error {
    const tail = this.#lines.slice(-40).join('\n  ');
    const reason = error instanceof Error ? error.message : String(error);
    return new Error(`${this.title}\n${reason}\nlast operations:\n  ${tail}`, { cause: error });
  }
}

/** Runs `run` for each seed; a failure names the seed (re-run one with `SEED=n`). */
async function forEachSeed(count: number, run: (seed: number) => Promise<void>): Promise<void> {
  const only = process.env.SEED;
  const seeds = only ? [Number(only)] : Array.from({ length: count }, (_, i) => i + 1);
  for (const seed of seeds) {
    vi.clearAllTimers();
    await run(seed);
  }
}

type SendState = 'pending' | 'resolved' | 'rejected';

function describeConfig(config: object): string {
  return Object.entries(config)
    .map(([name, value]) => `${name}: ${String(value)}`)
    .join(', ');
}

class HandlerFailure extends Error {
  constructor() {
    super('handler failed');
  }
}

// ---------------------------------------------------------------------------------------------------
// The exact model
// ---------------------------------------------------------------------------------------------------

interface Entry {
  readonly id: number;
  readonly priority: number;
  readonly key: string | undefined;
  readonly attempt: number;
  /** Arrival order among equal priorities: the send for a new message, readiness for the others. */
  seq: number;
}

/** The README's rules for one MemoryQueue and its consumers, stated as plainly as possible. */
class QueueSpec {
  /** Ready messages, in the order they became ready. */
  readonly ready: Entry[] = [];
  /** Delayed messages and retries, in the order they were scheduled. */
  readonly scheduled: { entry: Entry; at: number }[] = [];
  /** Senders waiting for room, in arrival order. */
  readonly senders: Entry[] = [];
  /** Consumers waiting for a message, in the order they asked. */
  readonly waiting: number[] = [];
  readonly sends = new Map<number, SendState>();
  /** Holder of each dedup key. */
  readonly keys = new Map<string, number>();
  /** What each consumer received, in order; `done` once its iteration ended. */
  readonly received: (Entry | 'done')[][];
  readonly dead: number[] = [];
  closed = false;
  now = 0;
  #seq = 0;
  /** The duplicates of each message waiting for room: they share its fate. */
  readonly #duplicates = new Map<number, number[]>();

  constructor(
    consumers: number,
    readonly order: Order,
    public maxsize: number,
    readonly maxAttempts: number,
    readonly backoff: number,
    readonly deadLetter: boolean,
  ) {
    this.received = Array.from({ length: consumers }, () => []);
  }

  get size(): number {
    return this.ready.length + this.scheduled.length;
  }

  get ended(): boolean {
    return this.closed && this.size === 0;
  }

  send(id: number, { priority = 0, delay = 0, key }: SendOptions): void {
    if (this.closed) {
      this.sends.set(id, 'rejected');
      return;
    }
    const holder = key === undefined ? undefined : this.keys.get(key);
    if (holder !== undefined) {
      // a duplicate: no copy; it shares the fate of a holder still waiting for room
      const waiting = this.sends.get(holder) === 'pending';
      this.sends.set(id, waiting ? 'pending' : 'resolved');
      if (waiting) this.#duplicates.get(holder)!.push(id);
      return;
    }
    if (key !== undefined) this.keys.set(key, id);
    this.#duplicates.set(id, []);
    const entry: Entry = { id, priority, key, attempt: 1, seq: this.#seq++ };
    if (delay > 0) {
      this.sends.set(id, 'resolved'); // a delayed send never waits
      this.scheduled.push({ entry, at: this.now + delay });
    } else {
      this.sends.set(id, 'pending');
      this.senders.push(entry);
    }
    this.#settle();
  }

  /** A consumer asks for its next message. */
  take(consumer: number): void {
    const received = this.received[consumer]!;
    if (this.ready.length > 0) received.push(this.#pick());
    else if (this.senders.length > 0 && !this.#overfull())
      received.push(this.#accepted(this.senders.shift()!));
    else if (this.ended) received.push('done');
    else this.waiting.push(consumer);
    this.#settle();
  }

  /** A consumer's iterator was returned: the next() it was waiting on ends. */
  returned(consumer: number): void {
    const at = this.waiting.indexOf(consumer);
    if (at < 0) return;
    this.waiting.splice(at, 1);
    this.received[consumer]!.push('done');
  }

  ack(entry: Entry): void {
    this.#release(entry);
  }

  nack(entry: Entry, { requeue, delay }: NackOptions): void {
    if (requeue === false || (requeue !== true && entry.attempt >= this.maxAttempts)) {
      if (this.deadLetter) this.dead.push(entry.id);
      this.#release(entry);
      return;
    }
    const retry: Entry = { ...entry, attempt: entry.attempt + 1, seq: this.#seq++ };
    const wait = delay ?? (requeue ? 0 : this.backoff);
    if (wait > 0) this.scheduled.push({ entry: retry, at: this.now + wait });
    else this.ready.push(retry);
    this.#settle();
  }

  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      let first: number | undefined;
      this.scheduled.forEach(({ at }, i) => {
        if (at <= until && (first === undefined || at < this.scheduled[first]!.at)) first = i;
      });
      if (first === undefined) break;
      const [{ entry, at }] = this.scheduled.splice(first, 1) as [{ entry: Entry; at: number }];
      this.now = at;
      entry.seq = this.#seq++; // ready now: behind what was ready before it
      this.ready.push(entry);
      this.#settle();
    }
    this.now = until;
  }

  resize(maxsize: number): void {
    this.maxsize = maxsize;
    this.#settle();
  }

  close(): void {
    this.closed = true;
    for (const entry of this.senders.splice(0)) {
      for (const id of [entry.id, ...this.#duplicates.get(entry.id)!]) this.sends.set(id, 'rejected');
      this.#release(entry);
    }
    this.#settle();
  }

  /** Hands ready messages to waiting consumers and admits waiting senders while there is room. */
  #settle(): void {
    for (;;) {
      if (this.waiting.length > 0 && this.ready.length > 0) this.#handOver(this.#pick());
      else if (this.senders.length > 0 && this.size < this.maxsize)
        this.ready.push(this.#accepted(this.senders.shift()!));
      else if (this.senders.length > 0 && this.waiting.length > 0 && !this.#overfull()) {
        this.#handOver(this.#accepted(this.senders.shift()!));
      } else break;
    }
    if (this.ended) while (this.waiting.length > 0) this.#handOver('done');
  }

  /** Delayed messages and retries, never refused, hold more than maxsize: senders wait, even for an idle consumer. */
  #overfull(): boolean {
    return this.maxsize > 0 && this.scheduled.length > this.maxsize;
  }

  #handOver(entry: Entry | 'done'): void {
    this.received[this.waiting.shift()!]!.push(entry);
  }

  #accepted(entry: Entry): Entry {
    for (const id of [entry.id, ...this.#duplicates.get(entry.id)!]) this.sends.set(id, 'resolved');
    return entry;
  }

  #release(entry: Entry): void {
    if (entry.key !== undefined && this.keys.get(entry.key) === entry.id) this.keys.delete(entry.key);
  }

  /** Removes the next ready message in this queue's order. */
  #pick(): Entry {
    if (this.order === 'fifo') return this.ready.shift()!;
    if (this.order === 'lifo') return this.ready.pop()!;
    let best = 0;
    this.ready.forEach((entry, i) => {
      const top = this.ready[best]!;
      if (entry.priority > top.priority || (entry.priority === top.priority && entry.seq < top.seq)) best = i;
    });
    return this.ready.splice(best, 1)[0]!;
  }
}

/**
 * One consumer of the exact model: an iterator asked for one message at a time (`take`), or a pump
 * at concurrency 1 that asks by itself once it settled its message.
 */
interface ExactConsumer {
  readonly name: string;
  readonly iterator: AsyncIterator<Delivery<Message>> | undefined;
  /** Observed: what it received, in order, and `done`. */
  readonly received: string[];
  waiting: boolean;
  returned: boolean;
}

/** A message a consumer holds: a delivery from its iterator, or a pump dispatch waiting on its outcome. */
interface InHand {
  readonly consumer: number;
  readonly entry: Entry;
  readonly delivery?: Delivery<Message>;
  readonly dispatch?: { succeed(): void; fail(): void };
}

/** The configuration of one run's queue: order, maxsize, retry policy and a dead-letter queue or none. */
function randomQueueConfig(random: Random) {
  return {
    order: random.pick(ORDERS),
    maxsize: random.pick(MAXSIZES),
    maxAttempts: 1 + random.int(3),
    backoff: 1 + random.int(3),
    deadLetter: random.chance(0.5) ? new MemoryQueue<Message>({ name: 'dead' }) : undefined,
  };
}

function queueFor(setup: ReturnType<typeof randomQueueConfig>): MemoryQueue<Message> {
  const { backoff, ...options } = setup;
  return new MemoryQueue<Message>({ ...options, backoff: { type: 'fixed', delay: backoff } });
}

const format = (entry: Entry | 'done') => (entry === 'done' ? 'done' : `#${entry.id}@${entry.attempt}`);

async function runExactModel(seed: number): Promise<void> {
  const random = new Random(seed);
  const setup = randomQueueConfig(random);
  const { order, maxsize, maxAttempts, backoff, deadLetter } = setup;
  const kinds = Array.from({ length: 1 + random.int(2) }, (_, c) =>
    c === 0 && random.chance(0.4) ? 'pump' : 'iterator',
  );
  const config = {
    order,
    maxsize,
    maxAttempts,
    backoff,
    deadLetter: deadLetter !== undefined,
    consumers: kinds,
  };
  const history = new History(`exact model, seed ${seed}: ${describeConfig(config)}`);
  const queue = queueFor(setup);
  const spec = new QueueSpec(kinds.length, order, maxsize, maxAttempts, backoff, deadLetter !== undefined);
  const sendStates = new Map<number, string>();
  const inHand: InHand[] = [];
  let draining: Draining<Message> | undefined;

  /** Holds what a consumer received, if the model expected it (check() reports it if not). */
  const hold = (
    consumer: number,
    message: Message,
    attempt: number,
    how: Omit<InHand, 'consumer' | 'entry'>,
  ) => {
    const received = spec.received[consumer]!;
    const entry = received.find(
      (e): e is Entry => e !== 'done' && e.id === message.id && e.attempt === attempt,
    );
    if (entry !== undefined) inHand.push({ consumer, entry, ...how });
  };
  const consumers: ExactConsumer[] = kinds.map((kind, c) => {
    const name = `${kind} ${c}`;
    const consumer: ExactConsumer = {
      name,
      iterator: undefined,
      received: [],
      waiting: false,
      returned: false,
    };
    if (kind === 'iterator') return { ...consumer, iterator: queue[Symbol.asyncIterator]() };
    const dispatch = (message: Message, { attempt }: PumpContext<Message>) => {
      consumer.received.push(`#${message.id}@${attempt}`);
      return new Promise<void>((succeed, reject) => {
        hold(c, message, attempt, { dispatch: { succeed, fail: () => reject(new HandlerFailure()) } });
      });
    };
    draining = new Pump(queue, dispatch, { failSilently: true }).draining({ graceful: true });
    draining.done.then(() => consumer.received.push('done'));
    spec.take(c);
    return consumer;
  });
  const finished = (c: number) => consumers[c]!.returned || consumers[c]!.received.at(-1) === 'done';
  /** Iterators that may ask for a message now. */
  const idle = () =>
    kinds.flatMap((kind, c) => (kind === 'iterator' && !consumers[c]!.waiting && !finished(c) ? [c] : []));

  const take = (c: number) => {
    const consumer = consumers[c]!;
    history.log(`${consumer.name} takes`);
    consumer.waiting = true;
    spec.take(c);
    consumer.iterator!.next().then((result) => {
      consumer.waiting = false;
      if (result.done) consumer.received.push('done');
      else {
        const { message, attempt } = result.value;
        consumer.received.push(`#${message.id}@${attempt}`);
        hold(c, message, attempt, { delivery: result.value });
      }
    });
  };
  let nextId = 1;
  const send = (options: SendOptions) => {
    const id = nextId++;
    history.log(`send #${id} ${JSON.stringify(options)}`);
    sendStates.set(id, 'pending');
    spec.send(id, options);
    queue.send({ id }, options).then(
      () => sendStates.set(id, 'resolved'),
      (error: unknown) => sendStates.set(id, error instanceof QueueClosedError ? 'rejected' : String(error)),
    );
  };
  /** Settles one held message: succeeds (acks) when told to, else at random, and always after 4 attempts. */
  const settle = (succeeds?: boolean) => {
    const [held] = inHand.splice(random.int(inHand.length), 1) as [InHand];
    const { consumer, entry } = held;
    const ok = succeeds ?? (random.chance(0.6) || entry.attempt > 4);
    const name = consumers[consumer]!.name;
    if (held.dispatch !== undefined) {
      history.log(`${name}: dispatch of ${format(entry)} ${ok ? 'succeeds' : 'fails'}`);
      if (ok) spec.ack(entry);
      else spec.nack(entry, {});
      spec.take(consumer); // the pump takes the next message once it settled this one
      if (ok) held.dispatch.succeed();
      else held.dispatch.fail();
      return;
    }
    const how = ok ? 'ack' : random.pick(['nack', 'requeue', 'dead-letter', 'delay', 'dispose'] as const);
    const options: NackOptions = {};
    if (how === 'requeue' || how === 'dead-letter') options.requeue = how === 'requeue';
    if (how === 'delay') options.delay = random.int(4);
    history.log(`${name} ${how}s ${format(entry)} ${JSON.stringify(options)}`);
    const delivery = held.delivery!;
    if (how === 'ack') {
      spec.ack(entry);
      void delivery.ack();
    } else {
      spec.nack(entry, options);
      void (how === 'dispose' ? delivery[Symbol.asyncDispose]() : delivery.nack(options));
    }
  };
  const advance = (ms: number) => {
    history.log(`advance ${ms} ms`);
    spec.advance(ms);
    vi.advanceTimersByTime(ms);
  };
  /** Compares cheaply first: expect() only to report a difference. */
  const check = async () => {
    await flush();
    consumers.forEach(({ name, received }, c) => {
      const expected = spec.received[c]!.map(format);
      if (received.join() !== expected.join()) expect(received, `what ${name} received`).toEqual(expected);
    });
    if (queue.size !== spec.size) expect(queue.size, 'size').toBe(spec.size);
    for (const [id, state] of spec.sends) {
      if (sendStates.get(id) !== state) expect(sendStates.get(id), `how send #${id} settled`).toBe(state);
    }
  };

  try {
    await check();
    for (let step = 0; step < 80; step++) {
      const open = consumers.filter((_, c) => !finished(c)).length;
      const returnable = kinds.flatMap((kind, c) => (kind === 'iterator' && !finished(c) ? [c] : []));
      const op = random.weighted({
        send: 30,
        delayed: 8,
        take: idle().length > 0 ? 20 : 0,
        settle: inHand.length > 0 ? 25 : 0,
        advance: 12,
        resize: 5,
        return: returnable.length > 0 && open > 1 ? 1 : 0,
        close: step > 40 && !spec.closed ? 2 : 0,
      });
      if (op === 'send' || op === 'delayed') {
        const options: SendOptions = { priority: random.int(4) - 1 };
        if (random.chance(0.3)) options.key = random.pick(KEYS);
        if (op === 'delayed') options.delay = 1 + random.int(5);
        send(options);
      } else if (op === 'take') {
        take(random.pick(idle()));
      } else if (op === 'settle') {
        settle();
      } else if (op === 'advance') {
        advance(1 + random.int(3));
      } else if (op === 'resize') {
        const next = random.pick([...MAXSIZES, 2]);
        history.log(`maxsize = ${next}`);
        spec.resize(next);
        queue.maxsize = next;
      } else if (op === 'return') {
        const c = random.pick(returnable);
        history.log(`${consumers[c]!.name} returns its iterator`);
        consumers[c]!.returned = true;
        spec.returned(c);
        await consumers[c]!.iterator!.return!();
      } else {
        history.log('close');
        spec.close();
        await queue.close();
      }
      await check();
    }
    if (!spec.closed) {
      history.log('close');
      spec.close();
      await queue.close();
      await check();
    }
    // Drain what is left: take, ack, and wait out delays, until every iteration ended.
    for (let step = 0; !consumers.every((_, c) => finished(c)); step++) {
      if (step > 500) throw new Error('the iterations never ended');
      if (inHand.length > 0) settle(true);
      else if (idle().length > 0) take(idle()[0]!);
      else advance(1);
      await check();
    }
    await draining?.stop();
    if (deadLetter !== undefined) {
      await deadLetter.close();
      const dead: number[] = [];
      for await (const delivery of deadLetter) dead.push(delivery.message.id);
      expect(dead, 'dead-lettered messages').toEqual(spec.dead);
    }
  } catch (error) {
    throw history.failure(error);
  }
}

describe('MemoryQueue against an exact model of its rules', () => {
  it('agrees after every step, for many seeds', async () => {
    await forEachSeed(300, runExactModel);
  });
});

// ---------------------------------------------------------------------------------------------------
// Concurrent actors
// ---------------------------------------------------------------------------------------------------

/** What a message's last settlement allows next: another delivery, none, or either (unknowable). */
type Next = 'delivery' | 'none' | 'either';

/** How a consumer settled a delivery, as far as the model can tell. */
type Outcome =
  | 'ack'
  | 'nack' // by the retry policy: redelivered while attempts remain, else dead-lettered
  | 'requeue'
  | 'dead-letter'
  | 'released' // a dispatch that failed once a stop aborted it: put back
  | 'nack-or-release'; // a dispatch that failed as a stop may have begun: nacked, or put back

interface Sent {
  readonly id: number;
  readonly key: string | undefined;
  readonly delayed: boolean;
  readonly afterClose: boolean;
  /**
   * Sent by a handler as it starts: a waiting sender admitted straight to an idle pump resolves only
   * after the dispatch started, so this send may resolve first.
   */
  readonly fromHandler: boolean;
  /** `undefined` for a new message; else the message holding the key, of which this is a duplicate. */
  readonly original: Sent | undefined;
  /** Whether the original's send was still pending when this duplicate was sent. */
  readonly originalPending: boolean;
  state: SendState;
  pendingAtClose: boolean;
  /** The last attempt delivered (0: none yet). */
  attempt: number;
  holder: string | undefined;
  next: Next;
  /** After `next` is `none`: whether the message was acked or dead-lettered (or dropped). */
  end: 'acked' | 'dead' | undefined;
}

/** Where a dedup key stands: held by `owner`, being released (free once callbacks ran), or unknown. */
interface KeyHold {
  readonly owner: Sent;
  phase: 'held' | 'releasing' | 'unknown';
}

/**
 * What must hold whatever the interleaving. Consumers report what they receive and how they settle
 * it; producers report their sends. Keyed sends avoid a key whose release is under way (its holder
 * was settled, callbacks pending): the model could not tell whether they add a copy.
 */
class Invariants {
  readonly violations: string[] = [];
  closed = false;
  readonly #sent: Sent[] = [];
  readonly #keys = new Map<string, KeyHold>();
  /** New messages sent without delay, in the order their sends resolved. */
  readonly #accepted: number[] = [];
  /** Highest maxsize so far: what was sent without delay never holds more. */
  #ceiling: number;
  /** Delayed messages and retries not delivered yet: never held back, they may pass maxsize. */
  #exempt = 0;
  readonly #counts = new Map<string, { acked: number; failed: number }>();

  constructor(
    readonly queue: MemoryQueue<Message>,
    readonly maxAttempts: number,
    readonly deadLetter: boolean,
  ) {
    this.#ceiling = queue.maxsize;
  }

  keyUsable(key: string): boolean {
    const hold = this.#keys.get(key);
    return hold === undefined || hold.phase === 'held';
  }

  sending(id: number, { key, delay = 0 }: SendOptions, fromHandler: boolean): Sent {
    const hold = key === undefined || this.closed ? undefined : this.#keys.get(key);
    const sent: Sent = {
      id,
      key,
      delayed: delay > 0,
      afterClose: this.closed,
      fromHandler,
      original: hold?.owner,
      originalPending: hold?.owner.state === 'pending',
      state: 'pending',
      pendingAtClose: false,
      attempt: 0,
      holder: undefined,
      next: hold === undefined && !this.closed ? 'delivery' : 'none',
      end: undefined,
    };
    this.#sent.push(sent);
    if (sent.next === 'delivery') {
      if (key !== undefined) this.#keys.set(key, { owner: sent, phase: 'held' });
      if (sent.delayed) this.#exempt++;
    }
    return sent;
  }

  sendSettled(sent: Sent, state: SendState, error?: unknown): void {
    sent.state = state;
    if (error !== undefined && !(error instanceof QueueClosedError)) {
      this.violations.push(`send #${sent.id} rejected with ${String(error)}`);
    }
    if (state === 'resolved' && sent.original === undefined && !sent.delayed && !sent.fromHandler) {
      this.#accepted.push(sent.id);
    }
  }

  delivered(id: number, attempt: number, consumer: string): Sent {
    const sent = this.#sent[id - 1]!;
    const what = `#${id}@${attempt} delivered to ${consumer}`;
    if (sent.original !== undefined) this.violations.push(`${what}: a duplicate of #${sent.original.id}`);
    else if (sent.afterClose || sent.state === 'rejected')
      this.violations.push(`${what}: its send was refused`);
    else if (sent.holder !== undefined) this.violations.push(`${what} while ${sent.holder} holds it`);
    else if (sent.next === 'none') this.violations.push(`${what}: it was ${sent.end} already`);
    else if (attempt !== sent.attempt + 1)
      this.violations.push(`${what}: attempt ${sent.attempt} was the last`);
    if (attempt > 1 || sent.delayed) this.#exempt--;
    const hold = sent.key === undefined ? undefined : this.#keys.get(sent.key);
    if (hold?.owner === sent) hold.phase = 'held'; // an unknown settlement turned out to be a retry
    sent.attempt = attempt;
    sent.holder = consumer;
    return sent;
  }

  /** Reported before the queue learns of it, so that the retry it may add is counted in time. */
  settled(sent: Sent, consumer: string, outcome: Outcome): void {
    sent.holder = undefined;
    const spent = sent.attempt >= this.maxAttempts;
    const ends = outcome === 'ack' || outcome === 'dead-letter' || (outcome === 'nack' && spent);
    sent.next = ends ? 'none' : outcome === 'nack-or-release' && spent ? 'either' : 'delivery';
    sent.end = outcome === 'ack' ? 'acked' : ends ? 'dead' : undefined;
    if (sent.next !== 'none') this.#exempt++;
    const hold = sent.key === undefined ? undefined : this.#keys.get(sent.key);
    if (hold?.owner === sent && sent.next !== 'delivery') hold.phase = ends ? 'releasing' : 'unknown';
    const counts = this.#counts.get(consumer) ?? { acked: 0, failed: 0 };
    if (outcome === 'ack') counts.acked++;
    if (outcome === 'nack') counts.failed++;
    this.#counts.set(consumer, counts);
  }

  /** Dispatches a pump settled as `ack` and `nack`, and failed. */
  counts(consumer: string): { acked: number; failed: number } {
    return this.#counts.get(consumer) ?? { acked: 0, failed: 0 };
  }

  /** Every callback has run: keys being released are free. */
  tick(): void {
    for (const [key, hold] of this.#keys) if (hold.phase === 'releasing') this.#keys.delete(key);
  }

  resized(maxsize: number, sizeBefore: number): void {
    this.#ceiling = Math.max(this.#ceiling, maxsize);
    if (this.queue.size < sizeBefore) this.violations.push(`maxsize = ${maxsize} dropped messages`);
  }

  checkSize(when: string): void {
    const bound = this.#ceiling + this.#exempt;
    if (this.queue.size > bound) {
      this.violations.push(
        `${when}: size ${this.queue.size} > ${this.#ceiling} + ${this.#exempt} delayed or retried`,
      );
    }
  }

  closing(): void {
    this.closed = true;
    for (const sent of this.#sent) if (sent.state === 'pending') sent.pendingAtClose = true;
  }

  /** Sends not settled and messages not finished, for a run that hangs. */
  unfinished(): string {
    const pending = this.#sent.filter((s) => s.state === 'pending').map((s) => `#${s.id}`);
    const open = this.#sent
      .filter((s) => s.state === 'resolved' && s.next !== 'none')
      .map((s) => `#${s.id}@${s.attempt}${s.holder ? ` held by ${s.holder}` : ''}`);
    return `sends pending: [${pending.join(' ')}], messages not finished: [${open.join(' ')}]`;
  }

  /** Once everything settled: each message's fate, given what reached the dead-letter queue. */
  finalCheck(deadLettered: number[]): string[] {
    const problems: string[] = [];
    const dead = new Set(deadLettered);
    if (dead.size < deadLettered.length) problems.push(`dead-lettered twice: ${deadLettered.join(' ')}`);
    for (const sent of this.#sent) {
      const what = `#${sent.id}`;
      const inDead = dead.has(sent.id);
      if (sent.state === 'pending') problems.push(`${what}: its send never settled`);
      if (sent.afterClose && sent.state !== 'rejected')
        problems.push(`${what}: sent after close, not refused`);
      if (sent.state === 'rejected' && !sent.afterClose && !sent.pendingAtClose) {
        problems.push(`${what}: refused though accepted before close`);
      }
      if (sent.original !== undefined) {
        const expected = sent.originalPending ? sent.original.state : 'resolved';
        if (sent.state !== expected)
          problems.push(`${what}: a duplicate ${sent.state}, expected ${expected}`);
        if (inDead) problems.push(`${what}: a duplicate was dead-lettered`);
        continue;
      }
      if (sent.state !== 'resolved') continue;
      if (sent.holder !== undefined) problems.push(`${what}: ${sent.holder} never settled it`);
      else if (sent.next === 'delivery')
        problems.push(`${what}@${sent.attempt}: lost (never delivered again)`);
      else if (this.deadLetter && sent.next === 'either' && !inDead) problems.push(`${what}: lost`);
      else if (this.deadLetter && sent.end === 'dead' && !inDead) problems.push(`${what}: not dead-lettered`);
      if (inDead && sent.end === 'acked') problems.push(`${what}: acked and dead-lettered`);
    }
    const outOfOrder = this.#accepted.findIndex((id, i) => i > 0 && id < this.#accepted[i - 1]!);
    if (outOfOrder > 0) {
      problems.push(
        `senders admitted out of arrival order: ${this.#accepted.slice(0, outOfOrder + 1).join(' ')}`,
      );
    }
    return problems;
  }
}

/** Resolves at once, after a few promise callbacks, or after 1–3 ms; rejects when `signal` aborts. */
function pause(random: Random, signal?: AbortSignal): Promise<void> {
  const kind = random.int(3);
  if (kind === 0) return Promise.resolve();
  if (kind === 1) {
    let later = Promise.resolve();
    for (let n = random.int(4); n > 0; n--) later = later.then();
    return later;
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, 1 + random.int(3));
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Steps (each fires one timer) a run may take before it counts as hung. */
const MAX_STEPS = 5_000;

async function runActors(seed: number): Promise<void> {
  const random = new Random(seed);
  const setup = randomQueueConfig(random);
  const { order, maxsize, maxAttempts, backoff, deadLetter } = setup;
  const producers = 1 + random.int(3);
  const consumers = Array.from({ length: 1 + random.int(3) }, () =>
    random.pick(['iterator', 'pump', 'plain pump', 'draining'] as const),
  );
  const transient = random.chance(0.4) ? random.pick(['iterator', 'pump', 'plain pump'] as const) : undefined;
  const config = { order, maxsize, maxAttempts, backoff, deadLetter: deadLetter !== undefined };
  const history = new History(
    `actors, seed ${seed}: ${describeConfig({ ...config, producers, consumers, transient })}`,
  );
  const queue = queueFor(setup);
  const model = new Invariants(queue, maxAttempts, deadLetter !== undefined);
  const tunable: { concurrency: number }[] = [];
  const pumps: { name: string; stats: () => { processed: number; failed: number } }[] = [];
  let nextId = 1;
  let closed!: () => void;
  const closing = new Promise<void>((resolve) => (closed = resolve));

  /** `fromHandler`: sent by a handler as it starts, maybe inside the queue operation that dispatched it. */
  const send = (producer: string, options: SendOptions, fromHandler = false): Promise<void> => {
    const id = nextId++;
    history.log(`${producer} sends #${id} ${JSON.stringify(options)}`);
    const sent = model.sending(id, options, fromHandler);
    const sending = queue.send({ id }, options);
    model.checkSize(`after sending #${id}`);
    return sending.then(
      () => model.sendSettled(sent, 'resolved'),
      (error: unknown) => model.sendSettled(sent, 'rejected', error),
    );
  };

  const produce = async (name: string, r: Random) => {
    const unawaited: Promise<void>[] = [];
    for (let n = 5 + r.int(20); n > 0 && !model.closed; n--) {
      await pause(r);
      const options: SendOptions = { priority: r.int(4) - 1 };
      const key = r.pick(KEYS);
      if (r.chance(0.3) && model.keyUsable(key)) options.key = key;
      if (r.chance(0.2)) options.delay = 1 + r.int(5);
      const sent = send(name, options);
      if (r.chance(0.7)) await sent;
      else unawaited.push(sent);
    }
    await Promise.all(unawaited);
  };

  /** Settles a delivery taken from an iterator in one of the ways a consumer may. */
  const settle = async (worker: string, r: Random, delivery: Delivery<Message>, sent: Sent) => {
    const how =
      delivery.attempt > 4
        ? 'ack'
        : r.weighted({ ack: 12, nack: 3, requeue: 1, 'dead-letter': 1, delay: 2, dispose: 1 });
    const options: NackOptions = {};
    if (how === 'requeue' || how === 'dead-letter') options.requeue = how === 'requeue';
    if (how === 'delay') options.delay = r.int(4);
    history.log(`${worker} ${how}s #${sent.id}@${delivery.attempt} ${JSON.stringify(options)}`);
    if (how === 'ack') {
      model.settled(sent, worker, 'ack');
      await delivery.ack();
    } else if (how === 'dispose') {
      model.settled(sent, worker, 'nack');
      await delivery[Symbol.asyncDispose]();
    } else {
      model.settled(sent, worker, how === 'requeue' || how === 'dead-letter' ? how : 'nack');
      await delivery.nack(options);
    }
    if (r.chance(0.05)) {
      // settled for good: disposing it changes nothing, settling it again is refused
      await delivery[Symbol.asyncDispose]();
      const again = await delivery.ack().then(
        () => 'it resolved',
        (error: unknown) => (error instanceof DeliverySettledError ? undefined : String(error)),
      );
      if (again !== undefined) model.violations.push(`${worker} acked #${sent.id} again: ${again}`);
    }
  };

  const handle = async (worker: string, r: Random, delivery: Delivery<Message>) => {
    const { message, attempt } = delivery;
    history.log(`${worker} receives #${message.id}@${attempt}`);
    const sent = model.delivered(message.id, attempt, worker);
    await pause(r);
    await settle(worker, r, delivery, sent);
  };

  /** A `for await` loop, or several workers sharing one iterator, each with a pending next() while idle. */
  const iterate = async (name: string, r: Random, stopsEarly: boolean) => {
    const workers = 1 + r.int(3);
    if (workers === 1 && !stopsEarly) {
      for await (const delivery of queue) await handle(name, r, delivery);
      return;
    }
    const iterator = queue[Symbol.asyncIterator]();
    const work = async (worker: string) => {
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
        await handle(worker, r, next.value);
      }
    };
    const working = Array.from({ length: workers }, (_, w) => work(`${name}.${w}`));
    if (stopsEarly) {
      await sleep(1 + r.int(20));
      history.log(`${name} returns its iterator`);
      await iterator.return?.();
    }
    await Promise.all(working);
  };

  /**
   * The queue through a plain iterator (no `takeNow`, no `waitNow`: a pump's path for other queues),
   * whose deliveries report to the model when received and how the pump settles them.
   */
  const reporting = (name: string): Consumer<Message> => ({
    [Symbol.asyncIterator]() {
      const iterator = queue[Symbol.asyncIterator]();
      const report = (delivery: Delivery<Message>): Delivery<Message> => {
        const { message, attempt } = delivery;
        history.log(`${name} receives #${message.id}@${attempt}`);
        const sent = model.delivered(message.id, attempt, name);
        return {
          message,
          attempt,
          ack() {
            model.settled(sent, name, 'ack');
            return delivery.ack();
          },
          nack(options = {}) {
            history.log(`${name} nacks #${message.id}@${attempt} ${JSON.stringify(options)}`);
            const { requeue } = options;
            model.settled(sent, name, requeue === undefined ? 'nack' : requeue ? 'requeue' : 'dead-letter');
            return delivery.nack(options);
          },
          [Symbol.asyncDispose]: () => delivery[Symbol.asyncDispose](),
        };
      };
      return {
        next: () =>
          iterator.next().then((next) => (next.done ? next : { done: false, value: report(next.value) })),
        return: () => iterator.return!(),
      };
    },
  });

  let followUps = 0;
  /**
   * A pump's handler: at once or later, it succeeds or fails. It checks the pump's concurrency and may
   * send a follow-up to its own queue (which must not nest the next dispatch in this one).
   * `reports`: it tells the model what it received and how it ends (the pump settles it so).
   */
  const dispatcher = (
    name: string,
    r: Random,
    { stopsEarly = false, reports = true, ignoresAbort = false } = {},
  ) => {
    const pump = { running: 0, concurrency: () => Number.POSITIVE_INFINITY };
    let starting = false;
    const dispatch = (message: Message, { attempt, signal }: PumpContext<Message>) => {
      const what = `#${message.id}@${attempt}`;
      history.log(`${name} dispatches ${what}`);
      if (pump.running >= pump.concurrency()) {
        model.violations.push(
          `${name} dispatches ${what} while ${pump.running} run, concurrency ${pump.concurrency()}`,
        );
      }
      if (starting) model.violations.push(`${name} dispatches ${what} inside another of its dispatches`);
      starting = true;
      try {
        return start(message, attempt, signal);
      } finally {
        starting = false;
      }
    };
    const start = (message: Message, attempt: number, signal: AbortSignal) => {
      const what = `#${message.id}@${attempt}`;
      const sent = reports ? model.delivered(message.id, attempt, name) : undefined;
      const ends = (outcome: Outcome) => {
        history.log(`${name}: ${what} ${outcome}`);
        if (sent !== undefined) model.settled(sent, name, outcome);
      };
      // (not from a pump that stops early: one of its loops handed the follow-up would put it back
      // unseen if the stop began before that loop's turn, a redelivery the model could not count)
      if (!stopsEarly && !model.closed && followUps < 10 && r.chance(0.05)) {
        followUps++;
        void send(name, { priority: r.int(4) - 1 }, true);
      }
      const fails = attempt <= 4 && r.chance(0.25);
      if (r.chance(0.2)) {
        // synchronously: the pump acks, or nacks what it throws, with no promise in between
        ends(fails ? (stopsEarly ? 'nack-or-release' : 'nack') : 'ack');
        if (fails) throw new HandlerFailure();
        return;
      }
      pump.running++;
      return pause(r, ignoresAbort ? undefined : signal).then(
        () => {
          pump.running--;
          ends(fails ? (stopsEarly ? 'nack-or-release' : 'nack') : 'ack');
          if (fails) throw new HandlerFailure();
        },
        (error: unknown) => {
          pump.running--;
          ends('released'); // aborted by the stop
          throw error;
        },
      );
    };
    return { pump, dispatch };
  };

  /**
   * A pump on the queue, or on a consumer that offers only `next()` (the pump's path for other
   * queues). One that stops early is not graceful: it puts back what it was dispatching.
   */
  const pump = async (name: string, r: Random, stopsEarly: boolean, plain: boolean) => {
    const concurrency = 1 + r.int(4);
    const consumer = plain ? reporting(name) : queue;
    const failSilently = !stopsEarly || r.chance(0.5); // else the first failure stops it
    // Only deliveries the model sees settled may outlive their stop: it releases them after shutdownTimeout.
    const ignoresAbort = plain && stopsEarly && r.chance(0.5);
    const { pump, dispatch } = dispatcher(name, r, { stopsEarly, reports: !plain, ignoresAbort });
    history.log(`${name} starts: ${describeConfig({ concurrency, failSilently, ignoresAbort })}`);
    const draining = new Pump(consumer, dispatch, { failSilently }).draining({
      concurrency,
      graceful: !stopsEarly,
      shutdownTimeout: ignoresAbort ? r.int(3) : undefined,
    });
    pump.concurrency = () => draining.concurrency;
    tunable.push(draining);
    if (!stopsEarly) pumps.push({ name, stats: () => draining.stats });
    if (stopsEarly) {
      await sleep(1 + r.int(20));
      if (r.chance(0.5)) {
        // lowered just before the stop, loops may still hold deliveries handed over for a free slot
        history.log(`${name} concurrency ${draining.concurrency} → 1`);
        draining.concurrency = 1;
        await sleep(1 + r.int(3));
      }
      history.log(`${name} stops`);
    }
    await draining.stop().catch((error: unknown) => {
      if (!(error instanceof HandlerFailure)) model.violations.push(`${name} stopped on ${String(error)}`);
    });
  };

  /** `MemoryQueue.draining`: its stop closes the queue (already closed here) and drains it. */
  const drain = async (name: string, r: Random) => {
    const concurrency = 1 + r.int(4);
    const { pump, dispatch } = dispatcher(name, r);
    const draining = queue.draining(dispatch, { concurrency, failSilently: true });
    pump.concurrency = () => draining.concurrency;
    tunable.push(draining);
    pumps.push({ name, stats: () => draining.stats });
    await closing;
    await draining.stop();
  };

  const tune = async (r: Random) => {
    for (await sleep(1 + r.int(5)); !model.closed; await sleep(1 + r.int(5))) {
      if (r.chance(0.5) || tunable.length === 0) {
        const next = r.pick([...MAXSIZES, 2]);
        history.log(`maxsize = ${next}`);
        const before = queue.size;
        queue.maxsize = next;
        model.resized(next, before);
      } else {
        const draining = r.pick(tunable);
        const concurrency = 1 + r.int(4);
        history.log(`concurrency ${draining.concurrency} → ${concurrency}`);
        draining.concurrency = concurrency;
      }
    }
  };

  let actors = 0;
  /** Each actor draws from its own generator, so one actor's choices do not shift the others'. */
  const actor = (run: (r: Random) => Promise<void>) => run(new Random(seed * 100 + ++actors));

  try {
    const producing = Array.from({ length: producers }, (_, p) => actor((r) => produce(`p${p}`, r)));
    const stopping =
      transient === undefined
        ? []
        : [
            actor((r) =>
              transient === 'iterator'
                ? iterate('ti', r, true)
                : pump('tp', r, true, transient === 'plain pump'),
            ),
          ];
    const consuming = consumers.map((kind, c) =>
      actor((r) => {
        if (kind === 'iterator') return iterate(`c${c}`, r, false);
        if (kind === 'pump' || kind === 'plain pump') return pump(`c${c}`, r, false, kind === 'plain pump');
        return drain(`c${c}`, r);
      }),
    );
    const closer = actor(async (r) => {
      if (r.chance(0.6)) await Promise.all(producing);
      else await sleep(1 + r.int(15));
      await Promise.all(stopping);
      history.log('close');
      model.closing();
      await queue.close();
      closed();
    });
    const everything = Promise.all([...producing, ...stopping, ...consuming, closer, actor(tune)]);
    await untilSettled(everything, model);
    expect(queue.size, 'size once drained').toBe(0);
    for (const { name, stats } of pumps) {
      expect(stats(), `${name} stats`).toMatchObject({
        processed: model.counts(name).acked,
        failed: model.counts(name).failed,
      });
    }
    const deadLettered: number[] = [];
    if (deadLetter !== undefined) {
      await deadLetter.close();
      for await (const delivery of deadLetter) deadLettered.push(delivery.message.id);
    }
    const problems = model.finalCheck(deadLettered);
    if (problems.length > 0) throw new Error(problems.join('\n'));
  } catch (error) {
    throw history.failure(error);
  }
}

/**
 * Lets every promise callback run, checks the invariants, fires the next timer; again, until `run`
 * settled. Fails as soon as an invariant breaks, or if the run hangs (no timer left, or too long).
 */
async function untilSettled(run: Promise<unknown>, model: Invariants): Promise<void> {
  let finished = false;
  const outcome = run.finally(() => {
    finished = true;
  });
  outcome.catch(() => {});
  for (let step = 0; ; step++) {
    await flush();
    model.tick();
    model.checkSize('between steps');
    if (model.violations.length > 0) throw new Error(model.violations.join('\n'));
    if (finished) return void (await outcome);
    if (step > MAX_STEPS || vi.getTimerCount() === 0) {
      throw new Error(`the run hangs after ${step} steps: ${model.unfinished()}`);
    }
    vi.advanceTimersToNextTimer();
  }
}

describe('MemoryQueue and Pump under concurrent producers, consumers, resizes and close', () => {
  it('loses nothing, duplicates nothing and settles, for many seeds', async () => {
    await forEachSeed(300, runActors);
  });
});
