import type { Msg, Subscription } from '@nats-io/transport-node';
import { Fifo } from '../../queuing/memory/buffers.js';
import { deliveryCount } from './ack-protocol.js';
import type { Admitted } from './admission.js';
import type { Connection } from './connection.js';
import type { NatsDelivery } from './delivery.js';
import type { FetchRun } from './fetch-run.js';
import { type Group, type GroupBand, type Groups, nextBand } from './groups.js';
import { inOrder } from './in-order.js';
import { readySubject } from './names.js';

/** A group pull with no answer this long was lost (its `no_wait` answer never came): pull again. */
const GROUP_PULL_LOST_MS = 3_000;
const decoder = new TextDecoder();

/** What group fetching needs from its consumer. */
export interface GroupFetchOwner<D> {
  readonly paused: boolean;
  readonly run: FetchRun<D> | undefined;
  /** How many more deliveries group pulls may bring in now. */
  groupBudget(): number;
  /** The slots a pull of `group` needs first, taken: how many (0: at its cap); undefined: no cap applies. */
  takeSlots(group: Group<D>): Promise<number> | undefined;
  /** Slots taken for a pull that brought nothing: given back. */
  giveSlots(group: Group<D>, count: number): void;
  admit(msg: Msg, priority: number, attempt: number): Admitted<unknown>;
  /** A delivery of a group, admitted: to its buffer (holding `slot` when it took one). */
  buffer(group: Group<D>, delivery: D, slot: boolean): void;
  putBack(msg: Msg): void;
  /** A pull ended: what its group holds may be handed out now. */
  serve(): void;
}

/**
 * Fetches grouped messages: each group's bands have a durable consumer, pulled one message at a
 * time (`no_wait`, highest band first), a group at a time in the order they asked, so no group's
 * backlog fills the buffers. A group is pulled when it has nothing buffered and may hold a message:
 * - it was found (discovery, or JetStream's consumer-created advisory),
 * - a producer published to it (sluice publishes the group's token on `sluice-ready.<n>` after each
 *   grouped send), a nack's delay ran out here, or the tick's look at the consumers' counts found
 *   messages pending or delivered and unacked (a crashed consumer's come back after ack_wait);
 * and stops being pulled when every band answered none.
 */
export class GroupFetch<D extends NatsDelivery<unknown>> {
  readonly #wanting = new Fifo<Group<D>>();
  readonly #wants = new WeakSet<Group<D>>();
  readonly #blocked = new Set<Group<D>>();
  #pulls = 0;
  #nudges: Subscription | undefined;

  constructor(
    private readonly owner: GroupFetchOwner<D>,
    private readonly groups: Groups<D>,
    private readonly queue: string,
  ) {}

  /** Pulls in flight (counted from the slot request on). */
  get pulls(): number {
    return this.#pulls;
  }

