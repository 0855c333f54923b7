/** Load shapes the broker benches share, so sluice and each floor are driven the same way. */

/** Messages per second for `count` messages since `since` (a `performance.now()` reading). */
export function rate(count: number, since: number): number {
  return count / ((performance.now() - since) / 1000);
}

/** Calls `send(0 … count - 1)` keeping `inFlight` calls waiting at any time. */
export async function concurrently(
  count: number,
  inFlight: number,
  send: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await send(next++);
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
}
