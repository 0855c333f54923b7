/**
 * Lua for flow control (SPEC § 7), appended after PRELUDE by every script that touches grouped
 * messages or hands out under limits (docs/wire-protocol.md (Redis) lists the keys).
 *
 * - A ready message of a named group is a member of the group's sorted set `:group:<g>`: score
 *   minus its priority, member a 17-digit sequence number (FIFO among equal priorities) followed by
 *   the MessagePack record. Messages of no group (the default group, `''` here) stay in the streams.
 * - `:ring` lists the groups taken from in turn: every named group with ready messages, and `''`
 *   for as long as grouped messages exist. A group at the cap of the consumer that met it leaves the
 *   ring for `:parked` (score: that cap) and comes back when one of its deliveries settles.
 * - Every delivery handed out through the fetch script sits in the stream `:stream:flow` (group
 *   `sluice`, fields `group` and `priority` added), and `:inflight` counts them per group.
 */
export const FLOW_PRELUDE = `
local flowStream = stream .. ':flow'
local ring, parked, inflight = prefix .. ':ring', prefix .. ':parked', prefix .. ':inflight'
local groupDelayed = prefix .. ':group-delayed'

local function groupKey(g)
  return prefix .. ':group:' .. g
end

-- A grouped message as one string: its sequence number, then its record.
local function groupMember(attempt, priority, key, holder, body, id, g)
  local seq = string.format('%017d', redis.call('INCR', prefix .. ':seq'))
  return seq .. cmsgpack.pack(tonumber(attempt), priority, key, body, id, holder or '', g)
end

-- attempt, priority, key, body, id, holder, group
local function unpackMember(member)
  return cmsgpack.unpack(string.sub(member, 18))
end

-- Makes a message of named group g ready now; the group joins the ring if it had none ready.
local function joinGroup(attempt, priority, key, holder, body, id, g)
  local target = groupKey(g)
  redis.call('ZADD', target, -tonumber(priority), groupMember(attempt, priority, key, holder, body, id, g))
  if redis.call('ZCARD', target) == 1 and not redis.call('ZSCORE', parked, g) then
    if redis.call('EXISTS', ring, parked) == 0 then redis.call('RPUSH', ring, '') end
    redis.call('RPUSH', ring, g)
  end
end

-- Makes a message of named group g ready in delay ms (now when 0).
local function putGrouped(attempt, priority, key, holder, body, id, g, delay)
  if delay <= 0 then return joinGroup(attempt, priority, key, holder, body, id, g) end
  local due = now() + delay
  local first = redis.call('ZRANGE', groupDelayed, 0, 0, 'WITHSCORES')[2]
  redis.call('ZADD', groupDelayed, due, groupMember(attempt, priority, key, holder, body, id, g))
  if not first or due < tonumber(first) then wake(stream) end
end

-- A message of group g (any) back for its next attempt in delay ms, its key renewed.
local function retryInGroup(attempt, priority, key, holder, body, id, g, delay)
  if g == '' then return retry(attempt, priority, key, holder, body, id, delay) end
  if holds(key, holder) then redis.call('PEXPIRE', keyName(key), math.ceil(delay) + KEY_LIFETIME) end
  putGrouped(attempt, priority, key, holder, body, id, g, delay)
end

-- Makes the delayed grouped messages that are due ready; returns ms until the next one, or -1.
local function promoteGrouped()
  local t = now()
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', groupDelayed, '-inf', t, 'LIMIT', 0, 1000)) do
    redis.call('ZREM', groupDelayed, member)
    local attempt, priority, key, body, id, holder, g = unpackMember(member)
    joinGroup(attempt, priority, key, holder, body, id, g)
  end
  local due = redis.call('ZRANGE', groupDelayed, 0, 0, 'WITHSCORES')[2]
  if not due then return -1 end
  return math.max(0, math.ceil(tonumber(due) - t))
end

-- A delivery of group g settled: its slot is free, and a group parked at its cap rejoins the ring.
local function free(g)
  if redis.call('HINCRBY', inflight, g, -1) <= 0 then redis.call('HDEL', inflight, g) end
  if redis.call('ZREM', parked, g) == 1 then redis.call('RPUSH', ring, g) end
end

-- Appends a delivery of the flow stream (its fields f) to the dead-letter queue whose stream is
-- dead, keeping its priority and group; releases its key.
local function deadLetterFlow(dead, f, reason, body, id)
  local fields = {'body', body, 'reason', reason, 'queue', queue, 'id', id}
  local attempt = tonumber(f.attempt or '1') or 1
  if attempt > 1 then fields[#fields + 1] = 'lastAttempt'; fields[#fields + 1] = attempt end
  if (f.group or '') ~= '' then fields[#fields + 1] = 'group'; fields[#fields + 1] = f.group end
  append(dead, f.priority or '0', fields)
  release(f.key or '', f.holder)
end

-- Once no grouped message is left, the default group alone again: the ring and parked set go, and
-- every handle goes back to its plain path.
local function endGroups()
  if redis.call('EXISTS', parked, groupDelayed) == 0 and redis.call('LLEN', ring) == 1
    and redis.call('LINDEX', ring, 0) == '' then
    redis.call('DEL', ring)
  elseif redis.call('EXISTS', ring, groupDelayed) == 0 and redis.call('ZCARD', parked) == 1
    and redis.call('ZSCORE', parked, '') then
    redis.call('DEL', parked)
  end
end

-- Takes a delivery out of the flow stream, freeing its group's slot: its fields, or nil when it was
-- no longer pending.
local function settleFlow(id)
  local fields = remove(flowStream, id)
  if fields then free(fields.group or '') end
  return fields
end
`;
