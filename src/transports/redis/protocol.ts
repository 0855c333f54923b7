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

-- The stream of the ready messages of priority p (a decimal string) of the queue whose stream is s
-- (by default this queue).
local function band(p, s)
  s = s or stream
  if tonumber(p) == 0 then return s end
  return s .. ':' .. p
end

local function keyName(key)
  return prefix .. ':key:' .. key
end

-- A stream entry, {id, {field, value, ...}}, as a table of its fields.
local function fieldsOf(entry)
  local fields = {}
  for i = 1, #entry[2], 2 do fields[entry[2][i]] = entry[2][i + 1] end
  return fields
end

-- Adds a wake-up to the :wake stream of the queue whose stream is s. The group hands it to one
-- blocked sluice reader, which looks at every stream again at once; the others look again when
-- their blocking read times out.
local function wake(s)
  redis.call('XADD', string.sub(s, 1, -8) .. ':wake', 'MAXLEN', '1', '*', 'wake', '1')
end

-- Appends an entry (its fields, body first) to the stream of priority p of the queue whose stream
-- is s. A priority new to that queue is listed, with a wake-up; a stream that is missing (none of
-- its priority so far, or deleted or evicted) is created with its group.
local function append(s, p, fields)
  local target = band(p, s)
  if target ~= s and redis.call('ZADD', string.sub(s, 1, -8) .. ':priorities', p, p) == 1 then
    wake(s)
  end
  if not redis.call('XADD', target, 'NOMKSTREAM', '*', unpack(fields)) then
    redis.pcall('XGROUP', 'CREATE', target, 'sluice', '0', 'MKSTREAM')
    redis.call('XADD', target, '*', unpack(fields))
  end
end

-- Appends a message to the stream of its priority: it is ready.
local function ready(attempt, priority, key, holder, body, id)
  local fields = {'body', body}
  if tonumber(attempt) > 1 then fields[#fields + 1] = 'attempt'; fields[#fields + 1] = attempt end
  if key ~= '' then
    fields[#fields + 1] = 'key'; fields[#fields + 1] = key
    fields[#fields + 1] = 'holder'; fields[#fields + 1] = holder
  end
  if id ~= '' then fields[#fields + 1] = 'id'; fields[#fields + 1] = id end
  append(stream, priority, fields)
end

-- Keeps a message in the delayed set until due (ms since the epoch, by Redis's clock).
local function schedule(attempt, priority, key, holder, body, id, due)
  local first = redis.call('ZRANGE', prefix .. ':delayed', 0, 0, 'WITHSCORES')[2]
  local member = string.format('%017d', redis.call('INCR', prefix .. ':seq'))
  local record = cmsgpack.pack(tonumber(attempt), priority, key, body, id, holder)
  redis.call('HSET', prefix .. ':records', member, record)
  redis.call('ZADD', prefix .. ':delayed', due, member)
  if not first or due < tonumber(first) then wake(stream) end
end

-- Makes a message ready in delay ms (now when 0).
local function put(attempt, priority, key, holder, body, id, delay)
  if delay > 0 then
    schedule(attempt, priority, key, holder, body, id, now() + delay)
  else
    ready(attempt, priority, key, holder, body, id)
  end
end

-- Takes the dedup key of a message being sent. Returns the message's holder, a number unique in the
-- queue that becomes the key's value ('' for no key), or nil when another message holds the key.
local function hold(key, delay)
  if key == '' then return '' end
  local holder = string.format('%d', redis.call('INCR', prefix .. ':seq'))
  if redis.call('SET', keyName(key), holder, 'NX', 'PX', math.ceil(delay) + KEY_LIFETIME) then
    return holder
  end
end

-- Whether the message of this holder still holds its key: not once the key's lifetime ran out,
-- whether or not another message took the key since.
local function holds(key, holder)
  return key ~= '' and redis.call('GET', keyName(key)) == holder
end

local function release(key, holder)
  if holds(key, holder) then redis.call('DEL', keyName(key)) end
end

-- Takes a delivered entry out of its stream: its fields, or nil when it was no longer pending
-- (after the visibility timeout another consumer put it back).
local function remove(target, id)
  local found = redis.call('XRANGE', target, id, id)[1]
  if redis.call('XACK', target, 'sluice', id) == 0 then return nil end
  redis.call('XDEL', target, id)
  if not found then return nil end
  return fieldsOf(found)
end

-- Puts a message back for its next attempt in delay ms, renewing the lifetime of the key it holds.
local function retry(attempt, priority, key, holder, body, id, delay)
  if holds(key, holder) then redis.call('PEXPIRE', keyName(key), math.ceil(delay) + KEY_LIFETIME) end
  put(attempt, priority, key, holder, body, id, delay)
end

-- Appends a message, with the reason and the attempt it had reached, to the stream of its priority
-- in the dead-letter queue whose stream is dead; releases its key.
local function deadLetter(dead, priority, body, reason, key, holder, id, attempt)
  local fields = {'body', body, 'reason', reason, 'queue', queue, 'id', id}
  if tonumber(attempt) > 1 then fields[#fields + 1] = 'lastAttempt'; fields[#fields + 1] = attempt end
  append(dead, priority, fields)
  release(key, holder)
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
      local attempt, priority, key, body, id, holder = cmsgpack.unpack(record)
      ready(attempt, priority, key, holder, body, id)
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
local holder = hold(key, delay)
if not holder then return 0 end
put(1, priority, key, holder, body, '', delay)
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
release(fields.key or '', fields.holder)
return 1
`;

/** Puts a delivery back for another attempt: KEYS[1] the queue's stream; ARGV priority, entry id, delay[, attempt]. */
export const NACK = `-- nack: ARGV = priority, entry id, delay (ms) before the next attempt,
-- and optionally the attempt it will be (default: this one + 1).
-- Returns 1, or 0 when the entry was no longer pending.
local fields = remove(band(ARGV[1]), ARGV[2])
if not fields then return 0 end
local attempt = ARGV[4] and tonumber(ARGV[4]) or tonumber(fields.attempt or '1') + 1
local key, body, id = fields.key or '', fields.body or '', fields.id or ARGV[2]
retry(attempt, ARGV[1], key, fields.holder, body, id, tonumber(ARGV[3]))
return 1
`;

/** Dead-letters a delivery: KEYS[1] the queue's stream, KEYS[2] the dead-letter queue's; ARGV priority, entry id, reason[, body]. */
export const DEAD_LETTER = `-- dead-letter: KEYS[2] = the dead-letter queue's stream, sluice:{<dead-letter queue>}:stream.
-- ARGV = priority, entry id, reason, and optionally the body to store instead of the entry's.
-- The message keeps its priority on the dead-letter queue. Returns 1, or 0 when the entry was no
-- longer pending.
local fields = remove(band(ARGV[1]), ARGV[2])
if not fields then return 0 end
local body, key, id = ARGV[4] or fields.body or '', fields.key or '', fields.id or ARGV[2]
local attempt = tonumber(fields.attempt or '1') or 1
deadLetter(KEYS[2], ARGV[1], body, ARGV[3], key, fields.holder, id, attempt)
return 1
`;
