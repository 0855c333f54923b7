/**
 * Wire protocol v1 on Redis, in Lua: the prelude every script starts with and the scripts a program
 * in another language runs to send, promote, ack, nack and dead-letter. docs/wire-protocol.md (Redis)
 * shows them verbatim (a test holds the two equal) and test/interop/redis.test.ts runs them from
 * Python. sluice runs the same prelude in all its scripts, and NACK and DEAD_LETTER as they are.
 *
 * Each multi-step change is one script so that Redis runs it atomically: a client dying between two
 * steps cannot lose or duplicate a message. A message body is never decoded in Lua: it travels byte
 * for byte. Priorities stay strings (compared as numbers) so a fractional one is not rounded.
 */
export const PRELUDE = `-- sluice wire protocol v1 (Redis): the prelude of every script.
-- KEYS[1] is the queue's stream, sluice:{<queue>}:stream; its other keys are named after it.
local stream = KEYS[1]
local prefix = string.sub(stream, 1, -8)
local queue = string.sub(prefix, 9, -2)
-- How long (ms) a dedup key outlives the sending or retry of its message, on top of its delay.
local KEY_LIFETIME = 86400000

local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The stream of the ready messages of priority p (a decimal string).
local function band(p)
  if tonumber(p) == 0 then return stream end
  return stream .. ':' .. p
end

local function keyName(key)
  return prefix .. ':key:' .. key
end

-- Readers blocked on the streams they knew of wake up and look again (new priority, earlier delay).
local function wake()
  redis.call('XADD', prefix .. ':wake', 'MAXLEN', '1', '*', 'wake', '1')
end

-- Appends a message to the stream of its priority: it is ready.
local function ready(attempt, priority, key, body, id)
  local target = band(priority)
  if target ~= stream and redis.call('ZADD', prefix .. ':priorities', priority, priority) == 1 then
    redis.pcall('XGROUP', 'CREATE', target, 'sluice', '0', 'MKSTREAM')
    wake()
  end
  local entry = {'XADD', target, '*', 'body', body}
  if tonumber(attempt) > 1 then entry[#entry + 1] = 'attempt'; entry[#entry + 1] = attempt end
  if key ~= '' then entry[#entry + 1] = 'key'; entry[#entry + 1] = key end
  if id ~= '' then entry[#entry + 1] = 'id'; entry[#entry + 1] = id end
  redis.call(unpack(entry))
end

-- Keeps a message in the delayed set until due (ms since the epoch, by Redis's clock).
local function schedule(attempt, priority, key, body, id, due)
  local first = redis.call('ZRANGE', prefix .. ':delayed', 0, 0, 'WITHSCORES')[2]
  local member = string.format('%017d', redis.call('INCR', prefix .. ':seq'))
  local record = cmsgpack.pack(tonumber(attempt), priority, key, body, id)
  redis.call('HSET', prefix .. ':records', member, record)
  redis.call('ZADD', prefix .. ':delayed', due, member)
  if not first or due < tonumber(first) then wake() end
end

-- Makes a message ready in delay ms (now when 0).
local function put(attempt, priority, key, body, id, delay)
  if delay > 0 then
    schedule(attempt, priority, key, body, id, now() + delay)
  else
    ready(attempt, priority, key, body, id)
  end
end

-- Takes the dedup key of a message being sent: false when another message holds it.
local function hold(key, delay)
  return redis.call('SET', keyName(key), '1', 'NX', 'PX', math.ceil(delay) + KEY_LIFETIME) ~= false
end

local function release(key)
  if key ~= '' then redis.call('DEL', keyName(key)) end
end

-- Takes a delivered entry out of its stream: its fields, or nil when it was no longer pending
-- (after the visibility timeout another consumer put it back).
local function remove(target, id)
  local found = redis.call('XRANGE', target, id, id)[1]
  if redis.call('XACK', target, 'sluice', id) == 0 then return nil end
  redis.call('XDEL', target, id)
  if not found then return nil end
  local fields = {}
  for i = 1, #found[2], 2 do fields[found[2][i]] = found[2][i + 1] end
  return fields
end

-- Puts a message back for its next attempt in delay ms, renewing its key's lifetime.
local function retry(attempt, priority, key, body, id, delay)
  if key ~= '' then redis.call('PEXPIRE', keyName(key), math.ceil(delay) + KEY_LIFETIME) end
  put(attempt, priority, key, body, id, delay)
end

-- Appends a message to the dead-letter queue's stream dead with the reason; releases its key.
local function bury(dead, body, reason, key, id)
  if redis.call('EXISTS', dead) == 0 then
    redis.call('XGROUP', 'CREATE', dead, 'sluice', '0', 'MKSTREAM')
  end
  redis.call('XADD', dead, '*', 'body', body, 'reason', reason, 'queue', queue, 'id', id)
  release(key)
end

-- Makes the delayed messages that are due ready; returns ms until the next one is due, or -1.
local function promote()
  local t = now()
  local delayed, records = prefix .. ':delayed', prefix .. ':records'
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', delayed, '-inf', t, 'LIMIT', 0, 1000)) do
    local record = redis.call('HGET', records, member)
    redis.call('ZREM', delayed, member)
    redis.call('HDEL', records, member)
    if record then
      local attempt, priority, key, body, id = cmsgpack.unpack(record)
      ready(attempt, priority, key, body, id)
    end
  end
  local due = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')[2]
  if not due then return -1 end
  return math.max(0, math.ceil(tonumber(due) - t))
end
`;

