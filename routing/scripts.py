"""Lua scripts that change conversations atomically, one partition per call.

Each call carries every message (or every conversation's effects) of one partition in a batch,
so the per-call cost is paid once per partition, not once per message. Every key a script
touches starts with the partition prefix (`hl:{p3}`), passed as KEYS[1] so that Redis Cluster
routes the call by its slot; the keys built inside are in the same slot by construction.
Each item is processed on its own (one message's outcome never depends on a later one's).
"""

# Every redis.call inside a script costs about as much again as the command itself, so both
# scripts keep the calls per message few: a conversation is read with one HMGET, written with one
# HSET, and its events are pushed with one RPUSH.

# KEYS[1] = partition prefix ("hl:{p3}").
# ARGV: 1 partition, 2 now (ms), 3 quiet period (ms), 4 the router's consumer group, 5 the
#   caller's fencing token ("" = not fenced; see `ownership.py`), then per message 2 values:
#   message json and its facts joined by SEP: platform, account, kind, thread key, contact id,
#   language, inbound entry id, history score, and what the rules give a new conversation:
#   priority, team, handler, labels json. (Few arguments per message: packing
#   arguments is the client's main cost.) A new conversation so has its team from the first
#   moment it exists: the agents who may see it see it at once.
# Returns FENCED when the token is not the partition's current one (the caller lost the partition:
#   nothing is written); else, per message, {conversation id, outcome, reopened, previous
#   status, view} where view is VIEW_FIELDS (after the message) joined by SEP, and outcome is
#   "new"     the message was added to the conversation history,
#   "handled" it had been added and its effects committed (a second router claimed the entry
#             before the first acknowledged it with its effects), or another entry carries the
#             very same message JSON (added to a stream twice): do nothing,
#   "pending" it had been added but its effects were not committed (a crash, or another writer
#             changed the conversation: redo them; reopened is kept for the entry that reopened it).
# The effects script acknowledges an entry together with its effects, so "committed" is "no
# longer pending in the group"; nothing per message needs remembering.
# Both scripts append the ids of the conversations whose version they raised to the partition's
# change stream (`keys.changes`: field "c", ids joined by SEP), in the same call: the archiver
# reads it, and a conversation leaves Redis only once SQL holds its current version.
SEP = "\x1f"
FENCED = "FENCED"

# The fencing check both conversation scripts start with: only the partition's current owner
# writes (KEYS[1] is the partition prefix; `token` its ARGV value, "" for callers not fenced).
_LUA_FENCE = """
local function fenced(token)
  return token ~= '' and redis.call('GET', KEYS[1] .. ':owner') ~= token
end
"""

# KEYS: delayed set (members "<order>|<payload>", scored by due time ms), stream. ARGV: now (ms),
# max. Moves the due entries back onto their stream (deferred replies and publish jobs).
PROMOTE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  local sep = string.find(member, '|', 1, true)
  redis.call('XADD', KEYS[2], '*', 'm', string.sub(member, sep + 1))
