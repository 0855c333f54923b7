import type { Redis } from 'ioredis';
import { FLOW_PRELUDE } from './flow-prelude.js';
import { PRELUDE } from './protocol.js';
import { ENTRY_ORDER, type RawEntry } from './scripts.js';

/**
 * The operator's scripts (operator.ts): defined on a connection only once an operator method is
 * first called, so a queue that never uses them pays nothing. KEYS[1] is the queue's stream and,
 * where there is one, KEYS[2] its dead-letter queue's.
 */

/** Reads the group `sluice` of a stream: (ready, read and not acknowledged) in O(1). */
const COUNTS = `${ENTRY_ORDER}local function record(reply)
  local fields = {}
  for k = 1, #reply, 2 do fields[reply[k]] = reply[k + 1] end
  return fields
end
local function groupOf(s)
  local groups = redis.pcall('XINFO', 'GROUPS', s)
  if groups.err then return nil end
  for _, info in ipairs(groups) do
    local fields = record(info)
    if fields['name'] == 'sluice' then return fields end
  end
end
local function counts(s)
  local length = redis.call('XLEN', s)
  local group = groupOf(s)
  if not group then return length, 0 end
  local lag = group['lag']
  if not lag then
    -- Redis gives no lag once the last entry read was deleted (a nack, say), although the entries
    -- added less those read still count the unread ones unless a later entry was deleted too.
    local info = record(redis.call('XINFO', 'STREAM', s))
    if group['entries-read'] and not before(group['last-delivered-id'], info['max-deleted-entry-id']) then
      lag = info['entries-added'] - group['entries-read']
    else
      lag = math.max(0, length - group['pending'])
    end
  end
  return lag, group['pending']
end
-- Over every priority's stream of the queue whose stream is s.
local function countAll(s)
  local ready, taken = counts(s)
  for _, p in ipairs(redis.call('ZRANGE', string.sub(s, 1, -8) .. ':priorities', 0, -1)) do
    local r, t = counts(band(p, s))
    ready, taken = ready + r, taken + t
  end
  return ready, taken
end
`;

/** Every named group that has ready messages: those of the ring and the parked set (flow-prelude.ts). */
const GROUPS = `
local function namedGroups()
  local named, seen = {}, {}
  for _, list in ipairs({redis.call('LRANGE', ring, 0, -1), redis.call('ZRANGE', parked, 0, -1)}) do
    for _, g in ipairs(list) do
      if g ~= '' and not seen[g] then
        seen[g] = true
        named[#named + 1] = g
      end
    end
  end
  return named
end
`;

/**
 * Returns { ready, delayed, in flight, dead, paused }; a delayed message that is due counts as ready.
 * Grouped messages count too: those of the groups' sets, the grouped delayed set and the flow stream.
 */
const stats = `${PRELUDE}${FLOW_PRELUDE}${COUNTS}${GROUPS}
local ready, taken = countAll(stream)
for _, g in ipairs(namedGroups()) do ready = ready + redis.call('ZCARD', groupKey(g)) end
local flowing = groupOf(flowStream)
if flowing then taken = taken + flowing['pending'] end
local t = now()
local delayed = redis.call('ZCARD', prefix .. ':delayed') + redis.call('ZCARD', groupDelayed)
local due = redis.call('ZCOUNT', prefix .. ':delayed', '-inf', t) + redis.call('ZCOUNT', groupDelayed, '-inf', t)
local deadReady, deadTaken = countAll(KEYS[2])
local dead = deadReady + deadTaken + redis.call('ZCARD', string.sub(KEYS[2], 1, -8) .. ':delayed')
return {ready + due, delayed - due, taken, dead, redis.call('EXISTS', prefix .. ':paused')}
`;

/**
 * KEYS[1] a dead-letter queue's stream; ARGV = start, end (XRANGE's, inclusive), count. Returns
 * { priority, entries, ... } for each of its priorities' streams: up to `count` entries of each.
 * Letters a consumer of the dead-letter queue read and acked are left out: acked entries of a
 * queue's stream are only trimmed later (see scripts.ts, ack).
 */
const deadPage = `${PRELUDE}${COUNTS}
local function page(s)
  local entries = redis.call('XRANGE', s, ARGV[1], ARGV[2], 'COUNT', ARGV[3])
  local group = groupOf(s)
  if not group then return entries end
  local last, kept = group['last-delivered-id'], {}
  for _, entry in ipairs(entries) do
    local id = entry[1]
    if before(last, id) or #redis.call('XPENDING', s, 'sluice', id, id, 1) > 0 then kept[#kept + 1] = entry end
  end
  return kept
end
local reply = {'0', page(stream)}
for _, p in ipairs(redis.call('ZRANGE', prefix .. ':priorities', 0, -1)) do
  reply[#reply + 1] = p
  reply[#reply + 1] = page(band(p))
end
return reply
`;

/**
 * ARGV = (priority, entry id) of dead letters. Each still there leaves the dead-letter queue and
 * becomes ready in the queue, with its priority, id and group, at attempt 1: in one script, so that
 * a crash leaves it in one of the two. Returns how many moved.
 */
