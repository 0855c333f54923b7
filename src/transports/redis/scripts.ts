import type { Redis } from 'ioredis';

/**
 * The Lua scripts that change a queue's state. Every multi-step change (move a message between the
 * sorted sets and the streams, settle a delivery, reclaim a stale one) is one script, so Redis runs
 * it atomically: a client crashing between two steps cannot lose or duplicate a message.
 *
 * KEYS are `queueKeys(name, deadLetter)` (see keys.ts). ARGV[1] is the group, ARGV[2] the queue name.
 * Messages held in the sorted sets are records `cmsgpack(attempt, priority, key, body)`: the body is
 * never decoded in Lua, so it travels byte for byte. Priorities stay strings (only compared as
 * numbers) so a fractional priority is not rounded on its way through Lua.
 */
const prelude = `
local group, queue = ARGV[1], ARGV[2]
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function member()
  return string.format('%017d', redis.call('INCR', KEYS[7]))
end
-- Makes a message ready now; returns true when it went to the priority set (readers need a wake-up).
local function ready(attempt, priority, key, body)
  if tonumber(priority) == 0 then
    local args = {'XADD', KEYS[1], '*', 'body', body}
    if tonumber(attempt) > 1 then args[#args + 1] = 'attempt'; args[#args + 1] = attempt end
    if key ~= '' then args[#args + 1] = 'key'; args[#args + 1] = key end
    redis.call(unpack(args))
    return false
  end
  local m = member()
  redis.call('HSET', KEYS[5], m, cmsgpack.pack(attempt, priority, key, body))
  redis.call('ZADD', KEYS[3], string.format('%.17g', -tonumber(priority)), m)
  return true
end
local function schedule(attempt, priority, key, body, due)
  local m = member()
  redis.call('HSET', KEYS[5], m, cmsgpack.pack(attempt, priority, key, body))
  redis.call('ZADD', KEYS[4], due, m)
end
-- A reader blocked on the stream wakes up and runs the promote script, which serves the sorted sets.
local function wake()
  redis.call('XADD', KEYS[1], '*', 'wake', '1')
end
local function bury(body, reason, key)
  redis.call('XADD', KEYS[8], '*', 'body', body, 'reason', reason, 'queue', queue)
  if key ~= '' then redis.call('HDEL', KEYS[6], key) end
end
`;

/** ARGV[3] = n plain bodies, then n bodies, then (body, priority, delay, key) per other message. */
const enqueue = `${prelude}
local plain = tonumber(ARGV[3])
for i = 4, 3 + plain do redis.call('XADD', KEYS[1], '*', 'body', ARGV[i]) end
local woke, t = false, nil
for i = 4 + plain, #ARGV, 4 do
  local body, priority, delay, key = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  if key == '' or redis.call('HSETNX', KEYS[6], key, '1') == 1 then
    if delay > 0 then
      t = t or now()
      schedule(1, priority, key, body, t + delay)
      woke = true
    elseif ready(1, priority, key, body) then
      woke = true
    end
  end
end
if woke then wake() end
return 1
`;

/**
 * ARGV[3] = consumer, [4] = count, [5] = 'high' | 'low'. Promotes due delayed messages, then hands
 * this consumer up to `count` messages of positive ('high', highest first) or negative ('low')
 * priority through the priority stream. The consumer reads the stream (priority 0) itself, between
 * the two. Returns { ms until the next delayed message or -1, entries, 1 if negative ones wait,
 * 1 if positive ones still wait }.
 */
const promote = `${prelude}
local consumer, count, band = ARGV[3], tonumber(ARGV[4]), ARGV[5]
local t = now()
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', t, 'LIMIT', 0, 1000)) do
  local attempt, priority, key, body = cmsgpack.unpack(redis.call('HGET', KEYS[5], m))
  redis.call('ZREM', KEYS[4], m)
  redis.call('HDEL', KEYS[5], m)
  ready(attempt, priority, key, body)
end
local members
if band == 'high' then
  members = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(0', 'LIMIT', 0, count)
else
  members = redis.call('ZRANGEBYSCORE', KEYS[3], '(0', '+inf', 'LIMIT', 0, count)
end
local entries = {}
if #members > 0 then
  for _, m in ipairs(members) do
    local attempt, priority, key, body = cmsgpack.unpack(redis.call('HGET', KEYS[5], m))
    local args = {'XADD', KEYS[2], '*', 'body', body, 'attempt', attempt, 'priority', priority}
    if key ~= '' then args[#args + 1] = 'key'; args[#args + 1] = key end
    redis.call(unpack(args))
    redis.call('ZREM', KEYS[3], m)
    redis.call('HDEL', KEYS[5], m)
  end
  -- The priority stream is written only here and read right away, so '>' returns exactly these.
  entries = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', #members, 'STREAMS', KEYS[2], '>')[1][2]
end
local low, high = 0, 0
if #redis.call('ZRANGEBYSCORE', KEYS[3], '(0', '+inf', 'LIMIT', 0, 1) > 0 then low = 1 end
if #redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(0', 'LIMIT', 0, 1) > 0 then high = 1 end
local due = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')[2]
local wait = -1
if due then wait = math.max(0, math.ceil(tonumber(due) - t)) end
return {wait, entries, low, high}
`;

