"""A reply's delivery record and its place in its conversation: the scripts that change them.

The record (`keys.delivery`) holds `state` (queued, sending, sent, failed, uncertain), `owner`
(the fencing token of the sender batch holding it "sending"), `lease` (until when that owner
holds it, ms by the Redis clock), `attempts`, `parts` (ids of the parts already posted),
`platform_ids`, `error`, `updated_at`, and, while it waits for a reply written before it,
`parked` (its outbound entry) and `parked_stream`.

Ownership: a reply is posted only by the batch that moved it queued → sending here, atomically,
with its token. Another sender finding it "sending" leaves it alone while the lease runs; after
that the owner is presumed dead, and the reply is posted again only where the platform dedupes by
our key, else recorded "uncertain" (the residual window). The lease is `claim_idle_seconds`,
which the configuration keeps above the longest a sender batch can take.

Order: a conversation's replies not yet final are in `keys.reply_order`, scored by the order they
were written (`scripts.OP_REPLY`). A reply is claimed only when every reply before it is final or
claimed by the same token (one batch posts them in order); otherwise it is parked in its record,
and the script that makes its predecessor final puts it back on its stream.
"""

from __future__ import annotations

from .scripts import LUA_SPLIT

# The helpers the scripts share. `now_ms` reads the Redis clock, so leases mean the same on every
# host. `first`: reply d (a delivery key) may go, every reply before it in order q being final
# (a leftover entry is dropped) or claimed by `token`. `done`: d is final, so it leaves the order
# and the next reply, if parked, goes back to its stream.
_LUA_ORDER = """
local FINAL = {sent = true, failed = true, uncertain = true}
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function first(q, d, token)
  local rank = redis.call('ZRANK', q, d)
  if not rank or rank == 0 then return true end
  for _, before in ipairs(redis.call('ZRANGE', q, 0, rank - 1)) do
    local f = redis.call('HMGET', before, 'state', 'owner')
    if not f[1] or FINAL[f[1]] then
      redis.call('ZREM', q, before)
    elseif f[1] ~= 'sending' or f[2] ~= token then
      return false
    end
  end
  return true
end
local function done(q, d)
  redis.call('ZREM', q, d)
  while true do
    local head = redis.call('ZRANGE', q, 0, 0)[1]
    if not head then return end
    local f = redis.call('HMGET', head, 'state', 'parked', 'parked_stream')
    if f[1] and not FINAL[f[1]] then
      if f[2] then
        redis.call('HDEL', head, 'parked', 'parked_stream')
        redis.call('XADD', f[3], '*', 'm', f[2])
      end
      return
    end
    redis.call('ZREM', q, head)
  end
end
"""

# KEYS[1]: partition prefix. ARGV: 1 token, 2 lease (ms), 3 "1" if the platform dedupes by our
# key, 4 per reply 2 values, all joined by SEP: reply id, conversation id (one argument: packing
# arguments is the sender's main cost per reply). Returns per reply {verdict, parts json, ms left
# of another owner's lease}, verdict one of
#   go      claimed: "sending", held by token until now + lease (an attempt counted)
#   final   sent, failed or uncertain already (or no record): acknowledge only
#   busy    another owner holds it "sending" and its lease runs: look again when it ends
#   held    a reply written before it is not final: it waits (PUT_BACK parks it)
#   orphan  "sending" by an owner whose lease ran out, on a platform without idempotency: the
#           post may have happened; now owned by token with lease 0, to be recorded "uncertain"
#           (a lease of 0 also keeps PUT_BACK from queueing it again when the claim's answer was
#           lost to a Redis outage and the batch puts back what it asked for)
CLAIM = (
    _LUA_ORDER
    + LUA_SPLIT
    + """
local token, lease, dedupes = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'
local now = now_ms()
local items = split(ARGV[4])
local out = {}
for i = 1, #items, 2 do
  local d = KEYS[1] .. ':reply:' .. items[i]
  local f = redis.call('HMGET', d, 'state', 'owner', 'lease', 'parts', 'attempts')
  local state, left = f[1], tonumber(f[3] or 0) - now
  local verdict = 'go'
  if not state or FINAL[state] then verdict = 'final'
  elseif state == 'sending' and f[2] ~= token and left > 0 then verdict = 'busy'
  elseif state == 'sending' and f[2] ~= token and not dedupes then verdict = 'orphan'
  elseif not first(KEYS[1] .. ':conv:' .. items[i + 1] .. ':out', d, token) then verdict = 'held'
  end
  if verdict == 'go' then
    redis.call('HSET', d, 'state', 'sending', 'owner', token, 'lease', now + lease,
               'attempts', tonumber(f[5] or 0) + 1, 'updated_at', now)
  elseif verdict == 'orphan' then
    redis.call('HSET', d, 'owner', token, 'lease', 0)
  end
  out[#out + 1] = {verdict, f[4] or '', math.max(left, 0)}
end
return out
"""
)

