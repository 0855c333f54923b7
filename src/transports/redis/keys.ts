/**
 * Every key of a queue starts with `sluice:{<queue>}` (docs/wire-protocol.md (Redis) lists them): the
 * hash tag keeps a queue in one cluster slot. Scripts are given the queue's stream and name the
 * other keys after it, since keys come and go with the priorities and dedup keys in use.
 */
export function streamKey(name: string): string {
  return `sluice:{${name}}:stream`;
}

/** The stream of ready messages of `band` (a priority as a decimal string; '0' is the queue's stream). */
export function bandKey(stream: string, band: string): string {
  return band === '0' ? stream : `${stream}:${band}`;
}

/**
 * The band of the flow stream (`<stream>:flow`): where every delivery handed out under flow control
 * or while grouped messages exist sits until settled (flow-prelude.ts). Never a priority.
 */
export const FLOW_BAND = 'flow';

/** The stream blocked readers also wait on: it only ever holds wake-up signals, never a message. */
export function wakeKey(name: string): string {
  return `sluice:{${name}}:wake`;
}

/**
 * The key whose presence pauses the queue: every consumer, sluice's or not, takes nothing while it
 * exists (docs/wire-protocol.md (Redis)). Its value is when it was paused, for operators.
 */
export function pausedKey(name: string): string {
  return `sluice:{${name}}:paused`;
}

/** The consumer group every handle on a queue joins, on each of its streams. */
export const GROUP = 'sluice';
