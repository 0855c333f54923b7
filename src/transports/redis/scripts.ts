import type { Redis } from 'ioredis';
import { NEVER_SETTLED } from '../shared/reasons.js';
import { FLOW_PRELUDE } from './flow-prelude.js';
import { ENQUEUE_GROUPED, FLOW_ACK, FLOW_DEAD_LETTER, FLOW_NACK } from './flow-scripts.js';
import { FLOW_TAKE } from './flow-take.js';
import { DEAD_LETTER, NACK, PRELUDE } from './protocol.js';

/**
 * sluice's own scripts: the protocol's steps (protocol.ts) done for many messages per call, which
 * costs one round trip instead of one per message, plus the fetch round and the reclaim that only
 * sluice's consumers run. KEYS[1] is always the queue's stream.
 */

/** Lua: `before(a, b)`, whether stream entry id `a` comes before `b` (compared as numbers, not text). */
export const ENTRY_ORDER = `
local function before(a, b)
  local ams, aseq = string.match(a, '(%d+)-(%d+)')
  local bms, bseq = string.match(b, '(%d+)-(%d+)')
  ams, bms = tonumber(ams), tonumber(bms)
  return ams < bms or (ams == bms and tonumber(aseq) < tonumber(bseq))
end
`;

/** ARGV = n, then n bodies sent plainly, then (body, priority, delay, key) per other message. */
const enqueue = `${PRELUDE}
local plain = tonumber(ARGV[1])
for i = 2, 1 + plain do redis.call('XADD', stream, '*', 'body', ARGV[i]) end
for i = 2 + plain, #ARGV, 4 do
  local body, priority, delay, key = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  local holder = hold(key, delay)
  if holder then put(1, priority, key, holder, body, '', delay) end
end
return 1
`;

/**
 * ARGV = consumer, count, 'high' | 'low', 1 to make first the group of every priority's stream that
 * lacks it (else 0). Promotes due delayed messages, then reads for this consumer up to `count` entries
 * of the positive ('high', highest first) or negative ('low') priorities; the consumer reads the
 * queue's stream (priority 0) itself, between the two. Returns { ms until the next delayed message
 * or -1, { priority, entries, ... }, 1 if 'high' filled `count`, 1 if negative priorities have
 * streams, every priority that has a stream, 1 if the queue is paused, 1 if grouped messages exist
 * (then the handle fetches with flow-take.ts instead) }. A paused queue (its `:paused` key exists) is
 * left as it is: nothing is promoted or read.
 *
 * A priority's stream may have lost its group (deleted by hand, evicted, XGROUP DESTROY): its group
 * is made again (from id 0, so the entries waiting there are read) rather than the stream skipped,
 * which would leave its messages there for good.
 */
const take = `${PRELUDE}
local consumer, count, side = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local priorities = prefix .. ':priorities'
local function grouped()
  return redis.call('EXISTS', prefix .. ':ring', prefix .. ':parked', prefix .. ':group-delayed') > 0 and 1 or 0
end
local function regroup(p)
  redis.pcall('XGROUP', 'CREATE', band(p), 'sluice', '0', 'MKSTREAM')
end
if redis.call('EXISTS', prefix .. ':paused') == 1 then
  return {-1, {}, 0, 0, redis.call('ZRANGE', priorities, 0, -1), 1, grouped()}
end
if ARGV[4] == '1' then
  for _, p in ipairs(redis.call('ZRANGE', priorities, 0, -1)) do regroup(p) end
end
local wait = promote()
local bands
if side == 'high' then
  bands = redis.call('ZREVRANGEBYSCORE', priorities, '+inf', '(0')
else
  bands = redis.call('ZREVRANGEBYSCORE', priorities, '(0', '-inf')
end
local function read(p, n)
  return redis.pcall('XREADGROUP', 'GROUP', 'sluice', consumer, 'COUNT', n, 'STREAMS', band(p), '>')
end
local got, left = {}, count
for _, p in ipairs(bands) do
  if left == 0 then break end
  local reply = read(p, left)
  if reply and reply.err then
    regroup(p)
    reply = read(p, left)
  end
  if reply and not reply.err then
    got[#got + 1] = p
    got[#got + 1] = reply[1][2]
    left = left - #reply[1][2]
  end
end
local more, low = 0, 0
if side == 'high' then
  if left == 0 then more = 1 end
  if #redis.call('ZRANGEBYSCORE', priorities, '-inf', '(0', 'LIMIT', 0, 1) > 0 then low = 1 end
end
return {wait, got, more, low, redis.call('ZRANGE', priorities, 0, -1), 0, grouped()}
`;