  /** Listens for the nudges of sends, on the connection the consumer fetches on. */
  follow(connection: Connection): void {
    if (this.#nudges !== undefined && !this.#nudges.isClosed()) return;
    this.#nudges = connection.nc.subscribe(readySubject(this.queue), {
      callback: (_, msg) => this.mayHold(decoder.decode(msg.data)),
    });
  }

  stop(): void {
    try {
      this.#nudges?.unsubscribe();
    } catch {
      // The connection is closed: so is the subscription.
    }
  }

  /** The band of `token` may hold a message: its group is pulled when its turn comes. */
  mayHold(token: string): void {
    const band = this.groups.band(token);
    if (band === undefined) return;
    band.empty = false;
    this.want(band.group as Group<D>);
    this.fill();
  }

  /** Puts a group in line for a pull, unless it has one in flight or nothing to pull (see next). */
  want(group: Group<D>): void {
    if (this.#wants.has(group) || group.pulling !== undefined || nextBand(group) === undefined) return;
    this.#wants.add(group);
    this.#wanting.push(group);
  }

  /** A group at its cap: in line again at the next tick or when this consumer gives a slot back. */
  unblock(group?: Group<D>): void {
    const groups = group === undefined ? [...this.#blocked] : this.#blocked.has(group) ? [group] : [];
    for (const each of groups) {
      this.#blocked.delete(each);
      this.want(each);
    }
    this.fill();
  }

  /** Pulls the groups in line, as many as the budget lets. */
  fill(): void {
    const run = this.owner.run;
    if (run === undefined || run.winding || run.stopped || this.owner.paused) return;
    for (let budget = this.owner.groupBudget(); budget > 0; ) {
      const group = this.#wanting.shift();
      if (group === undefined) return;
      this.#wants.delete(group);
      const band = nextBand(group);
      if (band === undefined || group.pulling !== undefined) continue;
      budget--;
      void this.#pull(run, group, band);
    }
  }

  async #pull(run: FetchRun<D>, group: Group<D>, band: GroupBand): Promise<void> {
    group.pulling = band;
    group.requested = 1;
    group.received = 0;
    group.issuedAt = Date.now();
    this.#pulls++;
    const taking = this.owner.takeSlots(group);
    if (taking !== undefined) {
      const slots = await taking.catch(() => 0);
      if (group.pulling !== band) {
        if (slots > 0) this.owner.giveSlots(group, slots); // counted lost meanwhile
        return;
      }
      if (slots === 0) {
        this.#blocked.add(group);
        this.#ended(run, group);
        return;
      }
      group.slots = slots;
    }
    group.issuedAt = Date.now();
    if (!run.pullOnce(band.token, 1)) this.#ended(run, group);
  }

  /** A message or status on a group band's pull. */
  answered(run: FetchRun<D>, band: GroupBand, msg: Msg): void {
    const group = band.group as Group<D>;
    if (group.pulling !== band) return; // a pull counted lost, answered late: it is over
    const attempt = deliveryCount(msg.reply);
    if (attempt === undefined) {
      if (group.received < group.requested) band.empty = true; // 404: none, or 408: none came
      this.#ended(run, group);
      return;
    }
    group.received++;
    const slot = group.slots > 0;
    if (slot) group.slots--;
    if (run.winding || run.stopped) {
      this.owner.putBack(msg);
      if (slot) this.owner.giveSlots(group, 1);
    } else this.#admit(group, band, msg, attempt, slot);
    if (group.received >= group.requested) this.#ended(run, group);
  }

  #admit(group: Group<D>, band: GroupBand, msg: Msg, attempt: number, slot: boolean): void {
    const admitted = this.owner.admit(msg, band.priority, attempt) as D | Promise<D | undefined> | undefined;
    inOrder(group, admitted, (delivery) => {
      if (delivery !== undefined) this.owner.buffer(group, delivery, slot);
      else if (slot) this.owner.giveSlots(group, 1);
    });
  }

  /** A group's pull is over: slots it did not use go back, and the group is in line again if it may hold more. */
  #ended(run: FetchRun<D>, group: Group<D>): void {
    if (group.pulling === undefined) return;
    group.pulling = undefined;
    this.#pulls--;
    if (group.slots > 0) this.owner.giveSlots(group, group.slots);
    group.slots = 0;
    this.want(group);
    if (run.winding) run.windDown();
    else {
      this.fill();
      this.owner.serve();
    }
  }

  /**
   * Looks at the group consumers' counts: a band with messages never delivered, or delivered and
   * not acked (some of which may be due again), may hold one.
   */
  async look(connection: Connection, stream: string): Promise<void> {
    for await (const info of connection.jsm.consumers.list(stream)) {
      if (info.num_pending > 0 || info.num_ack_pending > 0) this.mayHold(info.name);
    }
  }

  /** About every second: lost pulls end, blocked groups are in line again. */
  tick(now: number): void {
    const run = this.owner.run;
    if (run === undefined) return;
    for (const group of this.groups.all()) {
      if (group.pulling !== undefined && now - group.issuedAt > GROUP_PULL_LOST_MS) this.#ended(run, group);
    }
    this.unblock();
  }
}