end
return #due
"""

# Splits a string of values joined by SEP (the scripts' packed arguments) into a table; and the
# most values a script unpacks into one command (Lua's own limit is near 8,000).
LUA_SPLIT = """
local SEP = '\\31'
local UNPACK_MAX = 4000
local function split(text)
  local out, start = {}, 1
  while true do
    local at = string.find(text, SEP, start, true)
    if not at then out[#out + 1] = string.sub(text, start) return out end
    out[#out + 1] = string.sub(text, start, at - 1)
    start = at + 1
  end
end
"""

#: The conversation fields APPLY_MESSAGES reports to the router, in order. `bot_state` is the
#: handling bot's saved state (JSON).
VIEW_FIELDS = (
    "status",
    "priority",
    "team",
    "assignee",
    "handler",
    "labels",
    "language",
    "routed",
    "queued_team",
    "created_at",
    "message_count",
    "contact_id",
    "first_response_at",
    "survey",
    "offhours_day",
    "resolved_by",
    "linked",
    "updated_at",
    "version",
    "bot_state",
)

_APPLY_MESSAGES = """
local prefix = KEYS[1]
local partition = ARGV[1]
local now = tonumber(ARGV[2])
local quiet = tonumber(ARGV[3])
local group = ARGV[4]
__FENCE__
if fenced(ARGV[5]) then return 'FENCED' end
local updated = {}  -- score, member pairs for the inbox index
local changed = {}  -- conversation ids for the change stream
local FIELDS = {__VIEW_FIELDS__}

-- The inbox index, in one ZADD per call (every message of it has the same time), or per
-- UNPACK_MAX values: Lua unpacks at most a few thousand values into one call.
local function index_updated()
  if #updated > 0 then redis.call('ZADD', prefix .. ':idx:updated', unpack(updated)) end
  updated = {}
end
local AT = {}
for k, name in ipairs(FIELDS) do AT[name] = k end
__SPLIT__
local function view(values)
  for k = 1, #FIELDS do values[k] = values[k] or '' end
  return table.concat(values, SEP)
end

-- The reply for a message already in the history of conversation c (nil if it is not). Its
-- effects belong to the entry that added it (the history score names it): another entry with the
-- same message is a duplicate, and this entry's effects were committed if the group no longer has
-- it pending.
local function seen(conv, c, values, raw, score, entry_id)
  local existing = redis.call('ZSCORE', c .. ':messages', raw)
  if not existing then return nil end
  if tonumber(existing) ~= tonumber(score)
      or #redis.call('XPENDING', prefix .. ':in', group, entry_id, entry_id, 1) == 0 then
    return {conv, 'handled', 0, '', ''}
  end
  -- Redone after a conflict: the entry that reopened the conversation still reopened it.
  if redis.call('HGET', c, 'reopened_by') == entry_id then return {conv, 'pending', 1, 'resolved', view(values)} end
  return {conv, 'pending', 0, values[AT.status] or '', view(values)}
end

local function apply(i)
  local raw = ARGV[i]
  local f = split(ARGV[i + 1])
  local platform, account, kind, thread_key = f[1], f[2], f[3], f[4]
  local contact, language, entry_id, score = f[5], f[6], f[7], f[8]
  local thread = prefix .. ':thread:' .. platform .. ':' .. account .. ':' .. thread_key
  local conv = redis.call('GET', thread)
  local c, values
  local previous = ''
  if conv then
    c = prefix .. ':conv:' .. conv
    values = redis.call('HMGET', c, unpack(FIELDS))
    previous = values[AT.status] or ''
    if previous == 'resolved' and now - tonumber(values[AT.updated_at] or 0) > quiet then
      local before = seen(conv, c, values, raw, score, entry_id)
      if before then return before end
      conv = false  -- quiet for long enough: a new conversation
      previous = ''
    elseif redis.call('ZADD', c .. ':messages', 'NX', score, raw) == 0 then
      return seen(conv, c, values, raw, score, entry_id)
    end
  end
  if not conv then
    conv = partition .. '-' .. redis.call('INCR', prefix .. ':conv-seq')
    redis.call('SET', thread, conv)
    c = prefix .. ':conv:' .. conv
    local h = {status = 'open', priority = f[9], team = f[10], handler = f[11], labels = f[12],
               language = language, routed = '0', created_at = now, message_count = 1,
               contact_id = contact, updated_at = now, version = 1}
    redis.call('HSET', c, 'id', conv, 'platform', platform, 'account', account, 'kind', kind,
      'thread_key', thread_key, 'contact_id', contact, 'status', 'open', 'priority', f[9], 'team', f[10],
      'handler', f[11], 'labels', f[12], 'language', language, 'created_at', now, 'message_count', 1,
      'routed', 0, 'updated_at', now, 'last_customer_at', now, 'version', 1)
    redis.call('ZADD', c .. ':messages', score, raw)
    values = {}
    for k, name in ipairs(FIELDS) do values[k] = h[name] end
  else
    local count = tonumber(values[AT.message_count] or 0) + 1
    local version = tonumber(values[AT.version] or 0) + 1
    if language ~= '' then
      redis.call('HSET', c, 'updated_at', now, 'last_customer_at', now, 'status', 'open',
        'message_count', count, 'language', language, 'version', version)
      values[AT.language] = language
    else
      redis.call('HSET', c, 'updated_at', now, 'last_customer_at', now, 'status', 'open', 'message_count', count,
        'version', version)
    end
    values[AT.status], values[AT.message_count], values[AT.updated_at] = 'open', count, now
    values[AT.version] = version
  end
  changed[#changed + 1] = conv
  updated[#updated + 1] = now
  updated[#updated + 1] = conv
  if #updated >= UNPACK_MAX then index_updated() end
  local reopened = 0
  if previous == 'resolved' then
    reopened = 1
    redis.call('HSET', c, 'reopened_by', entry_id)  -- remembered for a redo (see `seen`)
  end
  return {conv, 'new', reopened, previous, view(values)}
end

local out = {}
for i = 6, #ARGV, 2 do out[#out + 1] = apply(i) end
index_updated()
if #changed > 0 then redis.call('XADD', prefix .. ':changes', '*', 'c', table.concat(changed, SEP)) end
return out
"""
APPLY_MESSAGES = (
    _APPLY_MESSAGES.replace("__VIEW_FIELDS__", ", ".join(f"'{f}'" for f in VIEW_FIELDS))
    .replace("__SPLIT__", LUA_SPLIT)
    .replace("__FENCE__", _LUA_FENCE)
)

# KEYS[1] = partition prefix. ARGV[1] = now (ms), ARGV[2] = the router's consumer group, ARGV[3]
# the caller's fencing token ("" = not fenced), then per item 2 values: a conversation id and its
# operations joined by SEP, each an opcode and its values (OP_* below; one argument per item:
# packing arguments is the router's main cost per message). An item starts with its guards (the
# state its decision depended on); if one fails nothing of the item is written, and a later item
# of the same conversation in the call is skipped too. Otherwise its operations apply in order,
# all or none; its events are pushed together at the end, the inbound entries whose effects
# these are are acknowledged with them, and the conversation's version goes up by one.
# Returns FENCED (nothing written) or, per item, the number of replies newly queued, or one of
# the negative codes below.
CONFLICT = -1  # a guard failed: the conversation changed since it was read; decide again
MISSING = -2  # no such conversation (refused by OP_EXISTS)
DONE = -3  # the item's once-marker was set before: it was applied earlier
OP_EXISTS = "M"  # guard: the conversation exists
OP_EXPECT_VERSION = "V"  # guard: version as read
OP_EXPECT_FIELD = "F"  # guard: field, value as read ("" = empty or absent)
OP_ONCE = "X"  # guard: marker key suffix (after the conversation key and ":"): apply once per marker
OP_SET = "S"  # n, then n field/value pairs: HSET on the conversation
OP_SET_ONCE = "O"  # n, then n pairs: HSET only the fields still empty (first response)
OP_LABELS = "L"  # n, then n labels to add, then m, then m labels to remove (a sorted set, as JSON)
OP_EVENT = "E"  # event json: append to the conversation's events
OP_REPLY = "R"  # outbound stream, delivery key, reply json: queue once per delivery key (and
#   take its place in the conversation's reply order, `keys.reply_order`)
OP_BOT_STATE = "B"  # state json: replace the bot's saved state
OP_ACK = "A"  # inbound entry id: these are its effects; acknowledged in the same call
OP_TOUCH = "T"  # move the conversation up the inbox index
OP_QUEUE = "Q"  # team, queue member, score: it waits in the team's queue (`queued_team`), and the
#   entry goes to the partition's queue outbox, copied to the team queue after the commit (that
#   queue lives in another cluster slot): no queue entry without the commit, nor the reverse
_APPLY_EFFECTS = """
local prefix = KEYS[1]
local now = tonumber(ARGV[1])
local acks = {}
local refused = {}  -- conversation -> code, for the later items of a conversation refused earlier
local changed = {}  -- conversation ids for the change stream
__FENCE__
if fenced(ARGV[3]) then return 'FENCED' end
-- The partition's reply counter (`keys.reply_seq`), read at the first reply queued and written
-- back once at the end of the call (one command each, not an INCR per reply).
local reply_seq
local function next_reply()
  reply_seq = (reply_seq or tonumber(redis.call('GET', prefix .. ':out-seq') or '0')) + 1
  return reply_seq
end
local function save_reply_seq()
  if reply_seq then redis.call('SET', prefix .. ':out-seq', reply_seq) end
end
__SPLIT__
local function pairs_at(v, i)
  local n = tonumber(v[i])
  local flat = {}
  for k = i + 1, i + 2 * n do flat[#flat + 1] = v[k] end
  return flat, i + 1 + 2 * n
end

local function relabel(c, v, i)
  local current = redis.call('HGET', c, 'labels')
  local set = {}
  if current and current ~= '' and current ~= '[]' then
    for _, l in ipairs(cjson.decode(current)) do set[l] = true end
  end
  local n = tonumber(v[i])
  for k = i + 1, i + n do set[v[k]] = true end
  i = i + n + 1
  local m = tonumber(v[i])
  for k = i + 1, i + m do set[v[k]] = nil end
  local out = {}
  for l in pairs(set) do out[#out + 1] = l end
  table.sort(out)
  local encoded = '[]'
  if #out > 0 then encoded = cjson.encode(out) end
  redis.call('HSET', c, 'labels', encoded)
  return i + m + 1
end

-- The item's guards, at its start: nil if they hold (then `i` is the first operation). A
-- version guard is only noted here (`expected`): `raise` checks it, after the others.
local function check(conv, c, v)
  local i = 1
  local marker, suffix, expected
  while i <= #v do
    local op = v[i]
    if op == 'M' then
      if redis.call('EXISTS', c) == 0 then return -2 end
      i = i + 1
    elseif op == 'V' then
      if expected and expected ~= v[i + 1] then return -1 end
      expected = v[i + 1]
      i = i + 2
    elseif op == 'F' then
      if (redis.call('HGET', c, v[i + 1]) or '') ~= v[i + 2] then return -1 end
      i = i + 3
    elseif op == 'X' then
      marker, suffix = c .. ':' .. v[i + 1], v[i + 1]
      if redis.call('EXISTS', marker) == 1 then return -3 end
      i = i + 2
    else
      break
    end
  end
  return nil, i, marker, suffix, expected
end

-- Raises the conversation's version by one. With a version guard this is also its check, one
-- command instead of a read and a write: a version other than the one expected is put back as
-- it was (absent if it was) and the item refused (CONFLICT).
local function raise(c, expected)
  local version = redis.call('HINCRBY', c, 'version', 1)
  if not expected or version == tonumber(expected) + 1 then return nil end
  if version == 1 then redis.call('HDEL', c, 'version') else redis.call('HINCRBY', c, 'version', -1) end
  return -1
end

local function apply(conv, packed)
  if refused[conv] then return refused[conv] end
  local c = prefix .. ':conv:' .. conv
  local v = split(packed)
  local code, i, marker, suffix, expected = check(conv, c, v)
  code = code or raise(c, expected)
  if code then
    if code ~= -3 then refused[conv] = code end
    return code
  end
  changed[#changed + 1] = conv
  if marker then
    redis.call('SET', marker, now)
    -- the markers a conversation has, so leaving Redis deletes them too (archive/evict.py)
    local known = redis.call('HGET', c, 'once_markers')
    redis.call('HSET', c, 'once_markers', (known and known ~= '') and (known .. ',' .. suffix) or suffix)
  end
  local queued = 0
  local events = {}
  while i <= #v do
    local op = v[i]
    if op == 'S' then
      local flat
      flat, i = pairs_at(v, i + 1)
      if #flat > 0 then redis.call('HSET', c, unpack(flat)) end
    elseif op == 'O' then
      local flat
      flat, i = pairs_at(v, i + 1)
      for k = 1, #flat, 2 do
        local current = redis.call('HGET', c, flat[k])
        if not current or current == '' then redis.call('HSET', c, flat[k], flat[k + 1]) end
      end
    elseif op == 'L' then
      i = relabel(c, v, i + 1)
    elseif op == 'E' then
      events[#events + 1] = v[i + 1]
      i = i + 2
    elseif op == 'R' then
      if redis.call('HSETNX', v[i + 2], 'state', 'queued') == 1 then
        -- its place among the conversation's replies: the sender posts them in this order
        redis.call('ZADD', c .. ':out', next_reply(), v[i + 2])
        redis.call('XADD', v[i + 1], '*', 'm', v[i + 3])
        queued = queued + 1
      end
      i = i + 4
    elseif op == 'B' then
      redis.call('HSET', c, 'bot_state', v[i + 1])
      i = i + 2
    elseif op == 'A' then
      acks[#acks + 1] = v[i + 1]
      i = i + 2
    elseif op == 'Q' then
      redis.call('HSET', c, 'queued_team', v[i + 1])
      redis.call('HSET', prefix .. ':queue-outbox', conv, v[i + 1] .. '\t' .. v[i + 2] .. '\t' .. v[i + 3])
      i = i + 4
    elseif op == 'T' then
      redis.call('HSET', c, 'updated_at', now)
      redis.call('ZADD', prefix .. ':idx:updated', now, conv)
      i = i + 1
    else
      save_reply_seq()  -- what this call queued so far keeps its places
      error('unknown effect operation ' .. tostring(op))
    end
  end
  if #events > 0 then redis.call('RPUSH', c .. ':events', unpack(events)) end
  return queued
end

local function acknowledge()
  if #acks > 0 then redis.call('XACK', prefix .. ':in', ARGV[2], unpack(acks)) end
  acks = {}
end

local out = {}
for i = 4, #ARGV, 2 do
  out[#out + 1] = apply(ARGV[i], ARGV[i + 1])
  if #acks >= UNPACK_MAX then acknowledge() end
end
acknowledge()
save_reply_seq()
if #changed > 0 then redis.call('XADD', prefix .. ':changes', '*', 'c', table.concat(changed, SEP)) end
return out
"""
APPLY_EFFECTS = _APPLY_EFFECTS.replace("__SPLIT__", LUA_SPLIT).replace("__FENCE__", _LUA_FENCE)
