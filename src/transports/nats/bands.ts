import { Fifo } from '../../queuing/memory/buffers.js';
import { bandPriority, DELAYED } from './names.js';

/** Deliveries taken from higher bands while a lower band has one ready, before that band gets a turn. */
export const STARVATION_LIMIT = 50;

/** A priority band (or the delayed subject): one durable consumer and what was fetched from it. */
export interface Band<D> {
  readonly token: string;
  /** NaN for the delayed subject. */
  readonly priority: number;
  readonly buffer: Fifo<D>;
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
 * The bands a consumer knows, highest first, and which of them still owe the first answer of a run:
 * nothing is handed out before every band gave it, so the first delivery is the highest stored.
 */
export class Bands<D> {
  /** Priority bands, highest first (the delayed subject is not one). */
  #sorted: Band<D>[] = [];
  readonly #byToken = new Map<string, Band<D>>();
  #unprimed = 0;

  get(token: string): Band<D> | undefined {
    return this.#byToken.get(token);
  }

  /** Every band, the delayed subject included. */
  all(): IterableIterator<Band<D>> {
    return this.#byToken.values();
  }

  /** Deliveries buffered across the bands. */
  buffered(): number {
    let count = 0;
    for (const band of this.#sorted) count += band.buffer.size;
    return count;
  }

  /** Every band answered its first pull: deliveries may be handed out. */
  get primed(): boolean {
    return this.#unprimed === 0;
  }

  /** The band of a subject token, known from now on; undefined when the token is not a band's. */
  add(token: string): Band<D> | undefined {
    let band = this.#byToken.get(token);
    if (band !== undefined) return band;
    const priority = token === DELAYED ? Number.NaN : bandPriority(token);
    if (priority === undefined) return undefined;
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
      this.#sorted = [...this.#sorted, band].sort((a, b) => b.priority - a.priority);
      this.unprime(band);
    }
    return band;
  }

  /** A run starts, or the connection came back: every band owes a first answer again. */
  unprimeAll(): void {
    for (const band of this.#sorted) this.unprime(band);
  }

  unprime(band: Band<D>): void {
    if (!band.primed) return;
    band.primed = false;
    this.#unprimed++;
  }

  /** The band answered; true when it was the last one owing (what waits can be served now). */
  prime(band: Band<D>): boolean {
    if (band.primed) return false;
    band.primed = true;
    return --this.#unprimed === 0;
  }

  /**
   * The band to hand out from: the highest with a buffered delivery, except that a band passed
   * over `STARVATION_LIMIT` times while it had one ready is served next, so no band starves.
   */
  pick(): Band<D> | undefined {
    let chosen: Band<D> | undefined;
    let starved: Band<D> | undefined;
    for (const band of this.#sorted) {
      if (band.buffer.size === 0) continue;
      if (chosen === undefined) chosen = band;
      else if (++band.passedOver > STARVATION_LIMIT && starved === undefined) starved = band;
    }
    const from = starved ?? chosen;
    if (from !== undefined) from.passedOver = 0;
    return from;
  }
}
