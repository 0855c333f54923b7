import type { Redis } from 'ioredis';

/**
 * The job store's writes. Each script takes a batch of calls (the calls of one tick, see
 * job-batches.ts): KEYS[i] is the hash of call i's job, ARGV starts with what the batch shares and
 * then holds STRIDE values per call, the job's id first. Every write is conditional on the job not
 * having ended. The writes that change a record announce, in one PUBLISH per batch on the store's
 * changes channel, one line per change: `<id as JSON>\t<JSON array of the CHANGING fields' values>`
 * (JSON escapes tabs and newlines), so a listener skips a job it does not watch unparsed.
 */
export const CHANGING = [
  'status',
  'attempt',
  'version',
  'startedAt',
  'endedAt',
  'progress',
  'result',
  'error',
] as const;

const PRELUDE = `
local function ended(status)
  return status == 'success' or status == 'failed' or status == 'timeout' or status == 'cancelled'
end
-- The CHANGING fields of a job, '' for those it lacks; values[1] (status) is '' for no job.
local function changing(job)
  local values = redis.call('HMGET', job, '${CHANGING.join("', '")}')
  for i = 1, ${CHANGING.length} do if not values[i] then values[i] = '' end end
  return values
end
local lines = {}
local function announce(id, values)
  lines[#lines + 1] = cjson.encode(id) .. '\\t' .. cjson.encode(values)
  return values
end
local function publish(channel)
  if #lines > 0 then redis.call('PUBLISH', channel, table.concat(lines, '\\n')) end
end
`;

/** Per call: id, task, args, status, createdAt, metadata or ''. Replies per call: 0 once stored, else the kept hash. */
const create = `${PRELUDE}
local replies = {}
for i, job in ipairs(KEYS) do
  local at = (i - 1) * 6
  if redis.call('EXISTS', job) == 1 then
    replies[i] = redis.call('HGETALL', job)
  elseif ARGV[at + 6] == '' then
    redis.call('HSET', job, 'task', ARGV[at + 2], 'args', ARGV[at + 3], 'status', ARGV[at + 4], 'attempt', 0, 'createdAt', ARGV[at + 5], 'version', 1)
    replies[i] = 0
  else
    redis.call('HSET', job, 'task', ARGV[at + 2], 'args', ARGV[at + 3], 'status', ARGV[at + 4], 'attempt', 0, 'createdAt', ARGV[at + 5], 'version', 1, 'metadata', ARGV[at + 6])
    replies[i] = 0
  end
end
return replies
`;

/**
 * ARGV = changes channel, now; per call: id, then the fallback's task, args, createdAt.
 * Replies per call: the CHANGING fields afterwards.
 */
const start = `${PRELUDE}
local changes, now = ARGV[1], ARGV[2]
local replies = {}
for i, job in ipairs(KEYS) do
  local at = 2 + (i - 1) * 4
  local id = ARGV[at + 1]
  local values = changing(job)
  if values[1] == '' then
    redis.call('HSET', job, 'task', ARGV[at + 2], 'args', ARGV[at + 3], 'createdAt', ARGV[at + 4])
    values = { 'pending', '0', '0', '', '', '', '', '' }
  end
  if ended(values[1]) then
    replies[i] = values
  else
    values[1], values[2], values[3], values[4] = 'running', tostring(tonumber(values[2]) + 1), tostring(tonumber(values[3]) + 1), now
    redis.call('HSET', job, 'status', values[1], 'attempt', values[2], 'version', values[3], 'startedAt', now)
    replies[i] = announce(id, values)
  end
end
publish(changes)
return replies
`;

/** ARGV = changes channel; per call: id, field (a CHANGING one), value. Replies per call: 1 if it set the field. */
const update = `${PRELUDE}
local fields = { ${CHANGING.map((field, at) => `${field} = ${at + 1}`).join(', ')} }
local replies = {}
for i, job in ipairs(KEYS) do
  local at = 1 + (i - 1) * 3
  local values = changing(job)
  if values[1] == '' or ended(values[1]) then
    replies[i] = 0
  else
    local field, value = ARGV[at + 2], ARGV[at + 3]
    values[fields[field]], values[3] = value, tostring(tonumber(values[3]) + 1)
    redis.call('HSET', job, field, value, 'version', values[3])
    announce(ARGV[at + 1], values)
    replies[i] = 1
  end
end
publish(ARGV[1])
return replies
`;

/** How many of the jobs that ended failed, timed out or were cancelled the store's failures index keeps. */
export const FAILURES_KEPT = 1_000;

/**
 * ARGV = changes channel, cancels channel, now, failures index; per call: id, status, result or '',
 * error or '', retention ms. Ends a job that has not ended (it expires after the retention); a cancel
 * is also announced on the cancels channel, one id as JSON per line. A job that did not succeed is
 * added to the failures index (a sorted set of ids by end time, trimmed to the most recent
 * FAILURES_KEPT, expiring with the last record it names). Replies per call: 1 if it ended the job.
 */
const finish = `${PRELUDE}
local changes, cancels, now, failures = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local replies, cancelled, failed = {}, {}, 0
for i, job in ipairs(KEYS) do
  local at = 4 + (i - 1) * 5
  local id, status, result, error = ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], ARGV[at + 4]
  local values = changing(job)
  if values[1] == '' or ended(values[1]) then
    replies[i] = 0
  else
    values[1], values[3], values[5], values[7], values[8] = status, tostring(tonumber(values[3]) + 1), now, result, error
    redis.call('HSET', job, 'status', status, 'version', values[3], 'endedAt', now, 'result', result, 'error', error)
    redis.call('PEXPIRE', job, ARGV[at + 5])
    announce(id, values)
    if status == 'cancelled' then cancelled[#cancelled + 1] = cjson.encode(id) end
    if status ~= 'success' then
      redis.call('ZADD', failures, now, id)
      -- the index goes when the last record it names does
      if redis.call('PTTL', failures) < tonumber(ARGV[at + 5]) then redis.call('PEXPIRE', failures, ARGV[at + 5]) end
      failed = failed + 1
    end
    replies[i] = 1
  end
end
publish(changes)
if #cancelled > 0 then redis.call('PUBLISH', cancels, table.concat(cancelled, '\\n')) end
if failed > 0 then redis.call('ZREMRANGEBYRANK', failures, 0, -${FAILURES_KEPT} - 1) end
return replies
`;

const scripts = { create, start, update, finish } as const;

export interface JobScriptCommands {
  sluiceJobCreate(keys: number, ...args: string[]): Promise<(string[] | 0)[]>;
  sluiceJobStart(keys: number, ...args: string[]): Promise<string[][]>;
  sluiceJobUpdate(keys: number, ...args: string[]): Promise<number[]>;
  sluiceJobFinish(keys: number, ...args: string[]): Promise<number[]>;
}

/** Defines the scripts on `client`; their number of keys is given per call (the batch's size). */
export function withJobScripts(client: Redis): Redis & JobScriptCommands {
  for (const [name, lua] of Object.entries(scripts)) {
    const command = `sluiceJob${name[0]!.toUpperCase()}${name.slice(1)}`;
    if (!(command in client)) client.defineCommand(command, { lua });
  }
  return client as Redis & JobScriptCommands;
}
