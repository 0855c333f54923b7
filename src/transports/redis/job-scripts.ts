import type { Redis } from 'ioredis';

/**
 * The job store's writes, one script each so that every write is one round trip and conditional on
 * the job not having ended. KEYS[1] is the job's hash, ARGV[1] its id, ARGV[2] the store's changes
 * channel: a write that changes the record announces the fields that change as a job runs
 * (CHANGING, in that order) as `<id as JSON>\n<JSON array of their values>` (JSON escapes a
 * newline), so a listener that does not watch the id skips the rest unparsed.
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
local job, id, changes = KEYS[1], ARGV[1], ARGV[2]
local function ended(status)
  return status == 'success' or status == 'failed' or status == 'timeout' or status == 'cancelled'
end
local function changing()
  local values = redis.call('HMGET', job, '${CHANGING.join("', '")}')
  for i = 1, ${CHANGING.length} do if not values[i] then values[i] = '' end end
  return values
end
local function announce()
  redis.call('HINCRBY', job, 'version', 1)
  local values = changing()
  redis.call('PUBLISH', changes, cjson.encode(id) .. '\\n' .. cjson.encode(values))
  return values
end
`;

/** ARGV[3..] = task, args, status, createdAt, metadata or ''. Returns the kept hash, or nil once stored. */
const create = `${PRELUDE}
if redis.call('EXISTS', job) == 1 then return redis.call('HGETALL', job) end
redis.call('HSET', job, 'task', ARGV[3], 'args', ARGV[4], 'status', ARGV[5], 'attempt', 0, 'createdAt', ARGV[6], 'version', 1)
if ARGV[7] ~= '' then redis.call('HSET', job, 'metadata', ARGV[7]) end
return false
`;

/** ARGV[3..] = now, then the fallback's task, args, createdAt. Returns the CHANGING fields afterwards. */
const start = `${PRELUDE}
if redis.call('EXISTS', job) == 0 then
  redis.call('HSET', job, 'task', ARGV[4], 'args', ARGV[5], 'status', 'pending', 'attempt', 0, 'createdAt', ARGV[6], 'version', 0)
end
if ended(redis.call('HGET', job, 'status')) then return changing() end
redis.call('HSET', job, 'status', 'running', 'startedAt', ARGV[3])
redis.call('HINCRBY', job, 'attempt', 1)
return announce()
`;

/** ARGV[3..] = field, value: sets one field of a job that has not ended. Returns 1 if it did. */
const update = `${PRELUDE}
local status = redis.call('HGET', job, 'status')
if not status or ended(status) then return 0 end
redis.call('HSET', job, ARGV[3], ARGV[4])
announce()
return 1
`;

/**
 * ARGV[3..] = status, result or '', error or '', now, retention ms, the cancels channel. Ends a job
 * that has not ended (it expires after the retention); a cancel is also announced on the cancels
 * channel. Returns 1 if it ended the job.
 */
const finish = `${PRELUDE}
local status = redis.call('HGET', job, 'status')
if not status or ended(status) then return 0 end
redis.call('HSET', job, 'status', ARGV[3], 'endedAt', ARGV[6])
if ARGV[4] ~= '' then redis.call('HSET', job, 'result', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', job, 'error', ARGV[5]) end
announce()
redis.call('PEXPIRE', job, ARGV[7])
if ARGV[3] == 'cancelled' then redis.call('PUBLISH', ARGV[8], id) end
return 1
`;

const scripts = { create, start, update, finish } as const;

export interface JobScriptCommands {
  sluiceJobCreate(key: string, ...args: string[]): Promise<string[] | null>;
  sluiceJobStart(key: string, ...args: string[]): Promise<string[]>;
  sluiceJobUpdate(key: string, ...args: string[]): Promise<number>;
  sluiceJobFinish(key: string, ...args: string[]): Promise<number>;
}

export function withJobScripts(client: Redis): Redis & JobScriptCommands {
  for (const [name, lua] of Object.entries(scripts)) {
    const command = `sluiceJob${name[0]!.toUpperCase()}${name.slice(1)}`;
    if (!(command in client)) client.defineCommand(command, { numberOfKeys: 1, lua });
  }
  return client as Redis & JobScriptCommands;
}
