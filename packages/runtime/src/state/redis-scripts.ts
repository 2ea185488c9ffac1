/** The Redis store's Lua scripts: each change that must be atomic is one script. */

/**
 * Keeps record versions: per key (a hash field) one line per version, `hash digest at [class]`;
 * a line whose hash is given again is replaced. One script, so concurrent jobs lose no version.
 */
export const KEEP_VERSIONS = `
for i = 1, #ARGV, 3 do
  local field, prefix, entry = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local current = redis.call('HGET', KEYS[1], field)
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
  redis.call('HSET', KEYS[1], field, table.concat(out, '\\n'))
end
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
 * kept ARGV[2] seconds: 1 where the owner holds it, 0 where another does.
 */
export const CLAIM = `
local out = {}
for i = 3, #ARGV do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[1]) == 1
    or redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[1] then
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
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
