"""Lua scripts that change conversations atomically, one partition per call.

Each call carries every message (or every conversation's effects) of one partition in a batch,
so the per-call cost is paid once per partition, not once per message. Every key a script
touches starts with the partition prefix (`hl:{p3}`), passed as KEYS[1] so that Redis Cluster
routes the call by its slot; the keys built inside are in the same slot by construction.
Each item is processed on its own (one message's outcome never depends on a later one's).
"""

# KEYS[1] = partition prefix ("hl:{p3}").
# ARGV: 1 partition, 2 now (ms), 3 quiet period (ms), then per message 3 values: message json,
#   history score, and its routing facts joined by SEP: platform, account, kind, thread key,
#   contact id, language, message id, priority, team, handler, labels json. (Few arguments per
#   message: packing arguments is the client's main cost.)
# Returns, per message, {conversation id, outcome, reopened, previous status, view, bot state}
# where view is VIEW_FIELDS joined by SEP, and outcome is
#   "new"     the message was added to the conversation history,
#   "handled" it had been added and its effects committed before (a redelivery: do nothing),
#   "pending" it had been added but its effects were not committed (a crash: redo them).
SEP = "\x1f"

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

#: The conversation fields APPLY_MESSAGES reports to the router, in order.
VIEW_FIELDS = ("status", "priority", "team", "assignee", "handler", "labels", "language", "routed",
               "queued_team", "created_at", "message_count", "contact_id", "first_response_at", "survey",
               "offhours_day", "resolved_by", "linked")

_APPLY_MESSAGES = """
local prefix = KEYS[1]
local partition = ARGV[1]
local now = tonumber(ARGV[2])
local quiet = tonumber(ARGV[3])
local FIELDS = {__VIEW_FIELDS__}

local SEP = '\\31'

local function view(c)
  local values = redis.call('HMGET', c, unpack(FIELDS))
  for k = 1, #FIELDS do values[k] = values[k] or '' end
  return table.concat(values, SEP)
end

local function split(text)
  local out, start = {}, 1
  while true do
    local at = string.find(text, SEP, start, true)
    if not at then out[#out + 1] = string.sub(text, start) return out end
    out[#out + 1] = string.sub(text, start, at - 1)
    start = at + 1
  end
end

local function apply(i)
  local raw, score = ARGV[i], ARGV[i + 1]
  local f = split(ARGV[i + 2])
  local platform, account, kind, thread_key = f[1], f[2], f[3], f[4]
  local contact, language, message_id = f[5], f[6], f[7]
  local thread = prefix .. ':thread:' .. platform .. ':' .. account .. ':' .. thread_key
  local conv = redis.call('GET', thread)
  if conv then
    local c = prefix .. ':conv:' .. conv
    if redis.call('SISMEMBER', c .. ':handled', message_id) == 1 then
      return {conv, 'handled', 0, '', '', {}}
    end
    if redis.call('ZSCORE', c .. ':messages', raw) then
      return {conv, 'pending', 0, redis.call('HGET', c, 'status') or '', view(c), redis.call('HGETALL', c .. ':bot')}
    end
    local st = redis.call('HMGET', c, 'status', 'updated_at')
    if st[1] == 'resolved' and now - tonumber(st[2] or 0) > quiet then
      conv = false  -- quiet for long enough: a new conversation
    end
  end
  local previous = ''
  if not conv then
    conv = partition .. '-' .. redis.call('INCR', prefix .. ':conv-seq')
    redis.call('SET', thread, conv)
    redis.call('HSET', prefix .. ':conv:' .. conv,
      'id', conv, 'platform', platform, 'account', account, 'kind', kind, 'thread_key', thread_key,
      'contact_id', contact, 'status', 'open', 'priority', f[8], 'team', f[9],
      'handler', f[10], 'labels', f[11], 'language', language, 'created_at', now,
      'message_count', 0, 'routed', 0)
  else
    previous = redis.call('HGET', prefix .. ':conv:' .. conv, 'status') or ''
  end
  local c = prefix .. ':conv:' .. conv
  redis.call('ZADD', c .. ':messages', score, raw)
  redis.call('HINCRBY', c, 'message_count', 1)
  redis.call('HSET', c, 'updated_at', now, 'last_customer_at', now, 'status', 'open')
  if language ~= '' then redis.call('HSET', c, 'language', language) end
  redis.call('ZADD', prefix .. ':idx:updated', now, conv)
  local reopened = 0
  if previous == 'resolved' then reopened = 1 end
  return {conv, 'new', reopened, previous, view(c), redis.call('HGETALL', c .. ':bot')}
end

local out = {}
for i = 4, #ARGV, 3 do out[#out + 1] = apply(i) end
return out
"""
APPLY_MESSAGES = _APPLY_MESSAGES.replace("__VIEW_FIELDS__", ", ".join(f"'{f}'" for f in VIEW_FIELDS))

# KEYS[1] = partition prefix. ARGV[1] = now (ms), then pairs (conversation id, json list of
# operations). Each conversation's operations apply in order, all or none:
#   {"op": "set", "fields": {...}}               HSET on the conversation (values as strings)
#   {"op": "set_once", "fields": {...}}          HSET only fields still empty (first response)
#   {"op": "event", "json": "..."}               append an event to the conversation
#   {"op": "reply", "stream": k, "delivery": k, "json": "...", "id": reply id}
#                                                queue a reply once per reply id
#   {"op": "bot_state", "fields": {...}}         replace the bot's saved state
#   {"op": "handled", "message_id": "..."}       the message's effects are committed
#   {"op": "touch"}                              move the conversation up the inbox index
# Returns, per conversation, the number of replies newly queued.
APPLY_EFFECTS = """
local prefix = KEYS[1]
local now = tonumber(ARGV[1])

local function apply(conv, ops)
  local c = prefix .. ':conv:' .. conv
  local queued = 0
  for _, op in ipairs(cjson.decode(ops)) do
    local kind = op['op']
    if kind == 'set' then
      for field, value in pairs(op['fields']) do redis.call('HSET', c, field, value) end
    elseif kind == 'set_once' then
      for field, value in pairs(op['fields']) do
        local current = redis.call('HGET', c, field)
        if not current or current == '' then redis.call('HSET', c, field, value) end
      end
    elseif kind == 'event' then
      redis.call('RPUSH', c .. ':events', op['json'])
    elseif kind == 'reply' then
      if redis.call('HSETNX', op['delivery'], 'state', 'queued') == 1 then
        redis.call('XADD', op['stream'], '*', 'm', op['json'])
        redis.call('RPUSH', c .. ':replies', op['id'])
        queued = queued + 1
      end
    elseif kind == 'bot_state' then
      redis.call('DEL', c .. ':bot')
      local flat = {}
      for field, value in pairs(op['fields']) do
        flat[#flat + 1] = field
        flat[#flat + 1] = value
      end
      if #flat > 0 then redis.call('HSET', c .. ':bot', unpack(flat)) end
    elseif kind == 'handled' then
      redis.call('SADD', c .. ':handled', op['message_id'])
    elseif kind == 'touch' then
      redis.call('HSET', c, 'updated_at', now)
      redis.call('ZADD', prefix .. ':idx:updated', now, conv)
    end
  end
  return queued
end

local out = {}
for i = 2, #ARGV, 2 do out[#out + 1] = apply(ARGV[i], ARGV[i + 1]) end
return out
"""
