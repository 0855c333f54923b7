import { setMaxListeners } from 'node:events';
import type { Chain, Context } from '../../middleware/types.js';
import { Fifo } from '../memory/buffers.js';
import { RESOLVED } from '../settled.js';
import type { Consumer, Delivery } from '../types.js';
import { assertConcurrency, type ResolvedDrainingOptions } from './draining-options.js';
import { FlowTuning } from './flow-tuning.js';
import { Intake, type IntakeWaiter } from './intake.js';
import type { PumpStats } from './pump-stats.js';
import { type Dispatching, nackOf, release, Shutdown } from './shutdown.js';

export type { PumpStats };

/** What a pump's dispatcher and middlewares see: the dispatch context plus the delivery's attempt. */
export interface PumpContext<T> extends Context<T> {
  /** The delivery's attempt: 1 on first delivery, +1 on each redelivery. */
  readonly attempt: number;
}

/**
 * A running pump, as {@link Pump.draining} returns it; `stop()` or `await using` ends it.
 *
 * @privateRemarks States: running → stopping → stopped.
 * - running: `concurrency` loops pull deliveries and dispatch them one at a time each. A loop exits when
 *   the consumer ends, or when there are more loops than `concurrency`: at once if it waits on a consumer
 *   that can withdraw it (`unwaitNow`), else after its current message. A surplus loop that receives a
 *   delivery hands it to the others (`#handed`) unless a dispatch slot is free. When the last loop exits
 *   on its own, the pump is stopped.
 * - stopping (a non-graceful stop, or the first error without `failSilently`): the shared signal aborts,
 *   the iterator is returned, and `Shutdown` settles or releases what is in flight.
 * - stopped: `done` resolves, or rejects with the error that stopped the pump.
 * A loop is a chain of callbacks rather than an `async` function so that a queue offering `waitNow`
 * (MemoryQueue) can start a waiting loop's dispatch inside `send`, with no promise per hand-off:
 * `#continue` takes what is ready and dispatches it; a pending dispatch resumes the loop from its `then`
 * callbacks; a loop with nothing to take waits on the consumer (`Intake`) and resumes in `#received`.
 */
export class Draining<T> extends FlowTuning implements AsyncDisposable {
  /** Resolves once the pump stopped; rejects with the error that stopped it, if one did. */
  readonly done: Promise<void>;
  readonly #intake: Intake<T>;
  readonly #chain: Chain<T, PumpContext<T>>;
  readonly #graceful: boolean;
  readonly #failSilently: boolean;
  readonly #controller = new AbortController();
  readonly #loops = new Set<Loop<T>>();
  /** Deliveries surplus loops received after `concurrency` was lowered, in the order received. */
  readonly #handed = new Fifo<Delivery<T>>();
  readonly #shutdown: Shutdown<T>;
  #state: 'running' | 'stopping' | 'stopped' = 'running';
  #concurrency: number;
  /** Dispatches on the stack: a hand-off arriving meanwhile (a handler sending) waits a microtask. */
  #depth = 0;
  #processed = 0;
  #failed = 0;

