/** Node fires a `setTimeout` longer than this after 1 ms, so longer waits are chained. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** Calls `callback` once `ms` have passed, however long that is (`Infinity`: never). */
export class Timer {
  #timeout: NodeJS.Timeout;
  #held = true;

  constructor(ms: number, callback: () => void) {
    this.#timeout = this.#wait(ms, callback);
  }

  cancel(): void {
    clearTimeout(this.#timeout);
  }

  /** Whether the timer keeps the process alive (Node's `ref`/`unref`), for its whole length. */
  hold(held: boolean): void {
    this.#held = held;
    if (held) this.#timeout.ref();
    else this.#timeout.unref();
  }

  #wait(ms: number, callback: () => void): NodeJS.Timeout {
    const timeout =
      ms > MAX_TIMEOUT_MS
        ? setTimeout(() => {
            this.#timeout = this.#wait(ms - MAX_TIMEOUT_MS, callback);
          }, MAX_TIMEOUT_MS)
        : setTimeout(callback, ms);
    if (!this.#held) timeout.unref();
    return timeout;
  }
}
