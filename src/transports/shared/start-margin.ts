import type { FlowLimits } from '../../queuing/types.js';

/**
 * A broker counts a hand-out when it hands it out (its clock, its round trip), and the handler starts
 * a little later, by how much depending on the consumer process's load. A window kept this much
 * longer than `interval` absorbs that: if a handler starts within the margin of its hand-out, then
 * at most `limit` hand-outs in any `interval + margin` means at most `limit` handler starts in any
 * `interval`, which is what the API whose quota the limit stands for sees.
 */
export function withStartMargin(limits: FlowLimits): FlowLimits {
  const { rateLimit } = limits;
  if (rateLimit === undefined) return limits;
  const margin = Math.min(MAX_START_MARGIN, Math.floor(rateLimit.interval / 20));
  return { ...limits, rateLimit: { limit: rateLimit.limit, interval: rateLimit.interval + margin } };
}

/** The most the window is kept beyond `interval`, in milliseconds; a twentieth of it below. */
export const MAX_START_MARGIN = 25;
