/** The limits and sizes bench/flow.ts measures with: the issue's. */
import type { RateLimit } from '../../src/queuing/types.js';

export const RATE_LIMIT: RateLimit = { limit: 5_000, interval: 1_000 };
export const GROUP_CONCURRENCY = 1;
/** Dispatches each worker runs at once. */
export const CONCURRENCY = 32;
