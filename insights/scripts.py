"""Lua scripts of the recorder: counters and cursors change together, all in the `{ins}` slot.

Key names are built from KEYS[1] = `keys.insights_prefix()` exactly as `routing.keys` spells
them (`cube.redis_key`); a test compares the two.
"""

# One increment is 7 values: day ("" = backlog gauge), platform, team, language, dim, field, delta.
# A day's increment also goes to its week's rollup (the week named "W" + its Monday's YYYYMMDD),
# unless retention cut into that week (units[week] == "0"); in a week's `hour` cells the field
# carries the weekday too ("<metric>|<hour>|<weekday 0=Mon>") for the weekday-by-hour heatmap.
# `units` lists the days and weeks that have cells (the reader's index). Mirrors `cube.fan_out`.
_APPLY_INCREMENTS = """
local P = KEYS[1]
local U = P..':units'
local function scopes(p, t, l)
  return {p..'|'..t..'|'..l, p..'|'..t..'|*', p..'|*|'..l, p..'|*|*',
          '*|'..t..'|'..l, '*|'..t..'|*', '*|*|'..l, '*|*|*'}
end
local floor = math.floor
local function civil(z)  -- days since 1970-01-01 -> 'YYYYMMDD' (proleptic Gregorian)
  z = z + 719468
  local era = floor(z / 146097)
  local doe = z - era * 146097
  local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
  local mp = floor((5 * doy + 2) / 153)
  local d = doy - floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return string.format('%04d%02d%02d', y, m, d)
end
local weeks = {}
local function week_of(day)  -- {week name, weekday, rollup whole?}; lists the day and its week
  local w = weeks[day]
  if w then return w end
  local y, m, d = tonumber(string.sub(day, 1, 4)), tonumber(string.sub(day, 5, 6)), tonumber(string.sub(day, 7, 8))
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local doy = floor((153 * ((m + 9) % 12) + 2) / 5) + d - 1
  local z = era * 146097 + yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy - 719468
  local wd = (z + 3) % 7
  local name = 'W'..civil(z - wd)
  local whole = redis.call('HSETNX', U, name, 1) == 1 or redis.call('HGET', U, name) == '1'
  redis.call('HSET', U, day, 1)
  w = {name, tostring(wd), whole}
  weeks[day] = w
  return w
end
local function apply(first, n)
  local seen = {}
  for k = 0, n - 1 do
    local b = first + k * 7
    local day, dim, f, delta = ARGV[b], ARGV[b + 4], ARGV[b + 5], tonumber(ARGV[b + 6])
    local wk = day ~= '' and week_of(day)
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
          if wk[3] then redis.call('HINCRBY', P..':h:'..wk[1]..':'..s, f, delta) end
        else
          redis.call('HINCRBY', P..':c:'..day..':'..s..':'..dim, f, delta)
          if wk[3] then
            redis.call('HINCRBY', P..':c:'..wk[1]..':'..s..':'..dim, dim == 'hour' and f..'|'..wk[2] or f, delta)
          end
        end
        if not seen[day..s] then
          seen[day..s] = true
          redis.call('SADD', P..':scopes:'..day, s)
          if wk[3] and not seen[wk[1]..s] then
            seen[wk[1]..s] = true
            redis.call('SADD', P..':scopes:'..wk[1], s)
          end
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
