import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { RESOLVED } from '../../queuing/settled.js';
import type { FlowLimits } from '../../queuing/types.js';
import type { EntryAdmission } from './admission.js';
import { failure, isAccessRefused } from './errors.js';
import type { FetchSource, FetchTarget } from './fetch-target.js';
import { FlowRound } from './flow-round.js';
import { bandKey, GROUP } from './keys.js';
import { PAUSE_CHECK_AGE } from './pause-state.js';
import type { RawEntry } from './scripts.js';

/**
 * Most messages a handle fetches per round trip (and so the most that a higher priority sent later
 * can wait behind in one handle's buffer). The batch adapts below that: twice what the handle handed
 * out since its previous fetch, so a fast pump gets big batches and slow handlers do not hoard
 * messages that other handles could run.
 */
const MAX_BATCH = 256;
/** Longest blocking read: an idle handle then runs the take script again (delayed messages may be due). */
const MAX_BLOCK = 2_000;
const NOTHING: RawEntry[] = [];

/**
 * Fetches for one handle, only while a `next()` waits or a live iterator's buffer runs low, so no
 * loop ever spins. A round is the take script (due delayed messages, positive priorities) and an
 * XREADGROUP of the queue's stream in one round trip, then negative priorities if the stream ran
 * short. When a round finds nothing, one XREADGROUP BLOCK on a second connection waits on every
 * priority's stream and on the wake-up stream, which the scripts write when a message goes
 * somewhere the reader does not watch yet (a new priority) or is due earlier than it would look.
 * The group hands a wake-up to one blocked reader: other handles blocked meanwhile see the change
 * when their read times out (MAX_BLOCK), or when anything comes on a stream they watch.
 *
 * Each round also tells whether the queue is paused (its `:paused` key). A paused handle reads
 * nothing and asks again every PAUSE_CHECK_AGE; what it fetched and did not hand out goes back to
 * Redis. A consumer hands nothing out unless a round found the queue running that recently.
 *
 * While flow limits apply or grouped messages exist, a round is a flow round (flow-round.ts); under a
 * rate limit a handle fetches only for waiting `next()` calls, so that hand-out is fetch time.
 */
export class FetchLoop<T> {
  readonly #source: FetchSource;
  readonly #target: FetchTarget<T>;
  readonly #admission: EntryAdmission<T>;
  readonly #stop = new AbortController();
  #fetching = false;
  #batch = 1;
  /** Deliveries handed out since the current round began (counted by the consumer). */
  handed = 0;
  #fetched: Promise<void> = RESOLVED;
  /** False at first and after a NOGROUP: the next round makes the groups that are missing. */
  #groupsReady = false;
  #reader: Redis | undefined;
  /** Every priority other than 0 that has a stream, as of the last round. */
  #bands: string[] = [];
  /** As the last round found. */
  #paused = false;
  readonly #flowRound: FlowRound<T>;

