import type { Msg, Subscription } from '@nats-io/transport-node';
import { createInbox } from '@nats-io/transport-node';
import { Fifo } from '../../queuing/memory/buffers.js';
import { DONE, DONE_PROMISE } from '../../queuing/settled.js';
import type { Delivery } from '../../queuing/types.js';
import { atMost } from '../shared/at-most.js';
import { deliveryCount, lastToken, NAK, respond } from './ack-protocol.js';
import type { Link } from './connection.js';
import type { NatsDelivery } from './delivery.js';
import { bandPriority, bandToken, DELAYED } from './names.js';
import type { Topology } from './topology.js';

/**
 * How long a waiting pull request lives on the server before it expires (and is renewed). Kept short
 * because nats-server 2.9 mishandles a redelivery when the only waiting pull requests belong to a
 * subscriber that is gone: it skips the message and later hands out another one twice. So a queue
 * never leaves requests behind on purpose: it stops pulling and lets them end before unsubscribing,
 * and a crashed consumer's requests are gone after this long.
 */
const PULL_EXPIRES_MS = 1_000;
/** A pull with no answer this long was lost (restart, deleted consumer): count it as ended, redo it. */
const PULL_LOST_MS = PULL_EXPIRES_MS + 2_000;
/** Deliveries taken from higher bands while a lower band has one ready, before that band gets a turn. */
export const STARVATION_LIMIT = 50;
const encoder = new TextEncoder();

export interface Session {
  readonly link: Link;
  readonly topology: Topology;
}

/** What the fetcher needs from its queue. */
export interface FetchOwner {
  readonly name: string;
  readonly stream: string;
  readonly prefetch: number;
  readonly visibilityTimeout: number;
  session(): Promise<Session>;
  /** Turns a stored message into a delivery; undefined when it was dead-lettered instead. */
  admit(raw: Msg, priority: number, attempt: number): Admitted;
  /** A message from the delayed subject: moved to its band once due, until then put back. */
  schedule(raw: Msg): void;
}

export type Admitted = NatsDelivery<unknown> | Promise<NatsDelivery<unknown> | undefined> | undefined;

/** A priority band (or the delayed subject): one durable consumer and what was fetched from it. */
interface Band {
  readonly token: string;
  readonly priority: number;
  readonly buffer: Fifo<NatsDelivery<unknown>>;
  /** Batch size of the pull request in flight; 0 when none is. */
  requested: number;
  received: number;
  issuedAt: number;
  /** Answered a first pull (`no_wait`) in this run, or needed none: what it holds now is in the buffer. */
  primed: boolean;
  /** Deliveries handed out from higher bands while this one had a message ready. */
  passedOver: number;
  /** Pending asynchronous schema checks, chained so the band keeps its order. */
  tail: Promise<void> | undefined;
}

/**
 * One period of fetching, from the first live iterator until the last one returned (or close) and
 * the pull requests then in flight ended.
 */
interface Run {
  /** No more pulls: ends once the requests in flight ended. */
  winding: boolean;
  /** Arrived while winding down: admitted if an iterator comes back, else put back at the end. */
  readonly parked: { band: Band; msg: Msg; attempt: number }[];
  stopped: boolean;
  session?: Session;
  inbox?: Subscription;
  inboxPrefix?: string;
  advisories?: Subscription;
  unlisten?: () => void;
  readonly ended: Promise<void>;
  end(): void;
}

interface Waiter {
  readonly iterator: object;
  resolve(result: IteratorResult<Delivery<unknown>>): void;
  reject(error: unknown): void;
}

/**
 * Pulls a queue's bands into local buffers and hands deliveries out, highest band first.
 *
 * - Each band keeps one pull request in flight while its buffer is at most half full, asking for
 *   what fills it to `prefetch` (like the raw client's `consume()`): what arrives is handed out at
 *   once, so a message sent to any band reaches a waiting consumer without polling. A run's first
 *   pull on each band is `no_wait`, and nothing is handed out before every band answered it, so the
 *   first delivery is already the highest one stored. The same holds after a reconnect, where a band
 *   whose buffer is still more than half full needs no such pull.
 * - Picking takes the highest band with a buffered message, except that a band passed over
 *   `STARVATION_LIMIT` times while it had one ready is served next: no band starves.
 * - Every received, unsettled message (buffered or handed out) gets a `+WPI` heartbeat about every
 *   visibilityTimeout / 3, so only a dead consumer's messages come back after the visibility timeout.
 * - New bands are found from the stream's consumers when a run starts or the connection comes back,
 *   and from JetStream's consumer-created advisories while it runs.
 */