  /** @internal Made by {@link Pump.draining}. */
  constructor(
    consumer: Consumer<T>,
    chain: Chain<T, PumpContext<T>>,
    options: ResolvedDrainingOptions,
    failSilently: boolean,
  ) {
    const intake = new Intake(consumer);
    super(intake, options);
    this.#intake = intake;
    this.#chain = chain;
    this.#concurrency = options.concurrency;
    this.#graceful = options.graceful;
    this.#failSilently = failSilently;
    const ackFailed = failSilently ? undefined : (error: unknown) => this.#fail(error);
    this.#shutdown = new Shutdown(this.#loops, options.shutdownTimeout, ackFailed, () => {
      this.#state = 'stopped';
    });
    this.done = this.#shutdown.done;
    // Each in-flight dispatch may listen on the signal (timeout(), retry()): not a leak.
    setMaxListeners(0, this.#controller.signal);
    this.#spawn();
  }

  /** Drain loops pulling from the consumer at once. */
  get concurrency(): number {
    return this.#concurrency;
  }

  /**
   * Re-tunes while running: more loops start now; fewer never run more dispatches than `value`.
   *
   * @throws {@link InvalidOptionError} when `value` is not an integer of at least 1
   */
  set concurrency(value: number) {
    assertConcurrency(value);
    this.#concurrency = value;
    this.#retireIdle();
    this.#spawn();
  }

  /** A snapshot of the pump's counters. */
  get stats(): PumpStats {
    return { inFlight: this.#shutdown.inFlight(), processed: this.#processed, failed: this.#failed };
  }

  /**
   * Graceful: resolves once the consumer ended and everything was dispatched. Otherwise stops pulling
   * now and waits up to `shutdownTimeout` for in-flight dispatches before releasing them (put back in
   * the queue). Rejects with the error that stopped the pump, if one did.
   */
  stop(): Promise<void> {
    if (!this.#graceful) this.#beginStop();
    return this.done;
  }

  /** Same as `stop()`: what `await using` calls. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  #spawn(): void {
    while (this.#state === 'running' && this.#loops.size < this.#concurrency) {
      const loop: Loop<T> = {
        iterator: this.#intake.iterator,
        delivery: undefined,
        dispatched: () => {
          this.#succeeded(loop);
          this.#continue(loop);
        },
        failed: (error) => this.#failedDispatch(loop, error),
        received: (delivery) => this.#received(loop, delivery),
        next: (result) => this.#received(loop, result.done ? undefined : result.value),
        broken: (error) => {
          this.#fail(error); // the consumer's own iteration failed: always stops the pump
          this.#exit(loop);
        },
      };
      this.#loops.add(loop);
      this.#continue(loop);
    }
  }

  /** Dispatches what is ready until a dispatch is pending, nothing is ready, or the loop must exit. */
  #continue(loop: Loop<T>): void {
    while (this.#state === 'running') {
      let delivery: Delivery<T> | undefined;
      if (this.#handed.size > 0 || this.#loops.size > this.#concurrency) {
        delivery = this.#handedOver(); // concurrency was lowered
        if (delivery === undefined) break;
      } else {
        delivery = this.#intake.take?.();
        if (delivery === undefined) {
          this.#intake.wait(loop);
          return;
        }
      }
      if (this.#dispatch(loop, delivery)) return;
    }
    this.#exit(loop);
  }

  /**
   * What surplus loops handed over, oldest first, if a dispatch slot is free (always so for a loop
   * that is not surplus: the others hold fewer than `concurrency` dispatches); else the loop exits.
   */
  #handedOver(): Delivery<T> | undefined {
    const free = this.#handed.size > 0 && this.#shutdown.inFlight() < this.#concurrency;
    return free ? this.#handed.shift() : undefined;
  }

  /** Surplus loops waiting on a consumer that can withdraw them exit now: they hold nothing. */
  #retireIdle(): void {
    if (!this.#intake.withdrawable) return; // a pending `next()` cannot be withdrawn: see `#received`
    for (const loop of this.#loops) {
      if (this.#loops.size <= this.#concurrency) return;
      if (this.#intake.withdraw(loop)) this.#exit(loop);
    }
  }

  #received(loop: Loop<T>, delivery: Delivery<T> | undefined): void {
    if (delivery === undefined || this.#state !== 'running') {
      if (delivery !== undefined) void release(delivery);
      this.#exit(loop);
      return;
    }
    if (this.#depth > 0) queueMicrotask(() => this.#received(loop, delivery));
    else if (this.#handed.size > 0 || this.#loops.size > this.#concurrency) {
      // concurrency was lowered while this loop waited: dispatch in turn, within the new cap
      this.#handed.push(delivery);
      this.#continue(loop);
    } else if (!this.#dispatch(loop, delivery)) this.#continue(loop);
  }

  /** Starts a dispatch; `true` while it is pending (the loop resumes from its callbacks). */
  #dispatch(loop: Loop<T>, delivery: Delivery<T>): boolean {
    loop.delivery = delivery;
    const message = delivery.message;
    let result: unknown;
    this.#depth++;
    try {
      const context = { signal: this.#controller.signal, message, attempt: delivery.attempt };
      result =
        delivery.within === undefined
          ? this.#chain(message, context)
          : delivery.within(() => this.#chain(message, context));
    } catch (error) {
      loop.failed(error);
      return true;
    } finally {
      this.#depth--;
    }
    if (result instanceof Promise) {
      result.then(loop.dispatched, loop.failed);
      return true;
    }
    if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
      // a promise of another realm or library, or any thenable: adopted like an `await` would
      Promise.resolve(result).then(loop.dispatched, loop.failed);
      return true;
    }
    this.#succeeded(loop);
    return false;
  }

  /** Acks without waiting for the ack. */
  #succeeded(loop: Loop<T>): void {
    const delivery = loop.delivery;
    if (delivery === undefined) return; // released by a stop that timed out
    loop.delivery = undefined;
    this.#processed++;
    let acked: Promise<void>;
    try {
      acked = delivery.ack();
    } catch (error) {
      acked = Promise.reject(error); // a queue whose ack throws instead of rejecting
    }
    if (acked !== RESOLVED) this.#shutdown.trackAck(acked);
    if (this.#state !== 'running') this.#shutdown.idleCheck(); // only a stop waits for idle
  }

  #failedDispatch(loop: Loop<T>, error: unknown): void {
    const delivery = loop.delivery;
    if (delivery === undefined) {
      this.#continue(loop); // released by a stop that timed out: the loop exits
      return;
    }
    let settled: Promise<void>;
    if (this.#controller.signal.aborted) {
      settled = release(delivery); // aborted by a stop: not an error, the message goes back
    } else {
      this.#failed++;
      // Recorded first, so that it is what the pump reports even if the nack fails; the stop begins
      // once the nack is done (returning the iterator may close what the nack goes through).
      if (!this.#failSilently) this.#shutdown.record(error);
      settled = nackOf(delivery, { error }).then(
        () => {
          if (!this.#failSilently) this.#beginStop();
        },
        (nackError) => this.#nackFailed(delivery, nackError),
      );
    }
    void settled.then(() => {
      loop.delivery = undefined;
      this.#shutdown.idleCheck();
      this.#continue(loop);
    });
  }

  #exit(loop: Loop<T>): void {
    this.#loops.delete(loop);
    if (this.#loops.size === 0 && this.#state === 'running') void this.#shutdown.afterAcks();
  }

  /**
   * Stops whatever `failSilently` says, so the message is neither lost nor silently retried for
   * ever; then puts it back, since a failed nack leaves the delivery unsettled (as a MemoryQueue does).
   */
  #nackFailed(delivery: Delivery<T>, error: unknown): Promise<void> {
    this.#fail(error);
    return release(delivery);
  }

  #fail(reason: unknown): void {
    this.#shutdown.record(reason);
    this.#beginStop();
  }

  #beginStop(): void {
    if (this.#state !== 'running') return;
    this.#state = 'stopping';
    this.#controller.abort();
    for (let d = this.#handed.shift(); d !== undefined; d = this.#handed.shift()) void release(d);
    this.#intake.end();
    void this.#shutdown.afterInFlight();
  }
}

/** One drain loop: the delivery it is dispatching, and its callbacks, made once per loop. */
interface Loop<T> extends IntakeWaiter<T>, Dispatching<T> {
  readonly dispatched: () => void;
  readonly failed: (error: unknown) => void;
}