  constructor(source: FetchSource, target: FetchTarget<T>, admission: EntryAdmission<T>) {
    this.#source = source;
    this.#target = target;
    this.#admission = admission;
    const accept = (entries: RawEntry[], band: string) => this.#accept(entries, band);
    const [blockingReader, stopped] = [() => this.#blockingReader(), this.#stop.signal];
    this.#flowRound = new FlowRound({ source, target, accept, blockingReader, stopped, maxBlock: MAX_BLOCK });
  }

  /** The limits to hand out within (none: undefined), from the next round on. */
  flow(limits: FlowLimits | undefined): void {
    this.#flowRound.limit(limits);
    this.pull();
  }

  /** Starts a fetch loop unless one runs or nothing is wanted (no waiter, and the buffer is not low). */
  pull(): void {
    if (this.#fetching || !this.#wanted()) return;
    this.#fetching = true;
    this.#fetched = this.#fetch().finally(() => {
      this.#fetching = false;
      if (this.#wanted()) this.pull(); // a waiter came as the loop was leaving
    });
  }

  /** Ends the blocking read now (its entries, if any, are reclaimed later); resolves with the loop. */
  stop(): Promise<void> {
    this.#stop.abort();
    this.#reader?.disconnect();
    return this.#fetched;
  }

  #wanted(): boolean {
    const target = this.#target;
    if (target.closed) return false;
    if (this.#flowRound.limits?.rateLimit !== undefined) return target.waiting > 0;
    return target.waiting > 0 || (target.iterating && target.buffered < this.#batch / 2);
  }

  async #fetch(): Promise<void> {
    const { connection, stream, consumer } = this.#source;
    const client = connection.client;
    let failures = 0;
    while (this.#wanted()) {
      try {
        if (this.#paused) {
          await sleep(PAUSE_CHECK_AGE, undefined, { signal: this.#stop.signal }).catch(() => {});
          if (!this.#wanted()) break;
        }
        const regroup = this.#groupsReady ? 0 : 1;
        if (regroup === 1) await this.#createGroups();
        this.#batch = Math.min(MAX_BATCH, Math.max(1, 2 * this.handed));
        this.handed = 0;
        const count = Math.max(this.#batch - this.#target.buffered, this.#target.waiting, 1);
        if (this.#flowRound.applies) {
          this.#target.unpark(); // deliveries parked by a plain round before grouped messages came
          const found = await this.#flowRound.run(count, regroup);
          ({ bands: this.#bands, paused: this.#paused } = found);
          failures = 0;
          if (found.idle) break;
          continue;
        }
        // One round trip: both commands leave together. Delivery order is positive priorities,
        // the queue's stream (priority 0, FIFO), then negative priorities once that is drained.
        // With priority-0 deliveries parked, the stream is not read again until they are out.
        const reading = this.#target.parked === 0 && !this.#paused;
        const began = performance.now();
        const [[wait, high, moreHigh, low, bands, paused, grouped], read] = await Promise.all([
          client.sluiceTake(stream, consumer, count, 'high', regroup),
          reading ? this.#read(count) : NOTHING,
        ]);
        this.#bands = bands;
        this.#paused = paused === 1;
        this.#flowRound.grouped = grouped === 1;
        this.#target.pauseChecked(this.#paused, began);
        if (this.#paused) {
          await this.#accept(read, '0'); // put back by the paused consumer
          continue;
        }
        let got = await this.#acceptBands(high);
        if (moreHigh === 1) {
          await this.#accept(read, '0', true);
          continue;
        }
        got += this.#target.unpark();
        got += await this.#accept(read, '0');
        if (reading && read.length < count && low === 1) {
          const [, lowest] = await client.sluiceTake(stream, consumer, count, 'low', 0);
          got += await this.#acceptBands(lowest);
        }
        if (got === 0) {
          if (this.#target.waiting === 0) break;
          await this.#block(count, wait < 0 ? MAX_BLOCK : Math.min(Math.max(wait, 1), MAX_BLOCK));
        }
        failures = 0;
      } catch (error) {
        if (this.#target.closed) break;
        if (isAccessRefused(error)) {
          this.#target.failed(failure(`fetching from queue ${this.#source.name}`, error));
          break;
        }
        const why = String(error);
        // NOGROUP: a stream lost its group (Redis restarted empty; a stream deleted, evicted or
        // its group destroyed), made again by the next round. UNBLOCKED: a stream the read waited
        // on was deleted (a priority emptied). Either is looked at again at once, the first time:
        // any failure that repeats backs off, so that one that will not go away is no busy loop.
        const expected = why.includes('NOGROUP') || why.includes('UNBLOCKED');
        if (why.includes('NOGROUP')) this.#groupsReady = false;
        if (failures++ > 0 || !expected) {
          const delay = Math.min(50 * 2 ** (failures - 1), 2_000);
          await sleep(delay, undefined, { signal: this.#stop.signal }).catch(() => {});
        }
      }
    }
  }

  /** XREADGROUP of new entries of the queue's stream. */
  async #read(count: number): Promise<RawEntry[]> {
    const { connection, stream, consumer } = this.#source;
    const reply = (await connection.client.xreadgroup(
      'GROUP',
      GROUP,
      consumer,
      'COUNT',
      count,
      'STREAMS',
      stream,
      '>',
    )) as [string, RawEntry[]][] | null;
    return reply?.[0]?.[1] ?? [];
  }

  /**
   * Waits up to `block` ms, on the blocking connection, for new entries of every stream a message
   * may arrive on and of the wake-up stream; accepts what comes.
   */
  async #block(count: number, block: number): Promise<void> {
    const { stream, wake, consumer } = this.#source;
    // Highest priority first: entries of several streams that come together are taken in this order.
    const bands = [...this.#bands, '0'].sort((a, b) => Number(b) - Number(a));
    const keys = [...bands.map((band) => bandKey(stream, band)), wake];
    const ids = keys.map(() => '>');
    const reply = (await this.#blockingReader().call('XREADGROUP', [
      'GROUP',
      GROUP,
      consumer,
      'COUNT',
      count,
      'BLOCK',
      block,
      'STREAMS',
      ...keys,
      ...ids,
    ])) as [string, RawEntry[]][] | null;
    for (const [key, entries] of reply ?? []) {
      if (key === wake) this.#wokenBy(entries);
      else await this.#accept(entries, key === stream ? '0' : key.slice(stream.length + 1));
    }
  }

  /** A wake-up carries nothing: it is acked at once, and the next round looks everywhere. */
  #wokenBy(entries: RawEntry[]): void {
    const ids = entries.map(([id]) => id);
    // One left pending (this ack lost) is dropped by the reclaim later.
    this.#source.connection.client.xack(this.#source.wake, GROUP, ...ids).catch(() => {});
  }

  /** `read` is the take script's: priority, entries, priority, entries... */
  async #acceptBands(read: (string | RawEntry[])[]): Promise<number> {
    let got = 0;
    for (let i = 0; i < read.length; i += 2)
      got += await this.#accept(read[i + 1] as RawEntry[], read[i] as string);
    return got;
  }

  /** Turns fetched entries into deliveries for the target; returns how many it admitted. */
  async #accept(entries: RawEntry[], band: string, park = false): Promise<number> {
    let accepted = 0;
    for (const entry of entries) {
      let delivery = this.#admission.admit(entry, band);
      if (delivery instanceof Promise) delivery = await delivery;
      if (delivery === undefined) continue;
      accepted++;
      this.#target.receive(delivery, park);
    }
    return accepted;
  }

  /** The groups of the queue's stream and wake-up stream; the take script makes those of priorities. */
  async #createGroups(): Promise<void> {
    const { connection, stream, wake } = this.#source;
    // From id 0: messages sent before any consumer existed are delivered too.
    for (const key of [stream, wake]) {
      await connection.client.xgroup('CREATE', key, GROUP, '0', 'MKSTREAM').catch((error: unknown) => {
        if (!String(error).includes('BUSYGROUP')) throw error;
      });
    }
    this.#groupsReady = true;
  }

  #blockingReader(): Redis {
    this.#reader ??= this.#source.connection.duplicate(this.#source.name);
    return this.#reader;
  }
}