export class Fetcher {
  readonly #owner: FetchOwner;
  /** Priority bands, highest first. */
  #bands: Band[] = [];
  readonly #byToken = new Map<string, Band>();
  readonly #waiters = new Fifo<Waiter>();
  /** Received and not settled: buffered or handed out. */
  readonly #held = new Set<NatsDelivery<unknown>>();
  readonly #iterators = new Set<object>();
  #run: Run | undefined;
  #unprimed = 0;
  #closed = false;
  #tick: NodeJS.Timeout | undefined;
  #lastBeat = Date.now();
  #onIdle: (() => void) | undefined;

  constructor(owner: FetchOwner) {
    this.#owner = owner;
  }

  attach(iterator: object): void {
    if (this.#closed) return;
    this.#iterators.add(iterator);
    this.#ensureRunning();
  }

  /** The iterator was returned: its pending `next()` calls end; the last one out winds the run down. */
  detach(iterator: object): void {
    if (!this.#iterators.delete(iterator)) return;
    this.#endWaiters((waiter) => waiter.iterator === iterator);
    if (this.#iterators.size === 0 && this.#run !== undefined) this.#windDown(this.#run);
  }

  next(iterator: object): Promise<IteratorResult<Delivery<unknown>>> {
    if (this.#closed || !this.#iterators.has(iterator)) return DONE_PROMISE;
    const delivery = this.take();
    if (delivery !== undefined) return Promise.resolve({ value: delivery, done: false });
    this.#ensureRunning();
    return new Promise((resolve, reject) => this.#waiters.push({ iterator, resolve, reject }));
  }

  /** A buffered delivery, synchronously, when nobody is waiting before the caller. */
  take(): NatsDelivery<unknown> | undefined {
    if (this.#closed) return undefined; // what is buffered goes back to the stream
    return this.#waiters.size === 0 && this.#unprimed === 0 ? this.#pick() : undefined;
  }

  /** The delivery was settled or released: stop heartbeating it. */
  forget(delivery: NatsDelivery<unknown>): void {
    this.#held.delete(delivery);
    if (this.#held.size === 0) this.#onIdle?.();
  }

  /**
   * Stops fetching for good: pending `next()` calls end, buffered messages go back, handed-out
   * deliveries may still be settled for `closeTimeout` ms, then they go back too.
   */
  async close(closeTimeout: number): Promise<void> {
    const deadline = Date.now() + closeTimeout;
    this.#closed = true;
    this.#iterators.clear();
    this.#endWaiters(() => true);
    const run = this.#run;
    if (run !== undefined) {
      this.#windDown(run);
      await run.ended;
    }
    if (this.#held.size > 0) {
      const idle = new Promise<void>((resolve) => {
        this.#onIdle = resolve;
      });
      await atMost(idle, deadline - Date.now());
    }
    for (const delivery of [...this.#held]) delivery.release();
    clearInterval(this.#tick);
  }

  #ensureRunning(): void {
    if (this.#closed || this.#iterators.size === 0) return;
    const current = this.#run;
    if (current !== undefined) {
      if (current.winding) {
        current.winding = false; // an iterator came back before the run ended: carry on
        for (const { band, msg, attempt } of current.parked.splice(0)) {
          this.#admit(current, band, this.#owner.admit(msg, band.priority, attempt));
        }
        for (const band of this.#byToken.values()) this.#pull(current, band);
      }
      return;
    }
    let end!: () => void;
    const ended = new Promise<void>((resolve) => {
      end = resolve;
    });
    const run: Run = { winding: false, parked: [], stopped: false, ended, end };
    this.#run = run;
    this.#tick ??= setInterval(() => this.#onTick(), Math.min(this.#owner.visibilityTimeout / 2, 1_000));
    this.#tick.unref();
    void this.#start(run);
  }

  async #start(run: Run): Promise<void> {
    let session: Session;
    try {
      session = await this.#owner.session();
    } catch (error) {
      // Not connected at all (the first connection failed): tell whoever waits; a later next() retries.
      this.#finish(run);
      for (let w = this.#waiters.shift(); w !== undefined; w = this.#waiters.shift()) w.reject(error);
      return;
    }
    if (run.stopped) return;
    run.session = session;
    const { nc } = session.link;
    run.inboxPrefix = createInbox();
    run.inbox = nc.subscribe(`${run.inboxPrefix}.*`, { callback: (_, msg) => this.#onMessage(run, msg) });
    run.advisories = nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.CREATED.${this.#owner.stream}.*`, {
      callback: (_, msg) => void this.#adopt(run, lastToken(msg.subject)),
    });
    run.unlisten = session.link.onReconnect(() => this.#resume(run));
    this.#unprime();
    await this.#discover(run);
  }

  /** Finds the queue's bands (creating the default band and the delayed subject) and pulls them. */
  async #discover(run: Run): Promise<void> {
    const { topology } = run.session!;
    let tokens: string[];
    try {
      await topology.ensureStream(this.#owner.name);
      tokens = [bandToken(0), DELAYED, ...(await topology.consumers(this.#owner.name))];
    } catch {
      this.#retryDiscovery(run); // JetStream not answering (restarting, or the stream was deleted)
      return;
    }
    await Promise.all(tokens.map((token) => this.#adopt(run, token)));
  }

  #retryDiscovery(run: Run): void {
    if (!run.stopped) setTimeout(() => !run.stopped && void this.#discover(run), 1_000).unref();
  }

  /**
   * Knows the band from now on (unprimed, so nothing is handed out before it answered a first
   * pull), makes sure its consumer has this handle's ack_wait, then pulls from it.
   */
  async #adopt(run: Run, token: string): Promise<void> {
    const priority = token === DELAYED ? Number.NaN : bandPriority(token);
    if (priority === undefined || run.stopped) return;
    let band = this.#byToken.get(token);
    if (band === undefined) {
      band = {
        token,
        priority,
        buffer: new Fifo(),
        requested: 0,
        received: 0,
        issuedAt: 0,
        primed: true,
        passedOver: 0,
        tail: undefined,
      };
      this.#byToken.set(token, band);
      if (token !== DELAYED) {
        this.#bands = [...this.#bands, band].sort((a, b) => b.priority - a.priority);
        this.#unprimeBand(band);
      }
    }
    try {
      await run.session!.topology.ensureConsumer(this.#owner.name, token, true);
    } catch {
      this.#retryDiscovery(run);
      return;
    }
    this.#pull(run, band);
  }

  /**
   * The connection came back: pulls in flight were probably lost with the server. A winding run
   * still counts them in flight until they end (answered, or counted lost by a tick): it ends then,
   * and never leaves a pull behind that the server might still hold.
   */
  #resume(run: Run): void {
    if (!run.winding) for (const band of this.#byToken.values()) band.requested = 0;
    this.#unprime();
    void this.#discover(run);
  }

  #unprime(): void {
    for (const band of this.#bands) this.#unprimeBand(band);
  }

  #unprimeBand(band: Band): void {
    if (!band.primed) return;
    band.primed = false;
    this.#unprimed++;
  }

  #pull(run: Run, band: Band): void {
    if (run.stopped || run.winding || band.requested > 0 || !run.session!.link.up) return;
    const batch = this.#owner.prefetch - band.buffer.size;
    if (batch < this.#owner.prefetch / 2) {
      this.#prime(band); // no first pull needed: what the band holds is in its buffer
      return;
    }
    const wait = band.primed ? `"expires":${PULL_EXPIRES_MS * 1e6}` : '"no_wait":true';
    try {
      run.session!.link.nc.publish(
        `$JS.API.CONSUMER.MSG.NEXT.${this.#owner.stream}.${band.token}`,
        encoder.encode(`{"batch":${batch},${wait}}`),
        { reply: `${run.inboxPrefix}.${band.token}` },
      );
    } catch {
      return; // the connection is closing; nothing more to fetch
    }
    band.requested = batch;
    band.received = 0;
    band.issuedAt = Date.now();
  }

  #onMessage(run: Run, msg: Msg): void {
    const band = this.#byToken.get(lastToken(msg.subject));
    if (band === undefined || run.stopped) return;
    const attempt = deliveryCount(msg.reply);
    if (attempt === undefined) {
      // A status on a pull's reply subject: 404/408 end a pull (renew it now); anything else
      // (JetStream restarting, a consumer deleted) is retried by the next tick.
      const code = msg.headers?.code;
      this.#ended(run, band, code === 404 || code === 408);
      return;
    }
    band.received++;
    if (band.token === DELAYED) this.#owner.schedule(msg);
    else if (run.winding)
      run.parked.push({ band, msg, attempt }); // nobody consumes: do not decode
    else this.#admit(run, band, this.#owner.admit(msg, band.priority, attempt));
    if (band.received >= band.requested) this.#ended(run, band, true);
  }

  /** A pull request ended: renew it, or end the run if it is winding down and nothing is in flight. */
  #ended(run: Run, band: Band, renew: boolean): void {
    band.requested = 0;
    this.#prime(band);
    if (renew) this.#pull(run, band);
    if (run.winding) this.#finishIfQuiet(run);
  }

  #prime(band: Band): void {
    if (band.primed) return;
    band.primed = true;
    if (--this.#unprimed === 0) this.#serve();
  }

  #admit(run: Run, band: Band, admitted: Admitted): void {
    if (admitted instanceof Promise || band.tail !== undefined) {
      const tail = (band.tail ?? Promise.resolve()).then(async () => {
        const delivery = await admitted;
        if (delivery !== undefined) this.#buffer(run, band, delivery);
      });
      band.tail = tail;
      void tail.finally(() => {
        if (band.tail === tail) band.tail = undefined;
      });
    } else if (admitted !== undefined) {
      this.#buffer(run, band, admitted);
    }
  }

  #buffer(run: Run, band: Band, delivery: NatsDelivery<unknown>): void {
    if (run.stopped) {
      delivery.release();
      return;
    }
    this.#held.add(delivery);
    // Someone waits only while every buffer is empty, so once all bands are primed this is the best.
    const waiter = this.#unprimed === 0 ? this.#waiters.shift() : undefined;
    if (waiter === undefined) band.buffer.push(delivery);
    else waiter.resolve({ value: delivery, done: false });
  }

  /** Hands buffered deliveries to waiting `next()` calls (once every band is primed). */
  #serve(): void {
    while (this.#waiters.size > 0) {
      const delivery = this.#pick();
      if (delivery === undefined) return;
      this.#waiters.shift()!.resolve({ value: delivery, done: false });
    }
  }

  #pick(): NatsDelivery<unknown> | undefined {
    let chosen: Band | undefined;
    let starved: Band | undefined;
    for (const band of this.#bands) {
      if (band.buffer.size === 0) continue;
      if (chosen === undefined) chosen = band;
      else if (++band.passedOver > STARVATION_LIMIT && starved === undefined) starved = band;
    }
    const from = starved ?? chosen;
    if (from === undefined) return undefined;
    from.passedOver = 0;
    const delivery = from.buffer.shift();
    if (this.#run !== undefined) this.#pull(this.#run, from);
    return delivery;
  }

  #endWaiters(which: (waiter: Waiter) => boolean): void {
    const kept = new Fifo<Waiter>();
    for (let w = this.#waiters.shift(); w !== undefined; w = this.#waiters.shift()) {
      if (which(w)) w.resolve(DONE);
      else kept.push(w);
    }
    while (kept.size > 0) this.#waiters.push(kept.shift()!);
  }

  /** Stops pulling; the run ends once the pull requests in flight ended (see PULL_EXPIRES_MS). */
  #windDown(run: Run): void {
    run.winding = true;
    this.#finishIfQuiet(run);
  }

  #finishIfQuiet(run: Run): void {
    for (const band of this.#byToken.values()) if (band.requested > 0) return;
    this.#finish(run);
  }

  /** Ends a run with no pull in flight: unsubscribes, and what is buffered goes back to the stream. */
  #finish(run: Run): void {
    if (run.stopped) return;
    run.stopped = true;
    if (this.#run === run) this.#run = undefined;
    run.unlisten?.();
    run.advisories?.unsubscribe();
    run.inbox?.unsubscribe();
    for (const { msg } of run.parked.splice(0)) respond(msg, NAK);
    for (const band of this.#byToken.values()) {
      band.requested = 0;
      band.passedOver = 0;
      for (let d = band.buffer.shift(); d !== undefined; d = band.buffer.shift()) d.release();
    }
    run.end();
  }

  #onTick(): void {
    const now = Date.now();
    // Ticks come at most visibilityTimeout / 2 apart, so a beat every third of it is never late.
    if (now - this.#lastBeat >= this.#owner.visibilityTimeout / 3) {
      this.#lastBeat = now;
      for (const delivery of this.#held) delivery.heartbeat();
    }
    const run = this.#run;
    if (run?.session === undefined || run.stopped) return;
    for (const band of this.#byToken.values()) {
      if (band.requested > 0 && now - band.issuedAt > PULL_LOST_MS) {
        run.session.topology.forget(this.#owner.name); // the consumer may be gone: create it again
        this.#ended(run, band, false);
        void this.#adopt(run, band.token);
      } else this.#pull(run, band);
    }
  }
}
