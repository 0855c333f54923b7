/** Load shapes the broker benches share, so sluice and each floor are driven the same way. */
import { formatRate, median } from './report.js';

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

/** What a broker bench measures for one contender in one run (messages per second). */
export interface Rates {
  processing: number;
  enqueue: number;
}

/**
 * Runs every contender `runs` times, interleaved so that drift in the broker's speed over the bench
 * hits all of them alike, and returns each one's median rates.
 */
export async function medianRates(
  runs: number,
  contenders: Record<string, () => Promise<Rates>>,
): Promise<Record<string, Rates>> {
  const measured: Record<string, Rates[]> = {};
  for (let run = 1; run <= runs; run++) {
    for (const [label, measure] of Object.entries(contenders)) {
      const rates = await measure();
      measured[label] = [...(measured[label] ?? []), rates];
      console.error(
        `run ${run}/${runs}  ${label}: processing ${formatRate(rates.processing)}/s, enqueue ${formatRate(rates.enqueue)}/s`,
      );
    }
  }
  const medians: Record<string, Rates> = {};
  for (const [label, all] of Object.entries(measured)) {
    medians[label] = {
      processing: median(all.map((rates) => rates.processing)),
      enqueue: median(all.map((rates) => rates.enqueue)),
    };
  }
  return medians;
}
