import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { backoffDelay } from '../../queuing/backoff.js';
import { Fifo, PriorityHeap } from '../../queuing/memory/buffers.js';
import { DONE, DONE_PROMISE, RESOLVED } from '../../queuing/settled.js';
import type { Backoff, Delivery, NackOptions } from '../../queuing/types.js';
import { atMost } from '../shared/at-most.js';
import { decodeEnvelope, type ReceivedEnvelope, wrapUndecodable } from '../shared/envelope.js';
import type { MessageCheck } from '../shared/message-schema.js';
import { AckBatcher } from './acker.js';
import { type Connection, unavailable } from './connection.js';
import { type Entry, type Settler, StreamDelivery } from './delivery.js';
import { GROUP } from './keys.js';
import type { RawEntry } from './scripts.js';

/**
 * Most messages a handle fetches per round trip (and so the most that a higher priority sent later
 * can wait behind in one handle's buffer). The batch adapts below that: twice what the handle handed
 * out since its previous fetch, so a fast pump gets big batches and slow handlers do not hoard
 * messages that other handles could run.
 */
const MAX_BATCH = 256;
/** Longest blocking read: an idle handle then re-runs the take script (delayed messages may be due). */
const MAX_BLOCK = 2_000;

export interface ConsumerSettings {
  readonly name: string;
  readonly keys: string[];
  readonly connection: Connection;
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  readonly visibilityTimeout: number;
  readonly validate: MessageCheck<unknown> | undefined;
}

interface Waiter<T> {
  readonly iterator: RedisIterator<T>;
  resolve(result: IteratorResult<Delivery<T>>): void;
}

/**
 * The consuming side of one queue handle, shared by its iterators.
 *
 * - Fetching runs only while an iterator waits (or a live iterator's buffer runs low): the take
 *   script first; when it finds nothing, one XREADGROUP BLOCK on a second connection, which a send
 *   wakes (priority and delayed sends add a `wake` entry for that). No loop ever spins.
 * - Every fetched, unsettled entry is `held`: a timer re-claims them (XCLAIM JUSTID resets their
 *   idle time) every visibilityTimeout / 3, so only a handle that died or lost Redis sees its
 *   deliveries reclaimed, and the same timer runs the reclaim script for such deliveries.
 * - Close: waiters end, the buffer is released as is, handed-out deliveries get `closeTimeout` to
 *   settle and are then released with attempt + 1. The last iterator returning releases the buffer
 *   too: a stopped pump leaves nothing held while the handle stays open.
 */
export class RedisConsumer<T> implements Settler<T> {
  readonly queueName: string;
  readonly #settings: ConsumerSettings;
  readonly #name = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly #acks: AckBatcher;
  /** Fetched, not handed out: by priority, then fetch order (a later round may bring higher ones). */
  readonly #buffer = new PriorityHeap<StreamDelivery<T>>();
  #seq = 0;
  #waiters = new Fifo<Waiter<T>>();
  readonly #held = new Set<StreamDelivery<T>>();
  readonly #settling = new Set<Promise<unknown>>();
  readonly #stop = new AbortController();
  #iterators = 0;
  #fetching = false;
  #batch = 1;
  /** Deliveries handed out since the current fetch round began. */
  #handed = 0;
  #fetched: Promise<void> = RESOLVED;
  #groupReady = false;
  #reader: Redis | undefined;
  #timer: NodeJS.Timeout | undefined;
  #maintaining = false;
  /** The last fetch read a wake-up entry (a priority or delayed message was just sent). */
  #woken = false;
  #closed = false;
  #onIdle: (() => void) | undefined;

  constructor(settings: ConsumerSettings) {
    this.queueName = settings.name;
    this.#settings = settings;
    this.#acks = new AckBatcher(settings.connection, settings.keys, settings.name);
    const every = Math.max(10, Math.floor(settings.visibilityTimeout / 3));
    this.#timer = setInterval(() => void this.#maintain(), every);
    this.#timer.unref();
  }

  iterator(): AsyncIterator<Delivery<T>> {
    return new RedisIterator(this);
  }

