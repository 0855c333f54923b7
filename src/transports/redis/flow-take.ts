import { FLOW_PRELUDE } from './flow-prelude.js';
import { PRELUDE } from './protocol.js';

/**
 * The fetch round of a handle that hands out under flow limits, or of any handle while grouped
 * messages exist (flow-prelude.ts): one script, so that the limits' check and the taking are atomic
 * across every process.
 *
 * ARGV = consumer, count, cap (groupConcurrency, 0 for none), limit and interval of the rate limit
 * (0 for none), 1 to make first the groups of every stream that lacks one. Promotes due delayed
 * messages; takes at most what the rate log allows (entries `<ms>:<n>` of `:rate`, their sum in
 * `:rate-count`, on Redis's clock); then takes round-robin across the ring, one message per turn:
 * a named group's head, or for `''` the head of the highest priority's stream. A group at the cap
 * is parked. Every message taken is moved into the flow stream and read from it for the consumer.
 *
 * Returns { ms until the next delayed message or -1, ms until the rate log has room or -1 (when it
 * is full), entries read, every priority that has a stream, 1 if paused, 1 if grouped messages
 * exist, { key, last entry id, ... } to wait on when nothing was taken }.
 */
export const FLOW_TAKE = `${PRELUDE}${FLOW_PRELUDE}
local consumer, count, cap = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local limit, interval = tonumber(ARGV[4]), tonumber(ARGV[5])
local priorities = prefix .. ':priorities'
local rateLog, rateCount = prefix .. ':rate', prefix .. ':rate-count'
if cap == 0 then cap = nil end
local function grouped()
  return redis.call('EXISTS', ring, parked, groupDelayed) > 0 and 1 or 0
end
local function regroup(target, from)
  redis.pcall('XGROUP', 'CREATE', target, 'sluice', from, 'MKSTREAM')
end
if redis.call('EXISTS', prefix .. ':paused') == 1 then
  return {-1, -1, {}, redis.call('ZRANGE', priorities, 0, -1), 1, grouped(), {}}
end
if ARGV[6] == '1' then
  for _, p in ipairs(redis.call('ZRANGE', priorities, 0, -1)) do regroup(band(p), '0') end
end
local wait, groupWait = promote(), promoteGrouped()
if wait < 0 or (groupWait >= 0 and groupWait < wait) then wait = groupWait end

local t = now()
local left, rateWait = count, -1
if limit > 0 then
  local used = tonumber(redis.call('GET', rateCount) or '0')
  local head = redis.call('LINDEX', rateLog, 0)
  while head do
    local at, n = string.match(head, '(%d+):(%d+)')
    if tonumber(at) + interval > t then
      if used >= limit then rateWait = tonumber(at) + interval - t end
      break
    end
    redis.call('LPOP', rateLog)
    used = used - tonumber(n)
    head = redis.call('LINDEX', rateLog, 0)
  end
  if not head then used = 0 end
  if used > 0 then redis.call('SET', rateCount, used, 'KEEPTTL') else redis.call('DEL', rateCount) end
  left = math.max(0, math.min(left, limit - used))
end

-- A cap raised or removed since groups were parked lets them back into the ring.
if redis.call('EXISTS', parked) == 1 then
  local back
  if cap then back = redis.call('ZRANGEBYSCORE', parked, '-inf', '(' .. cap)
  else back = redis.call('ZRANGE', parked, 0, -1) end
  for _, g in ipairs(back) do
    redis.call('ZREM', parked, g)
    redis.call('RPUSH', ring, g)
  end
end

local function inFlight(g)
  return tonumber(redis.call('HGET', inflight, g) or '0')
end

-- The default group's streams, highest priority first, and how far this round emptied them.
local order, drained = nil, 0
local function defaultOrder()
  order = redis.call('ZREVRANGEBYSCORE', priorities, '+inf', '(0')
  order[#order + 1] = '0'
  for _, p in ipairs(redis.call('ZREVRANGEBYSCORE', priorities, '(0', '-inf')) do order[#order + 1] = p end
end
-- Moves up to n messages of the default group into the flow stream; returns how many.
local function takeDefault(n)
  if not order then defaultOrder() end
  local took = 0
  while took < n and drained < #order do
    local p = order[drained + 1]
    local target = band(p)
    local read = {'XREADGROUP', 'GROUP', 'sluice', consumer, 'COUNT', n - took, 'NOACK', 'STREAMS', target, '>'}
    local reply = redis.pcall(unpack(read))
    if reply and reply.err then
      regroup(target, '0')
      reply = redis.pcall(unpack(read))
    end
    local entries = (reply and not reply.err and reply[1][2]) or {}
    for _, entry in ipairs(entries) do
      redis.call('XDEL', target, entry[1])
      local fields = entry[2]
      local f = fieldsOf(entry)
      if not f.id then fields[#fields + 1] = 'id'; fields[#fields + 1] = entry[1] end
      fields[#fields + 1] = 'group'; fields[#fields + 1] = ''
      fields[#fields + 1] = 'priority'; fields[#fields + 1] = p
      redis.call('XADD', flowStream, '*', unpack(fields))
    end
    took = took + #entries
    if took < n then drained = drained + 1 end
  end
  return took
end
-- Moves the head of named group g into the flow stream; false when it has none. Returns whether
-- it took one, and whether the group has more.
local function takeGrouped(g)
  local target = groupKey(g)
  local popped = redis.call('ZPOPMIN', target)
  if #popped == 0 then return false, false end
  local attempt, priority, key, body, id, holder = unpackMember(popped[1])
  local fields = {'body', body}
  if attempt > 1 then fields[#fields + 1] = 'attempt'; fields[#fields + 1] = attempt end
  if key ~= '' then
    fields[#fields + 1] = 'key'; fields[#fields + 1] = key
    fields[#fields + 1] = 'holder'; fields[#fields + 1] = holder
  end
  if id ~= '' then fields[#fields + 1] = 'id'; fields[#fields + 1] = id end
  fields[#fields + 1] = 'group'; fields[#fields + 1] = g
  fields[#fields + 1] = 'priority'; fields[#fields + 1] = priority
  redis.call('XADD', flowStream, '*', unpack(fields))
  return true, redis.call('ZCARD', target) > 0
end

local function uncount(g)
  if redis.call('HINCRBY', inflight, g, -1) <= 0 then redis.call('HDEL', inflight, g) end
end
-- Serves group g one turn: whether it took a message, and whether g stays in the ring. The group's
-- count goes up first; a group at the cap is parked, before its next turn if this one reached it.
local function turn(g)
  local out = redis.call('HINCRBY', inflight, g, 1)
  if cap and out > cap then
    uncount(g)
    redis.call('ZADD', parked, cap, g)
    return false, false
  end
  local took, kept
  if g == '' then took, kept = takeDefault(1) == 1, true else took, kept = takeGrouped(g) end
  if not took then
    uncount(g)
  elseif kept and cap and out >= cap then
    redis.call('ZADD', parked, cap, g)
    kept = false
  end
  return took, kept
end

local handed, defaultRoom = 0, not cap or inFlight('') < cap
if left > 0 then
  local made = redis.pcall('XGROUP', 'CREATECONSUMER', flowStream, 'sluice', consumer)
  if type(made) == 'table' and made.err then regroup(flowStream, '$') end
  if redis.call('EXISTS', ring) == 0 then
    -- No grouped message is ready: the default group alone, unless it is parked.
    if not redis.call('ZSCORE', parked, '') then
      local room = left
      if cap then room = math.min(room, cap - inFlight('')) end
      if room > 0 then
        handed = takeDefault(room)
        if handed > 0 then redis.call('HINCRBY', inflight, '', handed) end
      end
    end
  else
    local idle = 0
    while handed < left do
      local g = redis.call('LPOP', ring)
      if not g then break end
      local took, kept = turn(g)
      if kept then redis.call('RPUSH', ring, g) end
      if took then
        handed, idle = handed + 1, 0
      else
        idle = idle + 1
        if idle >= redis.call('LLEN', ring) then break end
      end
    end
    defaultRoom = not redis.call('ZSCORE', parked, '') and (not cap or inFlight('') < cap)
  end
end

endGroups()

local got = {}
if handed > 0 then
  got = redis.call('XREADGROUP', 'GROUP', 'sluice', consumer, 'COUNT', handed, 'STREAMS', flowStream, '>')[1][2]
  if limit > 0 then
    redis.call('RPUSH', rateLog, t .. ':' .. handed)
    redis.call('INCRBY', rateCount, handed)
    redis.call('PEXPIRE', rateLog, interval)
    redis.call('PEXPIRE', rateCount, interval)
  end
end

-- What to wait on when nothing was taken: wake-ups, and new messages of the default group if it has room.
local watch = {}
if handed == 0 and rateWait < 0 then
  local keys = {prefix .. ':wake'}
  if defaultRoom then
    keys[#keys + 1] = stream
    for _, p in ipairs(redis.call('ZRANGE', priorities, 0, -1)) do keys[#keys + 1] = band(p) end
  end
  for _, key in ipairs(keys) do
    local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)[1]
    watch[#watch + 1] = key
    watch[#watch + 1] = last and last[1] or '0-0'
  end
end
return {wait, rateWait, got, redis.call('ZRANGE', priorities, 0, -1), 0, grouped(), watch}
`;
