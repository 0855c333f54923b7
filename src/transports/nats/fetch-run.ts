import type { Msg, Subscription } from '@nats-io/transport-node';
import { createInbox } from '@nats-io/transport-node';
import { BrokerUnavailableError } from '../../errors.js';
import { deliveryCount, lastToken } from './ack-protocol.js';
import type { Band } from './bands.js';
import { NatsTopologyError } from './errors.js';
import { bandToken, DELAYED } from './names.js';
import type { RunOwner } from './run-owner.js';
import type { Session } from './session.js';

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
/** How long discovery waits before asking JetStream again when it did not answer. */
const DISCOVERY_RETRY_MS = 1_000;
/** How long a run waits before trying again to connect when NATS was not there (as a reconnect does). */
const CONNECT_RETRY_MS = 500;
const encoder = new TextEncoder();

/**
 * One period of fetching, from the first live iterator until the last one returned (or close, or a
 * failure) and the pull requests then in flight ended.
 *
 * - Each band keeps one pull request in flight while its buffer is at most half full, asking for
 *   what fills it to `prefetch` (like the raw client's `consume()`): what arrives is handed out at
 *   once, so a message sent to any band reaches a waiting consumer without polling. A run's first
 *   pull on each band is `no_wait`, and nothing is handed out before every band answered it (see
 *   Bands). The same holds after a reconnect, where a band whose buffer is still more than half
 *   full needs no such pull.
 * - New bands are found from the stream's consumers when a run starts or the connection comes back,
 *   and from JetStream's consumer-created advisories while it runs.
 */
export class FetchRun<D> {
  /** No more pulls: ends once the requests in flight ended. */
  winding = false;
  stopped = false;
  /** Why the run failed: the `next()` calls made while it winds down reject with it. */
  failure: unknown;
  readonly ended: Promise<void>;
  /** Arrived while winding down: admitted if an iterator comes back, else put back at the end. */
  readonly #parked: { band: Band<D>; msg: Msg; attempt: number }[] = [];
  #session: Session | undefined;
  #inbox: Subscription | undefined;
  #inboxPrefix = '';
  #advisories: Subscription | undefined;
  #unlisten: (() => void) | undefined;
  #connectRetry: NodeJS.Timeout | undefined;
  #end!: () => void;

  constructor(private readonly owner: RunOwner<D, FetchRun<D>>) {
    this.ended = new Promise<void>((resolve) => {
      this.#end = resolve;
    });
  }

