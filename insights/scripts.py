"""Lua scripts of the recorder: counters and cursors change together, all in the `{ins}` slot.

Key names are built from KEYS[1] = `keys.insights_prefix()` exactly as `routing.keys` spells
them (`cube.redis_key`); a test compares the two.
"""

# One increment is 7 values: day ("" = backlog gauge), platform, team, language, dim, field, delta.
_APPLY_INCREMENTS = """
local P = KEYS[1]
local function scopes(p, t, l)
  return {p..'|'..t..'|'..l, p..'|'..t..'|*', p..'|*|'..l, p..'|*|*',
          '*|'..t..'|'..l, '*|'..t..'|*', '*|*|'..l, '*|*|*'}
end
local function apply(first, n)
  local seen = {}
  for k = 0, n - 1 do
    local b = first + k * 7
    local day, dim, f, delta = ARGV[b], ARGV[b + 4], ARGV[b + 5], tonumber(ARGV[b + 6])
    for _, s in ipairs(scopes(ARGV[b + 1], ARGV[b + 2], ARGV[b + 3])) do
      if day == '' then
        redis.call('HINCRBY', P..':backlog:'..s, dim..'|'..f, delta)
        if not seen['|'..s] then
          seen['|'..s] = true
          redis.call('SADD', P..':backlog-scopes', s)
        end
      else
        if dim == '#' then
          redis.call('HINCRBY', P..':h:'..day..':'..s, f, delta)
        else
          redis.call('HINCRBY', P..':c:'..day..':'..s..':'..dim, f, delta)
        end
        if not seen[day..s] then
          seen[day..s] = true
          redis.call('SADD', P..':scopes:'..day, s)
        end
      end
    end
  end
  return first + n * 7
end
"""

# ARGV[1] = number of conversations; then per conversation: id, expected events cursor,
# expected message cursor, new events cursor, new message cursor, state json, SLA due (ms, ""
# = none), number of increments, increments. A conversation whose cursors moved since it was
# read (another recorder got there first) is skipped and reported 0: counted once, never twice.
COMMIT = (
    _APPLY_INCREMENTS
    + """
local out = {}
local i = 2
for c = 1, tonumber(ARGV[1]) do
  local cid, n = ARGV[i], tonumber(ARGV[i + 7])
  local skey = P..':conv:'..cid
  local cur = redis.call('HMGET', skey, 'ev', 'msg')
  if (cur[1] or '0') == ARGV[i + 1] and (cur[2] or '0') == ARGV[i + 2] then
    apply(i + 8, n)
    redis.call('HSET', skey, 'ev', ARGV[i + 3], 'msg', ARGV[i + 4], 'st', ARGV[i + 5])
    if ARGV[i + 6] == '' then
      redis.call('ZREM', P..':sla-due', cid)
    else
      redis.call('ZADD', P..':sla-due', ARGV[i + 6], cid)
    end
    out[c] = 1
  else
    out[c] = 0
  end
  i = i + 8 + n * 7
end
return out
"""
)

# ARGV: conversation id, expected previous rating time ("" = none), rating json, new time,
# number of increments, increments (the old rating's negated, then the new one's).
RATE = (
    _APPLY_INCREMENTS
    + """
local key = P..':rating:'..ARGV[1]
if (redis.call('HGET', key, 'at') or '') ~= ARGV[2] then return 0 end
apply(6, tonumber(ARGV[5]))
redis.call('HSET', key, 'json', ARGV[3], 'at', ARGV[4])
return 1
"""
)

# KEYS[1] = messages sorted set. ARGV[1] = exclusive lower score. Scores only: the recorder needs
# when each customer message arrived, not its text.
MESSAGE_SCORES = """
local r = redis.call('ZRANGEBYSCORE', KEYS[1], '('..ARGV[1], '+inf', 'WITHSCORES')
local out = {}
for i = 2, #r, 2 do out[#out + 1] = r[i] end
return out
"""

# KEYS[1] = insights prefix. ARGV: conversation id, expected events cursor, due ms ("" = none).
# The SLA engine reschedules only if the recorder did not move the conversation meanwhile.
RESCHEDULE = """
local cur = redis.call('HGET', KEYS[1]..':conv:'..ARGV[1], 'ev') or '0'
if cur ~= ARGV[2] then return 0 end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[1]..':sla-due', ARGV[1])
else
  redis.call('ZADD', KEYS[1]..':sla-due', ARGV[3], ARGV[1])
end
return 1
"""
