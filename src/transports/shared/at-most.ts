import { Timer } from '../../timer.js';

/**
 * Resolves once `work` settled or `ms` passed: how a queue's `close()` waits on what may never end
 * (a broker that stopped answering, a delivery nobody settles), then carries on.
 */
export async function atMost(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: Timer | undefined;
  const timeUp = new Promise<void>((resolve) => {
    timer = new Timer(ms, resolve);
  });
  await Promise.race([work.catch(() => {}), timeUp]);
  timer?.cancel();
}