/**
 * ARGV = n, n entry ids of the queue's stream, b, then b times (priority, m, m entry ids), then
 * (priority, entry id) per entry holding a key, released only if the ack took and it still holds it.
 *
 * Entries of other priorities are deleted. Those of the queue's stream, nearly all of them, are not
 * deleted one by one (XDEL costs more than the rest of a delivery): the stream is trimmed up to the
 * oldest entry a group still has pending or has not read, in whole nodes (MINID ~), which is cheap.
 */
const ack = `${PRELUDE}${ENTRY_ORDER}local n = tonumber(ARGV[1])
if n > 0 then redis.call('XACK', stream, 'sluice', unpack(ARGV, 2, 1 + n)) end
local i = 2 + n
for _ = 1, tonumber(ARGV[i]) do
  local target, m = band(ARGV[i + 1]), tonumber(ARGV[i + 2])
  redis.call('XACK', target, 'sluice', unpack(ARGV, i + 3, i + 2 + m))
  redis.call('XDEL', target, unpack(ARGV, i + 3, i + 2 + m))
  i = i + 2 + m
end
for j = i + 1, #ARGV, 2 do
  local target, id = band(ARGV[j]), ARGV[j + 1]
  local found = redis.call('XRANGE', target, id, id)[1]
  if redis.call('XACK', target, 'sluice', id) == 1 then
    if target == stream then n = n + 1 else redis.call('XDEL', target, id) end
    if found then
      local fields = fieldsOf(found)
      release(fields.key or '', fields.holder)
    end
  end
end
if n == 0 then return 1 end
local floor
for _, info in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
  local fields = {}
  for k = 1, #info, 2 do fields[info[k]] = info[k + 1] end
  local oldest = redis.call('XPENDING', stream, fields['name'])[2]
  local last = fields['last-delivered-id']
  if oldest and before(oldest, last) then last = oldest end
  if not floor or before(last, floor) then floor = last end
end
if floor then redis.call('XTRIM', stream, 'MINID', '~', floor) end
return 1
`;

/**
 * KEYS[2] = the dead-letter queue's stream; ARGV = consumer, visibility timeout, maxAttempts.
 * Deliveries idle longer than the visibility timeout (their consumer stopped heartbeating: it died
 * or lost Redis) go back as ready with attempt + 1, or to the dead-letter queue after the last
 * attempt, keeping their priority; those of the flow stream free their group's slot and rejoin their
 * group (flow-prelude.ts). Wake-ups a dead reader left pending are dropped, and priorities
 * whose stream is empty removed with it. A message stream that lost its group gets it again (from
 * id 0), so that its entries are read rather than kept for ever.
 */