/** Sends one message: KEYS[1] the queue's stream; ARGV body, priority, delay, key. */
export const SEND = `-- send: ARGV = body, priority, delay (ms, 0 for none), key ('' for none).
-- Returns 1 once stored, 0 when another message holds the key (a duplicate: nothing is stored).
local body, priority, delay, key = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
if key ~= '' and not hold(key, delay) then return 0 end
put(1, priority, key, body, '', delay)
return 1
`;

/** Makes due delayed messages ready: KEYS[1] the queue's stream. */
export const PROMOTE = `-- promote: no ARGV. Returns ms until the next delayed message is due, or -1 when none waits.
return promote()
`;

/** Acks a delivery: KEYS[1] the queue's stream; ARGV priority, entry id. */
export const ACK = `-- ack: ARGV = priority of the stream the entry was read from, entry id.
-- Returns 1, or 0 when the entry was no longer pending.
local fields = remove(band(ARGV[1]), ARGV[2])
if not fields then return 0 end
release(fields.key or '')
return 1
`;

/** Puts a delivery back for another attempt: KEYS[1] the queue's stream; ARGV priority, entry id, delay[, attempt]. */
export const NACK = `-- nack: ARGV = priority, entry id, delay (ms) before the next attempt,
-- and optionally the attempt it will be (default: this one + 1).
-- Returns 1, or 0 when the entry was no longer pending.
local fields = remove(band(ARGV[1]), ARGV[2])
if not fields then return 0 end
local attempt = ARGV[4] and tonumber(ARGV[4]) or tonumber(fields.attempt or '1') + 1
retry(attempt, ARGV[1], fields.key or '', fields.body or '', fields.id or ARGV[2], tonumber(ARGV[3]))
return 1
`;

/** Dead-letters a delivery: KEYS[1] the queue's stream, KEYS[2] the dead-letter queue's; ARGV priority, entry id, reason[, body]. */
export const DEAD_LETTER = `-- dead-letter: KEYS[2] = the dead-letter queue's stream, sluice:{<dead-letter queue>}:stream.
-- ARGV = priority, entry id, reason, and optionally the body to store instead of the entry's.
-- Returns 1, or 0 when the entry was no longer pending.
local fields = remove(band(ARGV[1]), ARGV[2])
if not fields then return 0 end
bury(KEYS[2], ARGV[4] or fields.body or '', ARGV[3], fields.key or '', fields.id or ARGV[2])
return 1
`;
