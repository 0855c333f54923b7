/** Node fires a `setTimeout` longer than this after 1 ms, so longer waits are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Calls `callback` once `ms` have passed, however long that is; the returned function cancels it. */
export function startTimer(ms: number, callback: () => void): () => void {
  let timer: NodeJS.Timeout;
  const wait = (left: number): void => {
    timer =
      left > MAX_TIMER_MS ? setTimeout(wait, MAX_TIMER_MS, left - MAX_TIMER_MS) : setTimeout(callback, left);
  };
  wait(ms);
  return () => clearTimeout(timer);
}
