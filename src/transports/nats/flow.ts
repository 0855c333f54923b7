import type { Msg } from '@nats-io/transport-node';
import { limitsFlow } from '../../queuing/flow-options.js';
import type { FlowLimits } from '../../queuing/types.js';
import { lastToken } from './ack-protocol.js';
import type { Admitted } from './admission.js';
import type { Bands } from './bands.js';
import type { Connection } from './connection.js';
import type { NatsDelivery } from './delivery.js';
import type { FetchRun } from './fetch-run.js';
import { handOut } from './flow-gate.js';
import { SharedFlow } from './flow-shared.js';
import { GroupFetch, type GroupFetchOwner } from './group-fetch.js';
import { type Group, Groups } from './groups.js';
import type { RunFlow } from './run-owner.js';

/** How long hand-outs wait before trying again when the key-value bucket did not answer. */
const STORE_RETRY_MS = 1_000;

/** What flow control needs from its consumer. */
export interface FlowOwner<D> {
  readonly name: string;
  readonly stream: string;
  readonly prefetch: number;
  readonly bands: Bands<D>;
  readonly paused: boolean;
  readonly closed: boolean;
  readonly run: FetchRun<D> | undefined;
  /** `next()` calls waiting. */
  readonly waiting: number;
  admit(msg: Msg, priority: number, attempt: number): Admitted<unknown>;
  /** Gives `delivery` to the longest waiting `next()`, counted handed out; false when none waits. */
  hand(delivery: D): boolean;
  /** Received: heartbeated from now on. */
  hold(delivery: D): void;
  release(delivery: D): void;
  putBack(msg: Msg): void;
}

/**
 * A NatsQueue consumer's groups and limits (docs/wire-protocol.md, NATS, says what they store). Until
 * a group consumer exists on the stream or `flow()` sets a limit, the consumer never calls in here
 * (its bands' path is as it was). Then:
 * - hand-outs go round-robin across the groups with buffered deliveries, the default group (the
 *   bands) taking its turn like any other (Groups);
 * - with limits, hand-outs wait for the shared state: the default group's slots are taken as its
 *   deliveries are handed out, a group's before its pull (GroupFetch), and the rate window's for a
 *   batch right before it is handed out; under a rate limit the bands and the groups each fetch
 *   only what the waiting `next()` calls lack.
 */