const redrive = `${PRELUDE}${FLOW_PRELUDE}
local moved = 0
for i = 1, #ARGV, 2 do
  local p, id = ARGV[i], ARGV[i + 1]
  local from = band(p, KEYS[2])
  local found = redis.call('XRANGE', from, id, id)[1]
  if found then
    local fields = fieldsOf(found)
    redis.pcall('XACK', from, 'sluice', id)
    redis.call('XDEL', from, id)
    if (fields.group or '') ~= '' then
      joinGroup(1, p, '', '', fields.body or '', fields.id or id, fields.group)
    else
      ready(1, p, '', '', fields.body or '', fields.id or id)
    end
    moved = moved + 1
  end
end
if moved > 0 then wake(stream) end
return moved
`;

/** KEYS[1] a dead-letter queue's stream; ARGV = (priority, entry id) of letters to delete. Returns how many were there. */
const discard = `${PRELUDE}
local deleted = 0
for i = 1, #ARGV, 2 do
  local from = band(ARGV[i])
  redis.pcall('XACK', from, 'sluice', ARGV[i + 1])
  deleted = deleted + redis.call('XDEL', from, ARGV[i + 1])
end
return deleted
`;

/**
 * ARGV = n. Deletes up to n waiting messages: the entries no consumer has read yet (the group is
 * moved past them, keeping its count of entries read, so the lag stays known), then those of the
 * groups, then delayed ones; releases their keys. Returns how many it deleted (fewer than n: none
 * is left). A group left with none leaves the ring.
 */
const purge = `${PRELUDE}${FLOW_PRELUDE}${COUNTS}${GROUPS}
local n = tonumber(ARGV[1])
local purged = 0
local function purgeStream(s)
  local group = groupOf(s)
  local start = group and ('(' .. group['last-delivered-id']) or '-'
  local entries = redis.call('XRANGE', s, start, '+', 'COUNT', n - purged)
  if #entries == 0 then return end
  for _, entry in ipairs(entries) do
    local fields = fieldsOf(entry)
    release(fields.key or '', fields.holder)
    redis.call('XDEL', s, entry[1])
  end
  purged = purged + #entries
  if not group then return end
  local last = entries[#entries][1]
  if group['entries-read'] then
    redis.call('XGROUP', 'SETID', s, 'sluice', last, 'ENTRIESREAD', group['entries-read'] + #entries)
  else
    redis.call('XGROUP', 'SETID', s, 'sluice', last)
  end
end
purgeStream(stream)
for _, p in ipairs(redis.call('ZRANGE', prefix .. ':priorities', 0, -1)) do
  if purged < n then purgeStream(band(p)) end
end
local function purgeMembers(target)
  for _, member in ipairs(redis.call('ZRANGE', target, 0, n - purged - 1)) do
    local _, _, key, _, _, holder = unpackMember(member)
    release(key, holder)
    redis.call('ZREM', target, member)
    purged = purged + 1
  end
end
for _, g in ipairs(namedGroups()) do
  if purged >= n then break end
  local target = groupKey(g)
  purgeMembers(target)
  if redis.call('EXISTS', target) == 0 then
    redis.call('LREM', ring, 0, g)
    redis.call('ZREM', parked, g)
  end
end
if purged < n then purgeMembers(groupDelayed) end
endGroups()
if purged < n then
  local delayed, records = prefix .. ':delayed', prefix .. ':records'
  for _, member in ipairs(redis.call('ZRANGE', delayed, 0, n - purged - 1)) do
    local record = redis.call('HGET', records, member)
    if record then
      local _, _, key, _, _, holder = cmsgpack.unpack(record)
      release(key, holder)
    end
    redis.call('ZREM', delayed, member)
    redis.call('HDEL', records, member)
    purged = purged + 1
  end
end
return purged
`;

type Arg = string | number;

/** See `stats`: [ready, delayed, in flight, dead, paused (1 or 0)]. */
export type StatsReply = [number, number, number, number, number];

export interface OperationCommands {
  sluiceStats(stream: string, deadLetter: string): Promise<StatsReply>;
  sluiceDeadPage(deadLetter: string, ...args: Arg[]): Promise<(string | RawEntry[])[]>;
  sluiceRedrive(stream: string, deadLetter: string, ...args: Arg[]): Promise<number>;
  sluiceDiscard(deadLetter: string, ...args: Arg[]): Promise<number>;
  sluicePurge(stream: string, ...args: Arg[]): Promise<number>;
}

const scripts: Record<keyof OperationCommands, [lua: string, keys: number]> = {
  sluiceStats: [stats, 2],
  sluiceDeadPage: [deadPage, 1],
  sluiceRedrive: [redrive, 2],
  sluiceDiscard: [discard, 1],
  sluicePurge: [purge, 1],
};

export function withOperationScripts(client: Redis): Redis & OperationCommands {
  for (const [name, [lua, numberOfKeys]] of Object.entries(scripts)) {
    if (!(name in client)) client.defineCommand(name, { numberOfKeys, lua });
  }
  return client as Redis & OperationCommands;
}
