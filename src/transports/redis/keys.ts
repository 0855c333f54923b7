/**
 * Every key of a queue shares the hash tag `{name}`, so one queue lives in one cluster slot and its
 * Lua scripts may touch all of its keys. The order is the order the scripts expect in KEYS.
 */
export function queueKeys(name: string, deadLetter: string): string[] {
  const prefix = `sluice:{${name}}`;
  return [
    `${prefix}:stream`, // 1: ready messages of priority 0, read with XREADGROUP
    `${prefix}:pstream`, // 2: messages of other priorities, written and read only by the take script
    `${prefix}:priority`, // 3: zset of ready non-zero-priority messages, score -priority
    `${prefix}:delayed`, // 4: zset of messages waiting for their time, score = due (ms)
    `${prefix}:records`, // 5: hash of the messages held in the two sorted sets
    `${prefix}:keys`, // 6: hash of the dedup keys of messages still in the queue
    `${prefix}:seq`, // 7: counter ordering the sorted-set members (FIFO among equals)
    `sluice:{${deadLetter}}:stream`, // 8: the dead-letter queue's stream
  ];
}

/** Every key `queueKeys` names for this queue (the dead-letter queue's keys excluded). */
export function ownKeys(name: string): string[] {
  return queueKeys(name, name).slice(0, 7);
}

/** The consumer group every handle on a queue joins. */
export const GROUP = 'sluice';
