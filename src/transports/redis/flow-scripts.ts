import { FLOW_PRELUDE } from './flow-prelude.js';
import { PRELUDE } from './protocol.js';

/**
 * The scripts that store and settle grouped messages and the deliveries of the flow stream
 * (flow-prelude.ts). Each settle frees its group's slot and adds a wake-up, so that handles waiting
 * for a group under its cap look again.
 */

/** ARGV = (body, priority, delay, key, group) per message. */
export const ENQUEUE_GROUPED = `${PRELUDE}${FLOW_PRELUDE}
for i = 1, #ARGV, 5 do
  local body, priority, delay, key, g = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3], ARGV[i + 4]
  local holder = hold(key, delay)
  if holder then putGrouped(1, priority, key, holder, body, '', g, delay) end
end
wake(stream)
return 1
`;

/**
 * ARGV = n, n times (entry id, group) of entries of the flow stream holding no key, then entry ids
 * of entries holding one (released). The first are acked and left for the trim, which drops every
 * entry older than the oldest still pending: deleting each costs more than the rest of its ack.
 */
export const FLOW_ACK = `${PRELUDE}${FLOW_PRELUDE}
local n = tonumber(ARGV[1])
for i = 2, 2 * n, 2 do
  if redis.call('XACK', flowStream, 'sluice', ARGV[i]) == 1 then free(ARGV[i + 1]) end
end
for i = 2 + 2 * n, #ARGV do
  local fields = settleFlow(ARGV[i])
  if fields then release(fields.key or '', fields.holder) end
end
local oldest = redis.call('XPENDING', flowStream, 'sluice')[2]
if oldest then
  redis.call('XTRIM', flowStream, 'MINID', '~', oldest)
else
  redis.call('XTRIM', flowStream, 'MAXLEN', '~', 0)
end
wake(stream)
return 1
`;

/** ARGV = entry id of the flow stream, delay (ms) before the next attempt[, the attempt it will be]. */
export const FLOW_NACK = `${PRELUDE}${FLOW_PRELUDE}
local fields = settleFlow(ARGV[1])
if not fields then return 0 end
local attempt = ARGV[3] and tonumber(ARGV[3]) or tonumber(fields.attempt or '1') + 1
local key, body, id = fields.key or '', fields.body or '', fields.id or ARGV[1]
retryInGroup(attempt, fields.priority or '0', key, fields.holder, body, id, fields.group or '', tonumber(ARGV[2]))
wake(stream)
return 1
`;

/** KEYS[2] = the dead-letter queue's stream; ARGV = entry id of the flow stream, reason[, body instead of the entry's]. */
export const FLOW_DEAD_LETTER = `${PRELUDE}${FLOW_PRELUDE}
local fields = settleFlow(ARGV[1])
if not fields then return 0 end
deadLetterFlow(KEYS[2], fields, ARGV[2], ARGV[3] or fields.body or '', fields.id or ARGV[1])
wake(stream)
return 1
`;