/**
 * ARGV[3] = n, n ids of the stream, m, m ids of the priority stream, then (stream, id, key) triples.
 * Acked entries of the stream are not deleted one by one (XDEL costs more than the rest of a
 * delivery): the stream is trimmed up to its oldest entry still pending or not yet delivered, in
 * whole nodes (MINID ~), which is cheap.
 */
const ack = `${prelude}
local function before(a, b)
  local ams, aseq = string.match(a, '(%d+)-(%d+)')
  local bms, bseq = string.match(b, '(%d+)-(%d+)')
  ams, bms = tonumber(ams), tonumber(bms)
  return ams < bms or (ams == bms and tonumber(aseq) < tonumber(bseq))
end
local n = tonumber(ARGV[3])
if n > 0 then redis.call('XACK', KEYS[1], group, unpack(ARGV, 4, 3 + n)) end
local i = 4 + n
local m = tonumber(ARGV[i])
if m > 0 then
  redis.call('XACK', KEYS[2], group, unpack(ARGV, i + 1, i + m))
  redis.call('XDEL', KEYS[2], unpack(ARGV, i + 1, i + m))
end
for j = i + m + 1, #ARGV, 3 do
  local stream = ARGV[j] == 'p' and KEYS[2] or KEYS[1]
  if redis.call('XACK', stream, group, ARGV[j + 1]) == 1 then
    if stream == KEYS[2] then redis.call('XDEL', stream, ARGV[j + 1]) end
    redis.call('HDEL', KEYS[6], ARGV[j + 2])
  end
end
local floor
for _, info in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local fields = {}
  for k = 1, #info, 2 do fields[info[k]] = info[k + 1] end
  if fields['name'] == group then floor = fields['last-delivered-id'] end
end
local oldest = redis.call('XPENDING', KEYS[1], group)[2]
if oldest and floor and before(oldest, floor) then floor = oldest end
if floor then redis.call('XTRIM', KEYS[1], 'MINID', '~', floor) end
return 1
`;

/**
 * Settles one delivery other than by ack: ARGV[3] stream ('s' | 'p'), [4] entry id, [5] 'retry' |
 * 'bury', [6] attempt of the next delivery, [7] priority, [8] key, [9] body, [10] delay, [11] reason.
 * Returns 0 when the delivery was no longer this consumer's (reclaimed after the visibility timeout).
 */
const settle = `${prelude}
local stream = ARGV[3] == 'p' and KEYS[2] or KEYS[1]
if redis.call('XACK', stream, group, ARGV[4]) == 0 then return 0 end
redis.call('XDEL', stream, ARGV[4])
local attempt, priority, key, body, delay = ARGV[6], ARGV[7], ARGV[8], ARGV[9], tonumber(ARGV[10])
if ARGV[5] == 'bury' then
  bury(body, ARGV[11], key)
elseif delay > 0 then
  schedule(attempt, priority, key, body, now() + delay)
  wake()
elseif ready(attempt, priority, key, body) then
  wake()
end
return 1
`;

/**
 * ARGV[3] = consumer, [4] = visibility timeout, [5] = maxAttempts. Deliveries idle longer than the
 * visibility timeout (their consumer stopped heartbeating: it died or lost Redis) go back as ready
 * with attempt + 1, or to the dead-letter queue once that was the last attempt.
 */
const reclaim = `${prelude}
local consumer, idle, max = ARGV[3], ARGV[4], tonumber(ARGV[5])
local moved, woke = 0, false
for _, stream in ipairs({KEYS[1], KEYS[2]}) do
  for _, entry in ipairs(redis.call('XAUTOCLAIM', stream, group, consumer, idle, '0-0', 'COUNT', 100)[2]) do
    redis.call('XACK', stream, group, entry[1])
    redis.call('XDEL', stream, entry[1])
    local f = {}
    for i = 1, #(entry[2] or {}), 2 do f[entry[2][i]] = entry[2][i + 1] end
    if entry[2] and not f.wake then
      local attempt = tonumber(f.attempt or '1')
      local key = f.key or ''
      if attempt >= max then
        bury(f.body or '', 'not acknowledged within the visibility timeout on attempt ' .. attempt .. ' of ' .. max, key)
      elseif ready(attempt + 1, f.priority or '0', key, f.body or '') then
        woke = true
      end
      moved = moved + 1
    end
  end
end
if woke then wake() end
return moved
`;

type Arg = string | number;

/** The scripts as ioredis commands (EVALSHA, falling back to EVAL after a restart emptied the cache). */
export interface ScriptCommands {
  sluiceEnqueue(...args: Arg[]): Promise<number>;
  sluicePromote(...args: Arg[]): Promise<[number, RawEntry[], number, number]>;
  sluiceAck(...args: Arg[]): Promise<number>;
  sluiceSettle(...args: Arg[]): Promise<number>;
  sluiceReclaim(...args: Arg[]): Promise<number>;
}

/** A stream entry as Redis returns it: [id, [field, value, ...]]. */
export type RawEntry = [string, string[]];

const scripts = {
  sluiceEnqueue: enqueue,
  sluicePromote: promote,
  sluiceAck: ack,
  sluiceSettle: settle,
  sluiceReclaim: reclaim,
};

export function withScripts(client: Redis): Redis & ScriptCommands {
  for (const [name, lua] of Object.entries(scripts)) {
    if (!(name in client)) client.defineCommand(name, { numberOfKeys: 8, lua });
  }
  return client as Redis & ScriptCommands;
}
