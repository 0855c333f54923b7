import { Timer } from '../../timer.js';
import type { Delivery, NackOptions } from '../types.js';

/** A drain loop as its draining's end sees it: the delivery it is dispatching, if any. */
export interface Dispatching<T> {
  /** Until settled; a stop that times out releases it and clears this. */
  delivery: Delivery<T> | undefined;
}

/**
 * How a draining ends, and its `done`. It is done once its loops all exited on their own (the
 * consumer ended) and the acks still under way settled, or once a stop settled what was in flight.
 *
 * Acks are tracked here: a loop does not wait for its ack before taking the next message (a durable
 * queue's ack is a write: waiting would cap each write at `concurrency` acks), but ending does.
 *
 * A stop (non-graceful, or the first error without `failSilently`) gives in-flight dispatches
 * `shutdownTimeout` to settle; what is still running then is released (nack with requeue). A
 * dispatch that rejects once the signal aborted is released too, whatever its error: the abort's
 * doing cannot be told apart reliably (an EventBus rejects with an AggregateError of its handlers'
 * aborts), and a failure released by mistake is retried, where an abort nacked by mistake could be
 * dropped. A loop still waiting on the consumer is not waited for: whatever it receives later is
 * released at once.
 */
export class Shutdown<T> {
  readonly done: Promise<void>;
  readonly #loops: ReadonlySet<Dispatching<T>>;
  readonly #shutdownTimeout: number;
  /** What a failed ack does: `undefined` when failures are swallowed (the queue redelivers). */
  readonly #ackFailed: ((error: unknown) => void) | undefined;
  readonly #finished: () => void;
  readonly #acking = new Set<Promise<unknown>>();
  /** Set while a stop waits for in-flight dispatches and acks to settle. */
  #onIdle: (() => void) | undefined;
  #error: { reason: unknown } | undefined;
  #settleDone!: (error?: { reason: unknown }) => void;
  #done = false;

  /** `finished`: called once, when `done` settles. */
  constructor(
    loops: ReadonlySet<Dispatching<T>>,
    shutdownTimeout: number,
    ackFailed: ((error: unknown) => void) | undefined,
    finished: () => void,
  ) {
    this.#loops = loops;
    this.#shutdownTimeout = shutdownTimeout;
    this.#ackFailed = ackFailed;
    this.#finished = finished;
    this.done = new Promise<void>((resolve, reject) => {
      this.#settleDone = (error) => (error ? reject(error.reason) : resolve());
    });
    this.done.catch(() => {}); // surfaced through stop() / disposal; never an unhandled rejection
  }

  /** The first error recorded is the one `done` rejects with. */
  record(reason: unknown): void {
    this.#error ??= { reason };
  }

  trackAck(acked: Promise<void>): void {
    const settled: Promise<unknown> = acked
      .catch((error) => this.#ackFailed?.(error))
      .then(() => {
        this.#acking.delete(settled);
        this.idleCheck();
      });
    this.#acking.add(settled);
  }

  /** Called whenever a dispatch or an ack settles: a stop waiting for them all goes on. */
  idleCheck(): void {
    if (this.#onIdle !== undefined && this.inFlight() === 0 && this.#acking.size === 0) this.#onIdle();
  }

  inFlight(): number {
    let count = 0;
    for (const loop of this.#loops) if (loop.delivery !== undefined) count++;
    return count;
  }

  /** The consumer ended: done once the last acks are settled. */
  async afterAcks(): Promise<void> {
    await Promise.all(this.#acking);
    this.#finish();
  }

  /** The stop: done once in-flight dispatches and acks settled, or what still runs was released. */
  async afterInFlight(): Promise<void> {
    if (this.inFlight() > 0 || this.#acking.size > 0) {
      let timer: Timer | undefined;
      await new Promise<void>((resolve) => {
        this.#onIdle = resolve;
        // Infinity waits for ever, with no timer that would keep the process alive meanwhile.
        if (Number.isFinite(this.#shutdownTimeout)) timer = new Timer(this.#shutdownTimeout, resolve);
      });
      timer?.cancel();
    }
    const unfinished: Delivery<T>[] = [];
    for (const loop of this.#loops) {
      if (loop.delivery !== undefined) unfinished.push(loop.delivery);
      loop.delivery = undefined;
    }
    await Promise.all(unfinished.map((delivery) => release(delivery)));
    this.#finish();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#finished();
    this.#settleDone(this.#error);
  }
}

/** Puts a delivery back on its queue; at worst the queue redelivers it later. */
export async function release<T>(delivery: Delivery<T>): Promise<void> {
  await nackOf(delivery, { requeue: true }).catch(() => {});
}

/** `delivery.nack(options)`, a queue whose nack throws instead of rejecting included. */
export function nackOf<T>(delivery: Delivery<T>, options: NackOptions): Promise<void> {
  try {
    return delivery.nack(options);
  } catch (error) {
    return Promise.reject(error);
  }
}