# KEYS: 1 partition prefix, 2 outbound stream, 3 its delayed set. ARGV: 1 token, 2 group, then
# per reply 5 values: entry id, delivery key, conversation id, due (ms), delayed member
# ("<order>|<payload>"). Each reply goes back to "queued" if token holds it, then waits: parked in
# its record behind a reply written before it that is not final, else in the delayed set until
# due (a reply token holds as an orphan, lease 0, stays "sending": it may have been posted). Its
# entry is acknowledged in the same call. Returns per reply: parked, delayed or final.
PUT_BACK = (
    _LUA_ORDER
    + """
local prefix, stream, token, group = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local out = {}
for i = 3, #ARGV, 5 do
  local d, member = ARGV[i + 1], ARGV[i + 4]
  local f = redis.call('HMGET', d, 'state', 'owner', 'lease')
  local verdict = 'final'
  if f[1] and not FINAL[f[1]] then
    if f[1] == 'sending' and f[2] == token and tonumber(f[3] or 0) > 0 then
      redis.call('HSET', d, 'state', 'queued', 'owner', '', 'lease', 0)
    end
    if first(prefix .. ':conv:' .. ARGV[i + 2] .. ':out', d, '') then
      redis.call('ZADD', KEYS[3], ARGV[i + 3], member)
      verdict = 'delayed'
    else
      local sep = string.find(member, '|', 1, true)
      redis.call('HSET', d, 'parked', string.sub(member, sep + 1), 'parked_stream', stream)
      verdict = 'parked'
    end
  end
  redis.call('XACK', stream, group, ARGV[i])
  out[#out + 1] = verdict
end
return out
"""
)

# KEYS[1]: partition prefix. ARGV: 1 now, 2 token, 3 per sent reply 3 values, all joined by SEP
# ("" for none): reply id, conversation id, platform ids json; then per reply with an event (not
# sent, or sent with `OutboundReply.report`) 7 values: reply id, conversation id, state, error,
# event json, guard ("own": only while token holds it; "any": unless final already), platform ids
# json. A post that happened is recorded whoever holds the reply now (it is a fact); an outcome
# that is not a post only by its holder, with its event. (Sent replies, the common case, are one
# argument: packing arguments is the sender's main cost per reply.)
# Each final reply leaves its conversation's order (`done`). The changed reply ids (field "r") and
# conversations (field "c") go to the partition's change stream in the same call, for the archiver.
RECORD = (
    _LUA_ORDER
    + LUA_SPLIT
    + """
local prefix, token = KEYS[1], ARGV[2]
local replies, changed = {}, {}
if ARGV[3] ~= '' then
  local sent = split(ARGV[3])
  for i = 1, #sent, 3 do
    local d = prefix .. ':reply:' .. sent[i]
    redis.call('HSET', d, 'state', 'sent', 'platform_ids', sent[i + 2], 'error', '', 'updated_at', ARGV[1])
    done(prefix .. ':conv:' .. sent[i + 1] .. ':out', d)
    replies[#replies + 1] = sent[i]
  end
end
for i = 4, #ARGV, 7 do
  local d = prefix .. ':reply:' .. ARGV[i]
  local f = redis.call('HMGET', d, 'state', 'owner')
  if f[1] and not FINAL[f[1]] and (ARGV[i + 5] == 'any' or f[2] == token) then
    redis.call('HSET', d, 'state', ARGV[i + 2], 'platform_ids', ARGV[i + 6], 'error', ARGV[i + 3],
               'updated_at', ARGV[1])
    local c = prefix .. ':conv:' .. ARGV[i + 1]
    done(c .. ':out', d)
    redis.call('RPUSH', c .. ':events', ARGV[i + 4])
    redis.call('HINCRBY', c, 'version', 1)
    replies[#replies + 1] = ARGV[i]
    changed[#changed + 1] = ARGV[i + 1]
  end
end
if #replies > 0 then
  redis.call('XADD', prefix .. ':changes', '*', 'r', table.concat(replies, SEP), 'c', table.concat(changed, SEP))
end
return 1
"""
)

# KEYS: 1 dead-letter stream, 2 the stream the entry came from, 3 the reply's delivery key, 4 its
# conversation's reply order, 5 the partition's reply counter (3-5 "" for an entry that is not a
# reply). ARGV: 1 the dead letter's id, 2 the entry's payload. Puts one dead letter back on its
# stream, once: it leaves the dead letters in the same call. A reply already sent is not queued
# again (its record says so); another takes a new place at the end of its conversation's order.
# Returns "replayed", "sent" or "gone" (no such dead letter any more).
REPLAY = """
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return 'gone' end
redis.call('XDEL', KEYS[1], ARGV[1])
if KEYS[3] ~= '' then
  if redis.call('HGET', KEYS[3], 'state') == 'sent' then return 'sent' end
  redis.call('HSET', KEYS[3], 'state', 'queued', 'owner', '', 'lease', 0, 'error', '')
  redis.call('HDEL', KEYS[3], 'parked', 'parked_stream')
  redis.call('ZADD', KEYS[4], redis.call('INCR', KEYS[5]), KEYS[3])
end
redis.call('XADD', KEYS[2], '*', 'm', ARGV[2])
return 'replayed'
"""
