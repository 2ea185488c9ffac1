/** The Redis store's Lua scripts: each change that must be atomic is one script. */

/**
 * Keeps record versions: per key (a hash field) one line per version, `hash digest at [class]`;
 * a line whose hash is given again is replaced. One script, so concurrent jobs lose no version.
 * ARGV holds triples (field, line prefix, line). The fields are read with one HMGET and written
 * with one HSET per 500 (not an HGET and an HSET per record: Redis counts each command a script
 * runs); a field given twice is merged in memory, in order, as two calls would have.
 */
export const KEEP_VERSIONS = `
local n = #ARGV / 3
local state, order = {}, {}
local i = 1
while i <= n do
  local names, asked = {}, {}
  while i <= n and #names < 500 do
    local f = ARGV[3 * i - 2]
    if state[f] == nil and not asked[f] then
      names[#names + 1] = f
      asked[f] = true
    end
    i = i + 1
  end
  if #names > 0 then
    local got = redis.call('HMGET', KEYS[1], unpack(names))
    for k = 1, #names do
      state[names[k]] = got[k] or false
      order[#order + 1] = names[k]
    end
  end
end
for k = 1, n do
  local field, prefix, entry = ARGV[3 * k - 2], ARGV[3 * k - 1], ARGV[3 * k]
  local current = state[field]
  local out, found = {}, false
  if current then
    for line in string.gmatch(current, '[^\\n]+') do
      if string.sub(line, 1, #prefix) == prefix then
        out[#out + 1] = entry
        found = true
      else
        out[#out + 1] = line
      end
    end
  end
  if not found then out[#out + 1] = entry end
  state[field] = table.concat(out, '\\n')
end
local set = {}
for k = 1, #order do
  set[#set + 1] = order[k]
  set[#set + 1] = state[order[k]]
  if #set >= 1000 then
    redis.call('HSET', KEYS[1], unpack(set))
    set = {}
  end
end
if #set > 0 then redis.call('HSET', KEYS[1], unpack(set)) end
return 1`;

/** Deletes the lock only if it is still ours (another run may hold it after an expiry). */
export const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
/**
 * Takes an incident (KEYS[1] hash, field ARGV[1]) unless it was notified after ARGV[3]: ISO 8601
 * UTC timestamps of one length compare as strings. Stores ARGV[2], keeping the open one's openedAt.
 */
export const CLAIM_INCIDENT = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
local incident = cjson.decode(ARGV[2])
if current then
  local open = cjson.decode(current)
  if open.notifiedAt > ARGV[3] then return {0, current} end
  incident.openedAt = open.openedAt
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(incident))
return {1, current or ''}`;
/**
 * Claims each content hash (ARGV[3…]) for one owner (ARGV[1]) in a run's claims hash (KEYS[1]),
 * kept ARGV[2] seconds: 1 where the owner holds it, 0 where another does. One HMGET and one HSET
 * per 500 hashes (Redis counts each command a script runs); atomic, as every script is.
 */
export const CLAIM = `
local out = {}
local s = 3
while s <= #ARGV do
  local e = math.min(s + 499, #ARGV)
  local names = {}
  for i = s, e do names[#names + 1] = ARGV[i] end
  local got = redis.call('HMGET', KEYS[1], unpack(names))
  local set = {}
  for k = 1, #names do
    local owner = got[k]
    if not owner then
      set[#set + 1] = names[k]
      set[#set + 1] = ARGV[1]
      out[#out + 1] = 1
    elseif owner == ARGV[1] then
      out[#out + 1] = 1
    else
      out[#out + 1] = 0
    end
  end
  if #set > 0 then redis.call('HSET', KEYS[1], unpack(set)) end
  s = e + 1
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return out`;
/**
 * Takes the pipeline's run slot (KEYS[1]) for ARGV[1], for ARGV[2] seconds: free, already ours,
 * or held by a run that is over (ARGV[3]) — unless an inline run holds the pipeline's lock
 * (KEYS[2]). The keys are those of the previous release, whose workers and inline runs read them.
 */
export const TAKE_SLOT = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 'inline' end
local holder = redis.call('GET', KEYS[1])
if (not holder) or holder == ARGV[1] or holder == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return holder`;
/** Extends the lock only if it is still ours. */
export const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
/**
 * Worker mode's delivery gate of one destination, shared by every worker of the fleet. Times are
 * Redis's own (`TIME`), so workers' clocks do not matter.
 *
 * KEYS[1] the destination's pause (a key whose TTL is the pause left), KEYS[2] its reservations
 * (a sorted set: job id → the time it may start), KEYS[3] its admissions in the last window (a
 * sorted set by time). ARGV[1] the job, ARGV[2] at most this many admissions (0: no limit) per
 * ARGV[3] ms.
 *
 * Returns `{ wait, now }`: `wait` 0 admits the job (and records its admission), else the job is to
 * come back after `wait` ms — until the pause ends, or at the time reserved for it. A job is
 * reserved the first free time after those already reserved, so a backlog comes back spread out,
 * once each, instead of all at once; and none is admitted while `max` were in the last window.
 */
export const ADMIT = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local paused = redis.call('PTTL', KEYS[1])
if paused > 0 then return {paused, now} end
local max, window = tonumber(ARGV[2]), tonumber(ARGV[3])
if max <= 0 then return {0, now} end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)
-- A reservation long past is of a job that went away.
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window - 60000)
local admitted = redis.call('ZCARD', KEYS[3])
local mine = redis.call('ZSCORE', KEYS[2], ARGV[1])
if mine and tonumber(mine) > now then return {tonumber(mine) - now, now} end
if admitted < max and (mine or redis.call('ZCARD', KEYS[2]) == 0) then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[3], now, ARGV[1] .. '@' .. now)
  redis.call('PEXPIRE', KEYS[3], window + 1000)
  return {0, now}
end
if mine then
  -- Its time came, but the window is full still (it came back late, another early).
  local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  local at = tonumber(oldest[2]) + window
  redis.call('ZADD', KEYS[2], at, ARGV[1])
  return {at - now, now}
end
-- The first time after every admission and reservation at which fewer than max fall in a window.
local times = {}
for _, key in ipairs({KEYS[3], KEYS[2]}) do
  local entries = redis.call('ZRANGE', key, -max, -1, 'WITHSCORES')
  for i = 2, #entries, 2 do times[#times + 1] = tonumber(entries[i]) end
end
table.sort(times)
local at = now + 1
if #times >= max then at = math.max(at, times[#times - max + 1] + window) end
if #times > 0 then at = math.max(at, times[#times]) end
redis.call('ZADD', KEYS[2], at, ARGV[1])
redis.call('PEXPIRE', KEYS[2], at - now + window + 60000)
return {at - now, now}`;
/** Pauses a destination for ARGV[1] ms (KEYS[1]), unless it is already paused for longer. */
export const PAUSE = `
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1`;