  next(iterator: RedisIterator<T>): Promise<IteratorResult<Delivery<T>>> {
    if (this.#closed) return DONE_PROMISE;
    const delivery = this.takeNow();
    if (delivery !== undefined) return Promise.resolve({ value: delivery, done: false });
    return new Promise((resolve) => {
      this.#waiters.push({ iterator, resolve });
      this.#pull();
    });
  }

  /** A buffered delivery, synchronously (the pump's fast path); refills the buffer when it runs low. */
  takeNow(): StreamDelivery<T> | undefined {
    if (this.#closed) return undefined;
    const delivery = this.#buffer.shift();
    if (this.#buffer.size < this.#batch / 2) this.#pull();
    if (delivery !== undefined) {
      delivery.handedOut = true;
      this.#handed++;
    }
    return delivery;
  }

  opened(): void {
    this.#iterators++;
  }

  /**
   * An iterator was returned: its pending `next()` calls end. With the last one the buffer goes
   * back, else its deliveries stay held (and heartbeated) for as long as the handle lives.
   */
  returned(iterator: RedisIterator<T>): void {
    this.#iterators--;
    const kept = new Fifo<Waiter<T>>();
    for (let w = this.#waiters.shift(); w !== undefined; w = this.#waiters.shift()) {
      if (w.iterator === iterator) w.resolve(DONE);
      else kept.push(w);
    }
    this.#waiters = kept;
    if (this.#iterators === 0) this.#releaseBuffer();
  }

  /**
   * Resolves at once: the acks of one tick go to Redis together, and close() waits for them. An ack
   * that never reaches Redis means a redelivery after the visibility timeout, never a loss, so the
   * pump need not wait a round trip per message (as with AMQP and JetStream acks).
   */
  ack(delivery: StreamDelivery<T>): Promise<void> {
    this.#forget(delivery);
    this.#acks.ack(delivery.entry).catch(() => {});
    return RESOLVED;
  }

  nack(delivery: StreamDelivery<T>, options: NackOptions): Promise<void> {
    this.#forget(delivery);
    const { attempt } = delivery;
    const { maxAttempts, backoff } = this.#settings;
    const why = describeError(options.error);
    if (options.requeue === false) {
      return this.#settle(delivery.entry, 'bury', attempt, 0, `rejected on attempt ${attempt}: ${why}`);
    }
    if (options.requeue !== true && attempt >= maxAttempts) {
      return this.#settle(
        delivery.entry,
        'bury',
        attempt,
        0,
        `failed ${attempt} of ${maxAttempts} attempts: ${why}`,
      );
    }
    const delay = options.delay ?? (options.requeue ? 0 : backoffDelay(backoff, attempt));
    return this.#settle(delivery.entry, 'retry', attempt + 1, delay, '');
  }

  /**
   * Each wait is bounded by `closeTimeout`, so a Redis that cannot be reached does not hold it up:
   * the fetch in flight and the handed-out deliveries share one such window from the call on, the
   * writes of the releases get another. What is not written by then is reclaimed after the
   * visibility timeout; what a late fetch brings is released (see #accept).
   */
  async close(closeTimeout: number): Promise<void> {
    const settleBy = performance.now() + closeTimeout;
    this.#closed = true;
    this.#stop.abort();
    for (let w = this.#waiters.shift(); w !== undefined; w = this.#waiters.shift()) w.resolve(DONE);
    this.#reader?.disconnect(); // ends a blocking read now; its entries, if any, are reclaimed later
    await atMost(this.#fetched, settleBy - performance.now());
    this.#releaseBuffer();
    if (this.#held.size > 0) {
      const settled = new Promise<void>((resolve) => {
        this.#onIdle = resolve;
      });
      await atMost(settled, settleBy - performance.now());
    }
    for (const delivery of [...this.#held]) this.#release(delivery, delivery.attempt + 1);
    clearInterval(this.#timer);
    await atMost(Promise.allSettled([this.#acks.drain(), ...this.#settling]), closeTimeout);
  }

  #pull(): void {
    if (this.#fetching || this.#closed) return;
    this.#fetching = true;
    this.#fetched = this.#fetch().finally(() => {
      this.#fetching = false;
      if (this.#wanted()) this.#pull(); // a waiter came as the loop was leaving
    });
  }

  #wanted(): boolean {
    if (this.#closed) return false;
    return this.#waiters.size > 0 || (this.#iterators > 0 && this.#buffer.size < this.#batch / 2);
  }

  async #fetch(): Promise<void> {
    const { connection, keys, name } = this.#settings;
    const client = connection.client;
    let failures = 0;
    // Priority-0 entries read in a round that left higher priorities in Redis: handed out after those.
    let deferred: RawEntry[] = [];
    while (this.#wanted()) {
      try {
        if (!this.#groupReady) await this.#createGroups();
        this.#batch = Math.min(MAX_BATCH, Math.max(1, 2 * this.#handed));
        this.#handed = 0;
        const count = Math.max(this.#batch - this.#buffer.size, this.#waiters.size, 1);
        // One round trip: both commands leave together. Delivery order is positive priorities,
        // the stream (priority 0, FIFO), then negative priorities once the stream is drained.
        const [[wait, high, low, moreHigh], read] = await Promise.all([
          client.sluicePromote(...keys, GROUP, name, this.#name, count, 'high'),
          deferred.length > 0 ? deferred : this.#read(client, count, 0),
        ]);
        this.#woken = false;
        let got = await this.#accept(high, 'p');
        if (moreHigh === 1) {
          deferred = read;
          continue;
        }
        deferred = [];
        got += await this.#accept(read, 's');
        if (read.length < count && low === 1) {
          const [, lowest] = await client.sluicePromote(...keys, GROUP, name, this.#name, count, 'low');
          got += await this.#accept(lowest, 'p');
        }
        // A wake-up read here may belong to a message the promote script just missed: look again.
        if (got === 0 && !this.#woken) {
          if (this.#waiters.size === 0) break;
          const block = wait < 0 ? MAX_BLOCK : Math.min(Math.max(wait, 1), MAX_BLOCK);
          await this.#accept(await this.#read(this.#blockingReader(), count, block), 's');
        }
        failures = 0;
      } catch (error) {
        if (this.#closed) break;
        if (String(error).includes('NOGROUP')) this.#groupReady = false;
        else {
          const delay = Math.min(50 * 2 ** failures++, 2_000);
          await sleep(delay, undefined, { signal: this.#stop.signal }).catch(() => {});
        }
      }
    }
    if (deferred.length > 0) await this.#accept(deferred, 's');
  }

  /** XREADGROUP of new entries of the stream; `block` ms (on the blocking connection) or 0 for none. */
  async #read(client: Redis, count: number, block: number): Promise<RawEntry[]> {
    const stream = this.#settings.keys[0]!;
    const reply = (
      block > 0
        ? await client.xreadgroup(
            'GROUP',
            GROUP,
            this.#name,
            'COUNT',
            count,
            'BLOCK',
            block,
            'STREAMS',
            stream,
            '>',
          )
        : await client.xreadgroup('GROUP', GROUP, this.#name, 'COUNT', count, 'STREAMS', stream, '>')
    ) as [string, RawEntry[]][] | null;
    return reply?.[0]?.[1] ?? [];
  }

  /** Turns fetched entries into deliveries: hands them to waiters, buffers the rest, buries the bad. */
  async #accept(entries: RawEntry[], stream: 's' | 'p'): Promise<number> {
    let accepted = 0;
    for (const [entryId, fields] of entries) {
      let body = '';
      let attempt = 1;
      let key = '';
      let priority = '0';
      let reason: string | undefined;
      let wake = false;
      let hasBody = false;
      for (let i = 0; i < fields.length; i += 2) {
        const value = fields[i + 1]!;
        switch (fields[i]) {
          case 'body':
            body = value;
            hasBody = true;
            break;
          case 'attempt':
            attempt = Number(value);
            break;
          case 'key':
            key = value;
            break;
          case 'priority':
            priority = value;
            break;
          case 'reason':
            reason = value;
            break;
          case 'wake':
            wake = true;
        }
      }
      const entry: Entry = { stream, entryId, body, priority, key };
      if (wake) {
        this.#woken = true;
        void this.#acks.ack(entry).catch(() => {}); // a wake-up left behind is reclaimed and dropped later
        continue;
      }
      let envelope: ReceivedEnvelope;
      try {
        envelope = decodeEnvelope(body);
      } catch (error) {
        const raw = hasBody ? body : JSON.stringify(Object.fromEntries(pairs(fields)));
        const wrapped = JSON.stringify(wrapUndecodable(raw));
        void this.#settle({ ...entry, body: wrapped }, 'bury', attempt, 0, describeError(error));
        continue;
      }
      let message: unknown = envelope.payload;
      const { validate } = this.#settings;
      if (validate !== undefined) {
        try {
          const valid = validate(message);
          message = valid instanceof Promise ? await valid : valid;
        } catch (error) {
          void this.#settle(entry, 'bury', attempt, 0, `invalid message: ${describeError(error)}`);
          continue;
        }
      }
      const delivery = new StreamDelivery<T>(
        this,
        entry,
        message as T,
        attempt,
        envelope.id ?? entryId,
        envelope.headers,
        reason,
      );
      delivery.priority = Number(priority);
      delivery.seq = this.#seq++;
      this.#held.add(delivery);
      accepted++;
      // Fetched as the handle closed or its last iterator returned: nobody will take it.
      if (this.#closed || this.#iterators === 0) {
        this.#release(delivery, attempt);
        continue;
      }
      const waiter = this.#waiters.shift();
      if (waiter === undefined) {
        this.#buffer.push(delivery);
      } else {
        delivery.handedOut = true;
        this.#handed++;
        waiter.resolve({ value: delivery, done: false });
      }
    }
    return accepted;
  }

  #settle(
    entry: Entry,
    action: 'retry' | 'bury',
    attempt: number,
    delay: number,
    reason: string,
  ): Promise<void> {
    const { connection, keys, name } = this.#settings;
    const { stream, entryId, priority, key, body } = entry;
    const settled = connection.client
      .sluiceSettle(
        ...keys,
        GROUP,
        name,
        stream,
        entryId,
        action,
        attempt,
        priority,
        key,
        body,
        delay,
        reason,
      )
      .then(
        () => {},
        (error) => {
          throw unavailable(`${action === 'bury' ? 'dead-letter' : 'nack'} on queue ${name}`, error);
        },
      );
    this.#settling.add(settled);
    settled.then(
      () => this.#settling.delete(settled),
      () => this.#settling.delete(settled),
    );
    return settled;
  }

  /** Prefetched deliveries go back as they were: never handed out, they were no attempt. */
  #releaseBuffer(): void {
    for (let d = this.#buffer.shift(); d !== undefined; d = this.#buffer.shift()) this.#release(d, d.attempt);
  }

  /** Puts a delivery this handle will not finish back as ready (close); at worst it is reclaimed later. */
  #release(delivery: StreamDelivery<T>, attempt: number): void {
    delivery.settled = true;
    this.#forget(delivery);
    this.#settle(delivery.entry, 'retry', attempt, 0, '').catch(() => {});
  }

  #forget(delivery: StreamDelivery<T>): void {
    this.#held.delete(delivery);
    if (this.#held.size === 0) this.#onIdle?.();
  }

  async #createGroups(): Promise<void> {
    const { connection, keys } = this.#settings;
    // From id 0: messages sent before any consumer existed are delivered too.
    for (const stream of [keys[0]!, keys[1]!]) {
      await connection.client.xgroup('CREATE', stream, GROUP, '0', 'MKSTREAM').catch((error: unknown) => {
        if (!String(error).includes('BUSYGROUP')) throw error;
      });
    }
    this.#groupReady = true;
  }

  #blockingReader(): Redis {
    this.#reader ??= this.#settings.connection.duplicate(this.#settings.name);
    return this.#reader;
  }

  /** Heartbeat of held deliveries, then reclaim of deliveries other handles stopped heartbeating. */
  async #maintain(): Promise<void> {
    if (this.#maintaining || !this.#groupReady) return;
    this.#maintaining = true;
    const { connection, keys, name, visibilityTimeout, maxAttempts } = this.#settings;
    const client = connection.client;
    try {
      const stream: string[] = [];
      const priority: string[] = [];
      for (const { entry } of this.#held) (entry.stream === 's' ? stream : priority).push(entry.entryId);
      if (stream.length > 0) await client.xclaim(keys[0]!, GROUP, this.#name, 0, ...stream, 'JUSTID');
      if (priority.length > 0) await client.xclaim(keys[1]!, GROUP, this.#name, 0, ...priority, 'JUSTID');
      if (!this.#closed) {
        await client.sluiceReclaim(...keys, GROUP, name, this.#name, visibilityTimeout, maxAttempts);
      }
    } catch {
      // Redis is unreachable or was restarted: the next round retries, the fetch loop recreates groups.
    } finally {
      this.#maintaining = false;
    }
  }
}

class RedisIterator<T> implements AsyncIterator<Delivery<T>> {
  #returned = false;

  constructor(private readonly consumer: RedisConsumer<T>) {
    consumer.opened();
  }

  next(): Promise<IteratorResult<Delivery<T>>> {
    return this.#returned ? DONE_PROMISE : this.consumer.next(this);
  }

  return(): Promise<IteratorResult<Delivery<T>>> {
    if (!this.#returned) {
      this.#returned = true;
      this.consumer.returned(this);
    }
    return DONE_PROMISE;
  }
}

function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return error === undefined ? 'no error given' : String(error);
}

function* pairs(fields: string[]): Generator<[string, string]> {
  for (let i = 0; i < fields.length; i += 2) yield [fields[i]!, fields[i + 1]!];
}