export class FlowControl<D extends NatsDelivery<unknown>>
  implements GroupFetchOwner<D>, RunFlow<FetchRun<D>>
{
  readonly groups = new Groups<D>();
  readonly fetch: GroupFetch<D>;
  limits: FlowLimits = {};
  readonly shared: SharedFlow<D>;
  /** Deliveries the groups buffered. */
  buffered = 0;
  /** The default group was at its cap: its deliveries wait for a slot given back, or the next tick. */
  defaultBlocked = false;
  #serving = false;
  /** A serve was asked while a round of hand-outs ran: the round goes on. */
  again = false;
  #retry: NodeJS.Timeout | undefined;
  #looking = false;

  /** `lease`: how long a slot lasts unless renewed (the visibility timeout). */
  constructor(
    readonly owner: FlowOwner<D>,
    lease: number,
  ) {
    this.fetch = new GroupFetch(this, this.groups, owner.name);
    this.shared = new SharedFlow(owner.name, lease);
  }

  get paused(): boolean {
    return this.owner.paused;
  }

  get run(): FetchRun<D> | undefined {
    return this.owner.run;
  }

  /** Whether the consumer hands out through here: a group exists or a limit applies. */
  get active(): boolean {
    return this.groups.size > 0 || limitsFlow(this.limits);
  }

  /** A limit applies: hand-outs wait for the shared state. */
  get limited(): boolean {
    return limitsFlow(this.limits);
  }

  /** Under a rate limit, nothing is fetched ahead of the waiting `next()` calls. */
  get demandOnly(): boolean {
    return this.limits.rateLimit !== undefined;
  }

  setLimits(limits: FlowLimits): void {
    this.limits = limits;
    this.defaultBlocked = false;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    this.fetch.unblock();
    this.owner.run?.pullAll();
    this.serve();
  }

  /** The connection the consumer fetches on: the shared state is read and written on it. */
  follow(connection: Connection): void {
    this.shared.follow(connection);
    this.fetch.follow(connection);
  }

  get pulling(): number {
    return this.fetch.pulls;
  }

  adopt(token: string): boolean {
    return this.groups.add(token) !== undefined;
  }

  found(token: string): void {
    this.fetch.mayHold(token);
  }

  answered(run: FetchRun<D>, token: string, msg: Msg): void {
    const band = this.groups.band(token);
    if (band !== undefined) this.fetch.answered(run, band, msg);
  }

  admit(msg: Msg, priority: number, attempt: number): Admitted<unknown> {
    return this.owner.admit(msg, priority, attempt);
  }

  putBack(msg: Msg): void {
    this.owner.putBack(msg);
  }

  /** How many a band pulls under a rate limit: what the waiting calls lack (1 for a first pull). */
  demand(primed: boolean): number {
    const lacking = this.owner.waiting - this.#bufferedAll() - this.fetch.pulls;
    return Math.max(primed ? 0 : 1, lacking);
  }

  groupBudget(): number {
    if (this.demandOnly) return this.owner.waiting - this.#bufferedAll() - this.fetch.pulls;
    return this.owner.prefetch - this.buffered - this.fetch.pulls;
  }

  takeSlots(group: Group<D>): Promise<number> | undefined {
    const cap = this.limits.groupConcurrency;
    return cap === undefined ? undefined : this.shared.acquire(this.shared.keyOf(group.key), 1, cap);
  }

  giveSlots(group: Group<D>, count: number): void {
    void this.shared.release(this.shared.keyOf(group.key), count).then(() => this.fetch.unblock(group));
  }

  buffer(group: Group<D>, delivery: D, slot: boolean): void {
    if (slot && this.limits.groupConcurrency !== undefined) {
      this.shared.holds(delivery, this.shared.keyOf(group.key));
    }
    this.owner.hold(delivery);
    this.groups.buffer(group, delivery);
    this.buffered++;
    this.serve();
  }

  /** The next delivery in turn, taken from its buffer; the default group only while `defaultAllowed` > 0. */
  pick(defaultAllowed = Number.POSITIVE_INFINITY): D | undefined {
    const { bands } = this.owner;
    const defaultReady = defaultAllowed > 0 && bands.primed && bands.buffered() > 0;
    if (defaultReady) this.groups.defaultBuffered();
    const next = this.groups.peek(defaultReady);
    if (next === null) return undefined;
    if (next === undefined) {
      const band = bands.pick()!;
      const delivery = band.buffer.shift()!;
      this.groups.served(bands.buffered() > 0);
      this.owner.run?.pull(band);
      return delivery;
    }
    const delivery = next.buffer.shift()!;
    this.buffered--;
    this.groups.served(next.buffer.length > 0);
    this.fetch.want(next);
    this.fetch.fill();
    return delivery;
  }

  /** A delivery to hand out now, outside any limit (none while one applies: see serve). */
  take(): D | undefined {
    return this.limited || this.groups.size === 0 ? undefined : this.pick();
  }

  /** Hands buffered deliveries to the waiting `next()` calls, within the limits. */
  serve(): void {
    if (this.owner.paused || !this.owner.bands.primed) return;
    if (!this.limited) {
      while (this.owner.waiting > 0) {
        const delivery = this.pick();
        if (delivery === undefined) return;
        if (!this.owner.hand(delivery)) this.owner.release(delivery);
      }
      return;
    }
    if (this.#serving || this.#retry !== undefined) {
      this.again = true;
      return;
    }
    this.#serving = true;
    void handOut(this)
      .catch(() => this.later(STORE_RETRY_MS))
      .finally(() => {
        this.#serving = false;
        if (this.again && this.#retry === undefined) this.serve();
      });
  }

  /** Settled or taken back: its slot, if it held one, goes back. */
  settled(delivery: D): void {
    void this.shared.settled(delivery)?.then((key) => {
      if (key !== this.shared.defaultKey) return this.fetch.unblock();
      this.defaultBlocked = false;
      this.serve();
    });
  }

  /** A grouped delivery was nacked with `delay`: its group may hold a message once it is due. */
  retry(delivery: D, delay: number): void {
    const token = lastToken(delivery.raw.subject);
    if (this.groups.band(token) === undefined) return;
    setTimeout(() => this.fetch.mayHold(token), delay).unref();
  }

  /** Every third of the visibility timeout, with the heartbeats: slots held are renewed. */
  renew(): void {
    this.shared.renew();
  }

  /** About every second: lost group pulls, blocked groups and the default group are tried again. */
  tick(now: number): void {
    this.fetch.tick(now);
    this.defaultBlocked = false;
    this.serve();
    const connection = this.shared.connection;
    if (this.groups.size === 0 || connection === undefined || this.owner.run === undefined) return;
    if (this.#looking) return;
    this.#looking = true;
    void this.fetch
      .look(connection, this.owner.stream)
      .catch(() => {})
      .finally(() => {
        this.#looking = false;
      });
  }

  /** The run ended: what the groups buffered goes back to the stream. */
  ended(): void {
    for (const group of this.groups.all()) {
      for (let d = group.buffer.shift(); d !== undefined; d = group.buffer.shift()) this.owner.release(d);
    }
    this.buffered = 0;
  }

  stop(): void {
    clearTimeout(this.#retry);
    this.fetch.stop();
  }

  /** Hand-outs try again in `ms` (a new limit, or a settle here, tries at once). */
  later(ms: number): void {
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.serve();
    }, ms);
  }

  /** The waiting calls lack deliveries: the bands and groups pull for them. */
  demandMore(): void {
    this.owner.run?.pullAll();
    this.fetch.fill();
  }

  #bufferedAll(): number {
    return this.buffered + this.owner.bands.buffered();
  }
}
