"""Lua scripts that change a conversation atomically.

Both run inside one partition's slot: every key they touch starts with the partition prefix
(`hl:{p3}`), passed as the first key so Redis Cluster routes the call by it.
"""

# KEYS[1] = partition prefix ("hl:{p3}").
# ARGV: 1 partition, 2 message json, 3 history score, 4 now (ms), 5 quiet period (ms),
#       6 platform, 7 account, 8 kind, 9 thread key, 10 contact id, 11 language,
#       12 message id, 13 priority, 14 team, 15 handler, 16 labels json.
# Returns {conversation id, outcome, reopened, previous status, conversation hash, bot state};
# outcome is
#   "new"     the message was added to the conversation history,
#   "handled" it had been added and its effects committed before (a redelivery: do nothing),
#   "pending" it had been added but its effects were not committed (a crash: redo them).
APPLY_MESSAGE = """
local prefix = KEYS[1]
local now = tonumber(ARGV[4])
local thread = prefix .. ':thread:' .. ARGV[6] .. ':' .. ARGV[7] .. ':' .. ARGV[9]
local conv = redis.call('GET', thread)
if conv then
  local c = prefix .. ':conv:' .. conv
  if redis.call('SISMEMBER', c .. ':handled', ARGV[12]) == 1 then
    return {conv, 'handled', 0, ''}
  end
  if redis.call('ZSCORE', c .. ':messages', ARGV[2]) then
    return {conv, 'pending', 0, redis.call('HGET', c, 'status') or '',
            redis.call('HGETALL', c), redis.call('HGETALL', c .. ':bot')}
  end
  local st = redis.call('HMGET', c, 'status', 'updated_at')
  if st[1] == 'resolved' and now - tonumber(st[2] or 0) > tonumber(ARGV[5]) then
    conv = false  -- quiet for long enough: a new conversation
  end
end
local previous = ''
if not conv then
  conv = ARGV[1] .. '-' .. redis.call('INCR', prefix .. ':conv-seq')
  redis.call('SET', thread, conv)
  redis.call('HSET', prefix .. ':conv:' .. conv,
    'id', conv, 'platform', ARGV[6], 'account', ARGV[7], 'kind', ARGV[8], 'thread_key', ARGV[9],
    'contact_id', ARGV[10], 'status', 'open', 'priority', ARGV[13], 'team', ARGV[14],
    'handler', ARGV[15], 'labels', ARGV[16], 'language', ARGV[11], 'created_at', now,
    'message_count', 0, 'routed', 0)
else
  previous = redis.call('HGET', prefix .. ':conv:' .. conv, 'status') or ''
end
local c = prefix .. ':conv:' .. conv
redis.call('ZADD', c .. ':messages', ARGV[3], ARGV[2])
redis.call('HINCRBY', c, 'message_count', 1)
redis.call('HSET', c, 'updated_at', now, 'last_customer_at', now, 'status', 'open')
if ARGV[11] ~= '' then redis.call('HSET', c, 'language', ARGV[11]) end
redis.call('ZADD', prefix .. ':idx:updated', now, conv)
local reopened = 0
if previous == 'resolved' then reopened = 1 end
return {conv, 'new', reopened, previous, redis.call('HGETALL', c), redis.call('HGETALL', c .. ':bot')}
"""

# KEYS[1] = partition prefix. ARGV[1] = conversation id, ARGV[2] = json list of operations,
# ARGV[3] = now (ms). Operations, applied in order, all or none:
#   {"op": "set", "fields": {...}}               HSET on the conversation (values as strings)
#   {"op": "set_once", "fields": {...}}          HSET only fields still empty (first response)
#   {"op": "event", "json": "..."}               append an event to the conversation
#   {"op": "reply", "stream": k, "delivery": k, "json": "...", "id": reply id}
#                                                queue a reply once per reply id
#   {"op": "bot_state", "fields": {...}}         replace the bot's saved state
#   {"op": "handled", "message_id": "..."}       the message's effects are committed
#   {"op": "touch"}                              move the conversation up the inbox index
# Returns the number of replies newly queued.
APPLY_EFFECTS = """
local prefix = KEYS[1]
local conv = ARGV[1]
local c = prefix .. ':conv:' .. conv
local now = tonumber(ARGV[3])
local queued = 0
for _, op in ipairs(cjson.decode(ARGV[2])) do
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
      redis.call('HSET', op['delivery'], 'conversation_id', conv, 'updated_at', now, 'attempts', 0)
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
"""