const reclaim = `${PRELUDE}${FLOW_PRELUDE}
local consumer, idle, max = ARGV[1], ARGV[2], tonumber(ARGV[3])
local moved = 0
local function given(attempt)
  return 'failed ' .. attempt .. ' of ' .. max .. ' attempts: ${NEVER_SETTLED}'
end
local function claim(target, p)
  local reply = redis.pcall('XAUTOCLAIM', target, 'sluice', consumer, idle, '0-0', 'COUNT', 100)
  if reply.err then
    if p and redis.call('EXISTS', target) == 1 then
      redis.pcall('XGROUP', 'CREATE', target, 'sluice', '0')
    end
    return
  end
  for _, entry in ipairs(reply[2]) do
    local id = entry[1]
    redis.call('XACK', target, 'sluice', id)
    redis.call('XDEL', target, id)
    if p and entry[2] then
      local f = fieldsOf(entry)
      local attempt, key, body = tonumber(f.attempt or '1'), f.key or '', f.body or ''
      if attempt >= max then
        deadLetter(KEYS[2], p, body, given(attempt), key, f.holder, f.id or id, attempt)
      else
        retry(attempt + 1, p, key, f.holder, body, f.id or id, 0)
      end
      moved = moved + 1
    end
  end
end
claim(stream, '0')
local priorities = prefix .. ':priorities'
for _, p in ipairs(redis.call('ZRANGE', priorities, 0, -1)) do
  claim(band(p), p)
  if redis.call('XLEN', band(p)) == 0 then
    redis.call('ZREM', priorities, p)
    redis.call('DEL', band(p))
  end
end
claim(prefix .. ':wake', nil)
local reply = redis.pcall('XAUTOCLAIM', flowStream, 'sluice', consumer, idle, '0-0', 'COUNT', 100)
if not reply.err then
  for _, entry in ipairs(reply[2]) do
    local id = entry[1]
    local f = entry[2] and fieldsOf(entry)
    redis.call('XACK', flowStream, 'sluice', id)
    redis.call('XDEL', flowStream, id)
    if f then
      free(f.group or '')
      local attempt = tonumber(f.attempt or '1')
      if attempt >= max then
        deadLetterFlow(KEYS[2], f, given(attempt), f.body or '', f.id or id)
      else
        retryInGroup(attempt + 1, f.priority or '0', f.key or '', f.holder, f.body or '', f.id or id, f.group or '', 0)
      end
      moved = moved + 1
    end
  end
  if #reply[2] > 0 then wake(stream) end
end
return moved
`;

type Arg = string | number;

/** The scripts as ioredis commands (EVALSHA, falling back to EVAL after a restart emptied the cache). */
export interface ScriptCommands {
  sluiceEnqueue(stream: string, ...args: Arg[]): Promise<number>;
  sluiceTake(stream: string, ...args: Arg[]): Promise<TakeReply>;
  sluiceAck(stream: string, ...args: Arg[]): Promise<number>;
  sluiceNack(stream: string, ...args: Arg[]): Promise<number>;
  sluiceDeadLetter(stream: string, deadLetter: string, ...args: Arg[]): Promise<number>;
  sluiceReclaim(stream: string, deadLetter: string, ...args: Arg[]): Promise<number>;
  sluiceEnqueueGrouped(stream: string, ...args: Arg[]): Promise<number>;
  sluiceFlowTake(stream: string, ...args: Arg[]): Promise<FlowTakeReply>;
  sluiceFlowAck(stream: string, ...args: Arg[]): Promise<number>;
  sluiceFlowNack(stream: string, ...args: Arg[]): Promise<number>;
  sluiceFlowDeadLetter(stream: string, deadLetter: string, ...args: Arg[]): Promise<number>;
}

/** A stream entry as Redis returns it: [id, [field, value, ...]]. */
export type RawEntry = [string, string[]];

/** See `take`: [wait, [priority, entries, ...], more high, some low, every priority with a stream, paused, grouped]. */
export type TakeReply = [number, (string | RawEntry[])[], number, number, string[], number, number];

/** See flow-take.ts: [wait, rate wait, entries, every priority with a stream, paused, grouped, [key, id, ...] to wait on]. */
export type FlowTakeReply = [number, number, RawEntry[], string[], number, number, string[]];

const scripts: Record<keyof ScriptCommands, [lua: string, keys: number]> = {
  sluiceEnqueue: [enqueue, 1],
  sluiceTake: [take, 1],
  sluiceAck: [ack, 1],
  sluiceNack: [`${PRELUDE}${NACK}`, 1],
  sluiceDeadLetter: [`${PRELUDE}${DEAD_LETTER}`, 2],
  sluiceReclaim: [reclaim, 2],
  sluiceEnqueueGrouped: [ENQUEUE_GROUPED, 1],
  sluiceFlowTake: [FLOW_TAKE, 1],
  sluiceFlowAck: [FLOW_ACK, 1],
  sluiceFlowNack: [FLOW_NACK, 1],
  sluiceFlowDeadLetter: [FLOW_DEAD_LETTER, 2],
};

export function withScripts(client: Redis): Redis & ScriptCommands {
  for (const [name, [lua, numberOfKeys]] of Object.entries(scripts)) {
    if (!(name in client)) client.defineCommand(name, { numberOfKeys, lua });
  }
  return client as Redis & ScriptCommands;
}