  async start(): Promise<void> {
    const session = await this.#connect();
    if (session === undefined || this.stopped) return;
    this.#session = session;
    const { nc } = session.connection;
    this.#inboxPrefix = createInbox();
    this.#inbox = nc.subscribe(`${this.#inboxPrefix}.*`, { callback: (_, msg) => this.#onMessage(msg) });
    this.#advisories = nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.CREATED.${this.owner.stream}.*`, {
      callback: (_, msg) => void this.#adopt(lastToken(msg.subject)),
    });
    const unlistenReconnect = session.connection.onReconnect(() => this.#resume());
    const unlistenLost = session.connection.onLost((error) => this.owner.failed(this, error));
    this.#unlisten = () => {
      unlistenReconnect();
      unlistenLost();
    };
    this.owner.bands.unprimeAll();
    await this.#discover();
  }

  /**
   * The handle's session. A consumer started while NATS is down waits for it and carries on, like
   * one whose connection dropped; what no retry fixes (credentials the server refused, a server
   * without JetStream) fails the run. Undefined when the run failed or stopped meanwhile.
   */
  async #connect(): Promise<Session | undefined> {
    for (;;) {
      try {
        return await this.owner.session();
      } catch (error) {
        if (!(error instanceof BrokerUnavailableError)) {
          this.owner.failed(this, error);
          return undefined;
        }
      }
      if (this.stopped) return undefined;
      // Cleared by #finish: the run then ends here, waiting for nothing.
      await new Promise((resolve) => {
        this.#connectRetry = setTimeout(resolve, CONNECT_RETRY_MS);
      });
    }
  }

  /** An iterator came back before the run ended: carry on, admitting what arrived meanwhile. */
  revive(): void {
    this.winding = false;
    for (const { band, msg, attempt } of this.#parked.splice(0))
      this.owner.received(this, band, msg, attempt);
    this.pullAll();
  }

  /** Pulls every band that has no pull in flight. */
  pullAll(): void {
    for (const band of this.owner.bands.all()) this.pull(band);
  }

  /** Stops pulling; the run ends once the pull requests in flight ended (see PULL_EXPIRES_MS). */
  windDown(): void {
    this.winding = true;
    this.#finishIfQuiet();
  }

  pull(band: Band<D>): void {
    const { prefetch } = this.owner;
    const session = this.#session;
    if (session === undefined || this.stopped || this.winding || band.requested > 0) return;
    if (this.owner.paused) return;
    if (!session.connection.up) return;
    const flow = this.owner.flowControl;
    const batch = flow.demandOnly ? flow.demand(band.primed) : prefetch - band.buffer.size;
    if (flow.demandOnly ? batch <= 0 : batch < prefetch / 2) {
      this.#prime(band); // no first pull needed: what the band holds is in its buffer, or none is wanted
      return;
    }
    const wait = band.primed ? `"expires":${PULL_EXPIRES_MS * 1e6}` : '"no_wait":true';
    try {
      session.connection.nc.publish(
        `$JS.API.CONSUMER.MSG.NEXT.${this.owner.stream}.${band.token}`,
        encoder.encode(`{"batch":${batch},${wait}}`),
        { reply: `${this.#inboxPrefix}.${band.token}` },
      );
    } catch {
      return; // the connection is closing; nothing more to fetch
    }
    band.requested = batch;
    band.received = 0;
    band.issuedAt = Date.now();
  }

  /** Asks a group band's consumer for what it has now, up to `batch`; false when it cannot ask now. */
  pullOnce(token: string, batch: number): boolean {
    const session = this.#session;
    if (session === undefined || this.stopped || this.winding || this.owner.paused) return false;
    if (!session.connection.up) return false;
    try {
      session.connection.nc.publish(
        `$JS.API.CONSUMER.MSG.NEXT.${this.owner.stream}.${token}`,
        encoder.encode(`{"batch":${batch},"no_wait":true}`),
        { reply: `${this.#inboxPrefix}.${token}` },
      );
      return true;
    } catch {
      return false; // the connection is closing
    }
  }

  /** Called about every second: counts lost pulls as ended (and adopts their band again), renews the rest. */
  tick(now: number): void {
    if (this.#session === undefined || this.stopped) return;
    for (const band of this.owner.bands.all()) {
      if (band.requested > 0 && now - band.issuedAt > PULL_LOST_MS) {
        this.#session.topology.forget(this.owner.name); // the consumer may be gone: create it again
        this.#pullEnded(band, false);
        void this.#adopt(band.token);
      } else this.pull(band);
    }
  }

  /** Finds the queue's bands (creating the default band and the delayed subject) and pulls them. */
  async #discover(): Promise<void> {
    const { topology } = this.#session!;
    let tokens: string[];
    try {
      await topology.ensureStream(this.owner.name);
      tokens = [bandToken(0), DELAYED, ...(await topology.consumers(this.owner.name))];
    } catch (error) {
      this.#discoveryFailed(error);
      return;
    }
    await Promise.all(tokens.map((token) => this.#adopt(token)));
  }

  /**
   * A topology sluice cannot use fails the run. Otherwise JetStream did not answer (restarting, or
   * the stream was deleted): ask again soon.
   */
  #discoveryFailed(error: unknown): void {
    if (error instanceof NatsTopologyError) this.owner.failed(this, error);
    else if (!this.stopped) {
      setTimeout(() => !this.stopped && void this.#discover(), DISCOVERY_RETRY_MS).unref();
    }
  }

  /**
   * Knows the band from now on (unprimed, so nothing is handed out before it answered a first
   * pull), makes sure its consumer is one sluice can use, with this handle's ack_wait, then pulls.
   */
  async #adopt(token: string): Promise<void> {
    if (this.stopped) return;
    const band = this.owner.bands.add(token);
    if (band === undefined && !this.owner.flowControl.adopt(token)) return; // another consumer of the stream
    try {
      await this.#session!.topology.ensureConsumer(this.owner.name, token, true);
    } catch (error) {
      this.#discoveryFailed(error);
      return;
    }
    if (band === undefined) this.owner.flowControl.found(token);
    else this.pull(band);
  }

  /**
   * The connection came back: pulls in flight were probably lost with the server. A winding run
   * still counts them in flight until they end (answered, or counted lost by a tick): it ends then,
   * and never leaves a pull behind that the server might still hold.
   */
  #resume(): void {
    if (!this.winding) for (const band of this.owner.bands.all()) band.requested = 0;
    this.owner.bands.unprimeAll();
    void this.#discover();
  }

  #onMessage(msg: Msg): void {
    const token = lastToken(msg.subject);
    const band = this.owner.bands.get(token);
    if (band === undefined) {
      this.owner.flowControl.answered(this, token, msg);
      return;
    }
    if (this.stopped) return;
    const attempt = deliveryCount(msg.reply);
    if (attempt === undefined) {
      // A status on a pull's reply subject: 404/408 end a pull (renew it now); anything else
      // (409 when the consumer was deleted or changed) ends it too, renewed by the next tick.
      const code = msg.headers?.code;
      this.#pullEnded(band, code === 404 || code === 408);
      return;
    }
    band.received++;
    if (band.token === DELAYED) this.owner.schedule(msg);
    else if (this.winding)
      this.#parked.push({ band, msg, attempt }); // nobody consumes: do not decode
    else this.owner.received(this, band, msg, attempt);
    if (band.received >= band.requested) this.#pullEnded(band, true);
  }

  /** A pull request ended: renew it, or end the run if it is winding down and nothing is in flight. */
  #pullEnded(band: Band<D>, renew: boolean): void {
    band.requested = 0;
    this.#prime(band);
    if (renew) this.pull(band);
    if (this.winding) this.#finishIfQuiet();
  }

  #prime(band: Band<D>): void {
    if (this.owner.bands.prime(band)) this.owner.serve();
  }

  #finishIfQuiet(): void {
    if (this.owner.flowControl.pulling > 0) return;
    for (const band of this.owner.bands.all()) if (band.requested > 0) return;
    this.#finish();
  }

  /** Ends a run with no pull in flight: unsubscribes, and what is buffered goes back to the stream. */
  #finish(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.#connectRetry);
    this.#unlisten?.();
    this.#advisories?.unsubscribe();
    this.#inbox?.unsubscribe();
    for (const { msg } of this.#parked.splice(0)) this.owner.putBack(msg);
    for (const band of this.owner.bands.all()) {
      band.requested = 0;
      band.passedOver = 0;
      for (let d = band.buffer.shift(); d !== undefined; d = band.buffer.shift()) this.owner.release(d);
    }
    this.owner.ended(this);
    this.#end();
  }
}
