/**
 * How long a round's finding that the queue is not paused lets a consumer hand out what it fetched
 * (so that one pause stops every consumer within that time), and how often a paused handle looks
 * whether the queue was resumed.
 */
export const PAUSE_CHECK_AGE = 500;

/**
 * What a handle's fetch rounds found about its queue's pause. `running` holds only while a round
 * found the queue running within PAUSE_CHECK_AGE, so one pause stops every consumer within that
 * time. It is a flag that a timer clears, since reading the clock on every take would cost the hot path.
 */
export class PauseState {
  paused = false;
  running = false;
  #runningUntil = 0;
  #expiry: NodeJS.Timeout | undefined;
  #stopped = false;

  /** What the round begun at `at` (performance.now()) found. */
  checked(paused: boolean, at: number): void {
    this.paused = paused;
    this.running = !paused;
    if (paused) return;
    this.#runningUntil = at + PAUSE_CHECK_AGE;
    this.#expiry ??= setTimeout(this.#expire, PAUSE_CHECK_AGE).unref();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#expiry);
  }

  readonly #expire = (): void => {
    const left = this.#runningUntil - performance.now();
    this.#expiry = left > 0 && !this.#stopped ? setTimeout(this.#expire, left).unref() : undefined;
    if (this.#expiry === undefined) this.running = false;
  };
}
