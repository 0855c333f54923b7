import { FLOW_BAND } from './keys.js';
import type { ScriptCommands } from './scripts.js';

/**
 * The script calls that put a delivery back and that dead-letter it: the protocol's for an entry of
 * a priority's stream, the flow scripts for one of the flow stream (they free its group's slot).
 */

/** Puts the entry back as ready in `delay` ms, as attempt `attempt`. */
export function retryCall(
  client: ScriptCommands,
  stream: string,
  { band, entryId }: { band: string; entryId: string },
  delay: number,
  attempt: number,
): Promise<number> {
  if (band === FLOW_BAND) return client.sluiceFlowNack(stream, entryId, delay, attempt);
  return client.sluiceNack(stream, band, entryId, delay, attempt);
}

/** Dead-letters the entry with `reason`, storing `body` instead of its own when given. */
export function deadLetterCall(
  client: ScriptCommands,
  [stream, deadLetter]: [string, string],
  { band, entryId }: { band: string; entryId: string },
  reason: string,
  body: string | undefined,
): Promise<number> {
  const rest = body === undefined ? [reason] : [reason, body];
  if (band === FLOW_BAND) return client.sluiceFlowDeadLetter(stream, deadLetter, entryId, ...rest);
  return client.sluiceDeadLetter(stream, deadLetter, band, entryId, ...rest);
}
