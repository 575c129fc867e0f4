"""The Redis store's Lua scripts (server/stores/redis.py): one script per operation, and
:data:`BATCH`, which runs a loop turn's operations in ONE call.

Every asynchronous operation of the store is one of these scripts, so that no crash (of a
node, of Redis) leaves half an operation behind. Each is made by :func:`_script` on
:data:`_LIB`, the helpers they share (``ARGV[1]`` is always the key prefix), and each is
listed in :data:`SCRIPTS`, whose order numbers them: :data:`BATCH` holds every script as a
function, called by its number, each operation in its own ``pcall``. The keys they read and
write are those of the store's docstring (and docs/cluster.md, "Keys").
"""

from __future__ import annotations

from collections.abc import Sequence

import const
from resp import Script

from ..mailbox import CHANGE_STEP, DEFAULT_ROOM_SLOT, LEFT_AT
from ..cluster.scripts import DROP_LOOKALIKE_FUNCTION, HELD_FUNCTIONS, JSON_STRING_FUNCTION, ROUTE_FUNCTION

# ARGV[1] is always the key prefix. Helpers shared by every script come first (defining
# them costs Redis about 0.4 us per call, measured: the redis.call()s are what count).

_LIB = r"""
local P = ARGV[1]
local function mkey(id) return P .. 'm:' .. id end
-- A direct message's fields that never change once stored, ``sk``, ``s``, ``r``, ``rk``,
-- ``at``, ``x`` and ``c``, are held in ONE field ``f``, joined by tabs in that order (the
-- request id last: it may hold one), when none of the others holds a tab (STORE_PACKED):
-- a hash of three fields (``f``, ``t``, ``st``), not ten, is fewer fields for Redis to
-- file and fewer arguments for its append-only file to write. A message stored otherwise
-- (before, by STORE, a room's) has each as a field of its own, and a field of its own
-- wins over ``f`` (HAND_OVER rewrites ``c``). hmget: HMGET of a message's fields,
-- whichever way they are held.
local FIXED = {sk = 1, s = 2, r = 3, rk = 4, at = 5, x = 6, c = 7}
local function hmget(k, ...)
  local r = redis.call('HMGET', k, 'f', ...)
  local v = r[1] and {string.match(r[1], '^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$')}
  local out = {}
  for i = 1, select('#', ...) do
    local own = r[i + 1]
    if not own and v then own = v[FIXED[(select(i, ...))]] or false end
    out[i] = own
  end
  return out
end
local function row(id)
  local r = hmget(mkey(id), 's', 'sk', 'r', 'rk', 't', 'at', 'c', 'st', 'x', 'e', 'd')
  return {id, r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11]}
end
local function convkey(a, b) return P .. 'conv:' .. string.len(a) .. ':' .. a .. ':' .. b end
-- A pending message reaches its final state: an outcome for its sender to hear.
-- (taken: the caller already took it out of its recipient's pending set; sk: its
-- sender's key if the caller knows it, else read from the message.)
local function unpend(id, state, taken, sk)
  local k = mkey(id)
  if not (taken and sk) then
    local r = hmget(k, 'rk', 'sk')
    if not taken then redis.call('ZREM', P .. 'pend:' .. r[1], id) end
    sk = r[2]
  end
  redis.call('ZREM', P .. 'exp', id)
  redis.call('HSET', k, 'st', state)
  redis.call('ZADD', P .. 'untold:' .. sk, id, id)
end
-- A receipt (the recipient rk confirmed id; sk: the sender's key, or nil to read it).
local function receipt(id, rk, sk)
  if redis.call('ZREM', P .. 'pend:' .. rk, id) == 1 then unpend(id, 'delivered', true, sk) end
  return 1
end
-- An ack: 1 if sk sent message id, else 0. An outcome is told once it is out of its
-- sender's ``untold`` (no ``told`` field to set: one command, not three, when the ack is
-- the first).
local function ack(id, sk)
  if redis.call('ZREM', P .. 'untold:' .. sk, id) == 1 then return 1 end
  if hmget(mkey(id), 'sk')[1] == sk then return 1 end
  return 0
end
-- A cluster node's routes (ROUTE_FUNCTION): in a BATCH call, held for the call's end, so
-- that each node gets one inbox entry per call (cluster/scripts.py HELD_FUNCTIONS); false
-- in a script called alone (an entry of its own at once).
local held_routes = false
""" + HELD_FUNCTIONS


def _script(body: str) -> Script:
    return Script(_LIB + body)


# A new message stored only behind its sender's message before it in its conversation:
# refused with BEHIND, nothing written, unless that one's request id (``after``; nil or ''
# for none) is filed (RedisStore._behind). A resend is not refused (its own id is filed).
# Reads, no write: a Redis refusing writes (OOM) runs it. In _STORE_BODY, where a message
# is known to be new: after a named room's version check (a post behind one the room's
# change refused is refused the same way, {2, ...}, and decided again with it).
_BEHIND = r"""
if after and after ~= '' and redis.call('HEXISTS', cidk, after) == 0 and redis.call('HEXISTS', cidk, cid) == 0 then
  return redis.error_reply('BEHIND the message before it in its conversation was not stored')
end
"""
# ARGV: P, sender key, request id, sender, recipient, recipient key, text, sent at, state,
# expires at, conversation key ('' for none of the last four that do not apply; for a
# named room's message, the conversation key is the room's: room_posts_key); then, for a
# direct message a cluster node routes in the same step (RedisStore.router), the node's
# key prefix, its id, and its inbox entry's text before and after the message's id: a new
# message waiting for a receipt goes to the inboxes of the other nodes holding sessions of
# its recipient (the cluster's routing rule, scripts.py), and the reply says which.
# ROOM_POST runs the same body with ``cas`` set (see there; its ARGV 12 on are its own),
# ROOM_SAY with ``pub`` alone (see there: ARGV 13 on as ROOM_POST's); STORE with
# neither. Reply: the new message's id; {1, id, the nodes} if routed; {3, id} if stored as
# ``blocked`` though asked as ``sent`` or ``queued`` (its recipient blocks its sender:
# routed to nobody); {0, the earlier message's row} for a known request id. The body reads
# its arguments from the locals _FIELDS sets (STORE_PACKED sets them from its own ARGV):
# extra1 to extra4 are ARGV 12 to 15.
_FIELDS = r"""
local sk, cid, s, r, rk, t, at, state, x, conv = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8],
  ARGV[9], ARGV[10], ARGV[11]
local extra1, extra2, extra3, extra4, after = ARGV[12], ARGV[13], ARGV[14], ARGV[15], ARGV[16]
"""
_STORE_BODY = r"""
local cidk = P .. 'cid:' .. sk
-- n: the new id as INCR gives it (a Lua number, the reply); id: the same as a string,
-- formatted once, for every command and key. (A Lua number given to redis.call is
-- formatted by snprintf("%.17g") at each use, six per message: 5% of Redis's work per
-- message; and Lua's own number-to-string, in a key's concatenation, writes "1e+14" from
-- the 15th digit on.)
local n, id
if cas then
  local earlier = redis.call('HGET', cidk, cid)
  if earlier then return {0, row(earlier)} end
  local now = redis.call('HGET', P .. 'roomv', rk) or '0'
  if now ~= extra1 then return {2, redis.call('HGET', P .. 'rooms', rk) or false, now} end
""" + _BEHIND + r"""
  n = redis.call('INCR', P .. 'next')
  id = string.format('%d', n)
  redis.call('HSET', cidk, cid, id)
else
  -- The request id is claimed with the new id in one command (HSETNX), not looked up
  -- first and filed after (HGET, HSET): a resend, which is rare, gives the id back (the
  -- script is atomic: no other INCR ran between) and returns the earlier message.
""" + _BEHIND + r"""
  n = redis.call('INCR', P .. 'next')
  id = string.format('%d', n)
  if redis.call('HSETNX', cidk, cid, id) == 0 then
    redis.call('DECR', P .. 'next')
    return {0, row(redis.call('HGET', cidk, cid))}
  end
end
local k = mkey(id)
-- Whether its recipient blocks its sender is decided here, by the block lists as Redis
-- holds them when the message is stored, not by the sender's node (its cache of them
-- follows the events stream, a read behind: a block answered ``ok`` on another node a
-- moment ago, or an unblock, is not in it yet). A block is stored (SET_BLOCK) before its
-- ``ok``, so every message stored after it is blocked, whatever node it came through: never
-- pending (so never routed, nor fetched at a login), it expires as any unconfirmed one
-- (docs/cluster.md, "Blocks"). One SISMEMBER a direct message.
local blocked = false
if (state == 'sent' or state == 'queued') and redis.call('SISMEMBER', P .. 'blocks:' .. rk, sk) == 1 then
  state, blocked = 'blocked', true
end
-- A room's post in a cluster (pub: a named room's, a say) goes on the events stream first,
-- so that its entry ('se': "stream entry-id" lines, for a delete of the post to remove its
-- text from the stream too, CHANGE) is written with the message's other fields: one HSET,
-- not a second one after the stream's (a propagated command less per post; the script is
-- one step either way).
local se
if pub then se = extra2 .. ' ' .. redis.call('XADD', extra2, 'MAXLEN', '~', extra4, '*', 'e', extra3 .. id .. '}') end
if x ~= '' and rk ~= '' and not se then  -- a direct message (the usual one): no table to build
  if tabless then  -- its fixed fields in one (hmget: the order is FIXED's)
    redis.call('HSET', k, 'f', sk .. '\t' .. s .. '\t' .. r .. '\t' .. rk .. '\t' .. at .. '\t' .. x .. '\t' .. cid,
      't', t, 'st', state)
  else
    redis.call('HSET', k, 's', s, 'sk', sk, 't', t, 'at', at, 'c', cid, 'st', state, 'x', x, 'r', r, 'rk', rk)
  end
else
  local fields = {'s', s, 'sk', sk, 't', t, 'at', at, 'c', cid, 'st', state}
  if x ~= '' then fields[#fields + 1] = 'x' fields[#fields + 1] = x end
  if rk ~= '' then
    fields[#fields + 1] = 'r' fields[#fields + 1] = r
    fields[#fields + 1] = 'rk' fields[#fields + 1] = rk
  end
  if se then fields[#fields + 1] = 'se' fields[#fields + 1] = se end
  redis.call('HSET', k, unpack(fields))
end
if rk ~= '' then
  redis.call('ZADD', conv, id, id)
  if state ~= 'room' then
    -- Feature since's index (SINCE): each user's conversations by their latest id, so
    -- that a catch-up reads the conversations that moved, not every id given out since.
    -- Scored by the last id of the thousand the latest is in (999 below 1,000), never
    -- below it: a conversation's next messages in that thousand write the same score,
    -- which Redis neither re-files nor propagates (the cluster path's round fourteen).
    local c = string.sub(conv, #P + 1)  -- without the prefix, as every key a value names
    local last = #id > 3 and string.sub(id, 1, -4) .. '999' or '999'
    redis.call('ZADD', P .. 'peers:' .. sk, last, c)
    if rk ~= sk then redis.call('ZADD', P .. 'peers:' .. rk, last, c) end
  end
  if state == 'sent' or state == 'queued' then
    redis.call('ZADD', P .. 'pend:' .. rk, id, id)
    if x ~= '' then redis.call('ZADD', P .. 'exp', x, id) end
  elseif state == 'blocked' and x ~= '' then
    -- A blocked message expires as any unconfirmed one (EXPIRE), pending for nobody.
    redis.call('ZADD', P .. 'exp', x, id)
  end
end
-- Blocked here (not as the node asked): {3, id}, for the node to answer it as blocked.
if blocked then return {3, n} end
if not pub and extra1 and (state == 'sent' or state == 'queued') then
  return {1, n, route(extra1, rk, extra2, extra3 .. id .. extra4, held_routes)}
end
-- A new message's id alone, not {1, id}: one reply item, not three, for the node to read.
return n
"""
STORE = _script(ROUTE_FUNCTION + "local cas, pub, tabless = false, false, false\n" + _FIELDS + _STORE_BODY)
# A named room's message in a cluster (server/roomdesk.py): STORE's ARGV, then the room's
# version the poster's right was decided on, the events stream, the head of its entry
# (cluster/bus.py room_post_head: the id and "}" complete it) and the stream's length.
# Stored and put on the events stream in one step, only if the room is still at that
# version (its id, as STORE answers); else {2, the room's record or false, its version} (nothing stored:
# the node decides again on the room as it is). A resend is recognised first ({0, row}).
# ARGV 16: the request id it is stored behind, or '' (_BEHIND).
ROOM_POST = _script("local cas, pub, tabless = true, true, false\n" + _FIELDS + _STORE_BODY)
# A message of the default room (a ``say``) in a cluster: STORE's ARGV (no recipient, no
# conversation: the default room keeps no history), then '' (no version: a say is not
# decided on one), the events stream, the head of its entry (cluster/bus.py room_say_head:
# the id and "}" complete it) and the stream's length. Stored and put on the events stream
# in one step, as a named room's post: a say Redis stored is on the stream, whatever
# became of its answer (a resend finds it stored and adds nothing). Replies as STORE's.
# ARGV 16 as ROOM_POST's.
ROOM_SAY = _script("local cas, pub, tabless = false, true, false\n" + _FIELDS + _STORE_BODY)
# STORE with its arguments packed (RedisStore.store_message sends it when it can): ARGV: P;
# sender key, sender, recipient, recipient key, sent at, state, expires at, conversation
# key and request id in ONE argument, each but the last followed by a tab (none of the
# first eight can hold one: names and keys hold no control character, and the node checks;
# the request id, last, may hold anything); the text; the route's four, if any. Three
# arguments a message, not ten: the node encodes two strings instead of ten (a tenth of
# its store path), and Redis parses two bulk strings instead of ten, for one match here.
# The same body then runs on the same fields as STORE's: the same commands, keys and
# reply; a direct message's fixed fields are stored in one (``tabless``: see _LIB's hmget).
_PACKED_FIELDS = r"""
local cas, pub, tabless = false, false, true
local sk, s, r, rk, at, state, x, conv, cid = string.match(ARGV[2],
  '^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$')
if not cid then return redis.error_reply('ERR a packed message of the wrong shape') end
"""
STORE_PACKED = _script(ROUTE_FUNCTION + _PACKED_FIELDS + r"""
local t, extra1, extra2, extra3, extra4, after = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], nil
""" + _STORE_BODY)
# STORE_PACKED behind a message (_BEHIND; its request id ARGV[3]); the rest one further on.
STORE_PACKED_AFTER = _script(ROUTE_FUNCTION + _PACKED_FIELDS + r"""
local after, t, extra1, extra2, extra3, extra4 = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
""" + _STORE_BODY)

# Named rooms shared by a cluster's nodes: ``roomv`` maps a room key to its version (the
# number of changes stored; kept when the room ends, so a new room of the name goes on
# from it), ``rlook`` a look-alike key (registry.names.lookalike_key of the name without
# its prefix) to the room key that holds it. ARGV: P, room key, the version the change was
# decided on, '1' and the record or '0' to forget the room, the events stream, its entry
# (cluster/bus.py RoomChanged), the stream's length, the room's look-alike key ('' if not
# known). {1, new version}, or {0, the record or false, the version} if the room changed
# meanwhile, or {3, the rival's key, record and version} if a new room looks like another
# that exists (nothing written: each node checks look-alikes against the rooms it knows,
# and without this two nodes could each make one of two look-alike names at once). A room
# made before ``rlook`` existed is entered at its next change, never displacing another.
SAVE_ROOM_VERSIONED = _script(r"""
local rk, lk = ARGV[2], ARGV[9] or ''
local now = redis.call('HGET', P .. 'roomv', rk) or '0'
if now ~= ARGV[3] then return {0, redis.call('HGET', P .. 'rooms', rk) or false, now} end
if ARGV[4] == '1' then
  if lk ~= '' then
    local holder = redis.call('HGET', P .. 'rlook', lk)
    if holder and holder ~= rk then
      local rival = redis.call('HGET', P .. 'rooms', holder)
      if not rival then redis.call('HSET', P .. 'rlook', lk, rk)  -- a room that ended
      elseif redis.call('HEXISTS', P .. 'rooms', rk) == 0 then
        return {3, holder, rival, redis.call('HGET', P .. 'roomv', holder) or '0'}
      end
    elseif not holder then redis.call('HSET', P .. 'rlook', lk, rk) end
  end
  redis.call('HSET', P .. 'rooms', rk, ARGV[5])
else
  redis.call('HDEL', P .. 'rooms', rk)
  if lk ~= '' and redis.call('HGET', P .. 'rlook', lk) == rk then redis.call('HDEL', P .. 'rlook', lk) end
end
local v = redis.call('HINCRBY', P .. 'roomv', rk, 1)
redis.call('XADD', ARGV[6], 'MAXLEN', '~', ARGV[8], '*', 'e', ARGV[7])
return {1, v}
""")

# ARGV: P, msg id, recipient key, and the sender's key if the caller knows it (the relay
# does, for a message in flight: no HMGET then; a node of the version before sends three).
RECEIPT = _script(r"""
return receipt(ARGV[2], ARGV[3], ARGV[4])
""")

# ARGV: P, msg id, sender key. 1 if that key sent the message, else 0 (see ack()).
ACK = _script(r"""
return ack(ARGV[2], ARGV[3])
""")

# A loop turn's receipts or acks, as ONE operation of the batch each (RedisStore._many):
# ARGV: P, then each one's arguments in turn (receipts: msg id, recipient key, sender key;
# acks: msg id, sender key). One reply per receipt or ack, in order, as the single scripts
# answer. (They run in one pcall: a command Redis refuses stops the rest, and every one is
# answered the error; a receipt or an ack done twice does nothing more, so the relay's
# retry of them is harmless.)
# The replies in one item each, not one item per receipt or ack (for Redis to build and
# the node to parse, _Many.decode): RECEIPTS answers how many it recorded (a receipt's
# answer is always 1), ACKS one character per ack, '1' or '0', in order.
RECEIPTS = _script(r"""
local n = 0
for i = 2, #ARGV, 3 do n = n + receipt(ARGV[i], ARGV[i + 1], ARGV[i + 2]) end
return n
""")
ACKS = _script(r"""
local out = {}
-- (strings, not the numbers ack() answers: table.concat would format each with sprintf)
for i = 2, #ARGV, 2 do out[#out + 1] = ack(ARGV[i], ARGV[i + 1]) == 1 and '1' or '0' end
return table.concat(out)
""")
# The same two with their arguments in ONE argument, each followed by a tab but the last
# (ids are digits, keys hold no control character; _Many checks): the node joins them in
# one call instead of encoding each, Redis reads them with a pattern (the answers are the
# same; _Many.decode checks their count).
RECEIPTS_PACKED = _script(r"""
local n = 0
for id, rk, sk in string.gmatch(ARGV[2], '([^\t]*)\t([^\t]*)\t([^\t]*)\t?') do n = n + receipt(id, rk, sk) end
return n
""")
ACKS_PACKED = _script(r"""
local out = {}
for id, sk in string.gmatch(ARGV[2], '([^\t]*)\t([^\t]*)\t?') do
  out[#out + 1] = ack(id, sk) == 1 and '1' or '0'
end
return table.concat(out)
""")

# ARGV: P, msg id, state (mailbox.restate's rule).
RESTATE = _script(r"""
local k = mkey(ARGV[2])
local st = redis.call('HGET', k, 'st')
if st == 'sent' or st == 'queued' then redis.call('HSET', k, 'st', ARGV[3]) end
return 1
""")

# ARGV: P, msg id, recipient key.
CONFIRM_LATE = _script(r"""
local k = mkey(ARGV[2])
if redis.call('EXISTS', k) == 0 then return {false, false} end
local rk = hmget(k, 'rk')[1]
if redis.call('ZREM', P .. 'pend:' .. ARGV[3], ARGV[2]) == 1 then
  unpend(ARGV[2], 'delivered', true)
  return {row(ARGV[2]), rk}
end
return {false, rk}
""")

# ARGV: P, zset name (after the prefix), after, limit (-1: all).
PAGE = _script(r"""
local ids = redis.call('ZRANGEBYSCORE', P .. ARGV[2], '(' .. ARGV[3], '+inf', 'LIMIT', 0, ARGV[4])
local out = {}
for i, id in ipairs(ids) do out[i] = row(id) end
return out
""")

# ARGV: P, conversation key, my key, before ('' for none), after, limit.
HISTORY = _script(r"""
local want = tonumber(ARGV[6]) + 1
local top = '+inf'
if ARGV[4] ~= '' then top = '(' .. ARGV[4] end
local out, offset = {}, 0
while #out < want do
  local ids = redis.call('ZREVRANGEBYSCORE', ARGV[2], top, '(' .. ARGV[5], 'LIMIT', offset, want)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local r = hmget(mkey(id), 's', 'r', 't', 'at', 'st', 'rk', 'e', 'd')
    if not ((r[5] == 'blocked' or r[5] == 'blocked_expired') and r[6] == ARGV[3]) then
      out[#out + 1] = {id, r[1], r[2], r[3], r[4], r[5], r[7], r[8]}
      if #out >= want then break end
    end
  end
  offset = offset + #ids
end
return out
""")

# Feature since (mailbox.since). ARGV: P, my key, after, limit, scan (unused here). Reads
# the conversations of mine that moved after ``after`` (``peers:<my key>``, each scored by
# the last id of its latest id's thousand: _STORE_BODY keeps it; those that did not move
# but share ``after``'s thousand give nothing), up to limit + 1 ids of each after ``after``, and
# keeps my direct messages among them as mailbox.since_visible says (a field HMGET does
# not find is false here), oldest first, at most limit + 1. A conversation that had more
# sets the horizon: nothing past the lowest such last id is kept, and the walk goes on
# from there (so a page of messages hidden from me cannot hide older visible ones). The
# cost follows my conversations, not every id given out since (a walk of 2,000 ids took
# Redis 15 ms a page, and every other command waited). Messages stored before the index
# was kept are not found (a catch-up wants recent ones). Reply: {rows as HISTORY's,
# walked to, top}.
SINCE = _script(r"""
local me, after, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local top = tonumber(redis.call('GET', P .. 'next') or '0')
local from = '(' .. string.format('%d', after)
local ids, horizon = {}, nil
for _, conv in ipairs(redis.call('ZRANGEBYSCORE', P .. 'peers:' .. me, from, '+inf')) do
  local got = redis.call('ZRANGEBYSCORE', P .. conv, from, '+inf', 'LIMIT', 0, limit + 1)
  for _, id in ipairs(got) do ids[#ids + 1] = tonumber(id) end
  if #got > limit then
    local last = tonumber(got[#got])
    if horizon == nil or last < horizon then horizon = last end
  end
end
table.sort(ids)
local out, seen = {}, {}
for _, n in ipairs(ids) do
  if horizon ~= nil and n > horizon then break end
  if not seen[n] then
    seen[n] = true
    local id = string.format('%d', n)
    local r = hmget(mkey(id), 'sk', 'rk', 'st', 's', 'r', 't', 'at', 'e', 'd')
    if r[3] and r[3] ~= 'room' and (r[1] == me or r[2] == me) and r[2] and string.sub(r[2], 1, 1) ~= '#'
        and not ((r[3] == 'blocked' or r[3] == 'blocked_expired') and r[2] == me) then
      out[#out + 1] = {id, r[4], r[5], r[6], r[7], r[3], r[8], r[9]}
      if #out > limit then break end
    end
  end
end
return {out, horizon or top, top}
""")


# ARGV: P, now.
EXPIRE = _script(r"""
local ids = redis.call('ZRANGEBYSCORE', P .. 'exp', '-inf', ARGV[2])
local out = {}
for i, id in ipairs(ids) do
  -- A blocked one becomes blocked_expired: told "expired" (mailbox.as_told), never
  -- shown to the recipient who blocked its sender.
  if redis.call('HGET', mkey(id), 'st') == 'blocked' then unpend(id, 'blocked_expired', true)
  else unpend(id, 'expired') end
  out[i] = row(id)
end
return out
""")

# hand_over(epoch, forget, keys): the names ``keys`` change hands (mailbox.hand_over), and
# with ``forget`` are forgotten too (mailbox.forget_users); returns the rows of what ended,
# for their senders. Shared by HAND_OVER and the cluster's FORGET_GUESTS.
_HAND_OVER_FUNCTION = r"""
local function hand_over(epoch, forget, keys)
local names = {}
for _, key in ipairs(keys) do names[key] = true end
local out = {}
for _, key in ipairs(keys) do
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'pend:' .. key, '-inf', epoch)) do
    unpend(id, 'expired')
    out[#out + 1] = row(id)
  end
end
-- What they had blocked ends too, its sender told (mailbox.hand_over). No index leads
-- to a recipient's blocked messages (one would cost every blocked message's store a
-- command): they are found among the unconfirmed ones the expiry pass walks ('exp',
-- where every message the relay blocks is), a thousand at a time, once per hand-over
-- (once for all the names forgotten together).
local start = 0
while true do
  local ids = redis.call('ZRANGE', P .. 'exp', start, start + 999)
  if #ids == 0 then break end
  local ended = {}
  for _, id in ipairs(ids) do
    local n = tonumber(id)  -- nil: EXP_HOLDER, no message
    if n and n <= epoch then
      local r = hmget(mkey(id), 'st', 'rk')
      if r[1] == 'blocked' and names[r[2]] then ended[#ended + 1] = id end
    end
  end
  for _, id in ipairs(ended) do
    unpend(id, 'blocked_expired', true)  -- out of 'exp': the ranks after it move down
    out[#out + 1] = row(id)
  end
  start = start + #ids - #ended
end
for _, key in ipairs(keys) do
  redis.call('ZREMRANGEBYSCORE', P .. 'untold:' .. key, '-inf', epoch)
  local cidk = P .. 'cid:' .. key
  local cids = redis.call('HGETALL', cidk)
  for j = 1, #cids, 2 do
    local id = tonumber(cids[j + 1])
    if id <= epoch then
      local k = mkey(cids[j + 1])
      if redis.call('HGET', k, 'st') == 'blocked' then
        -- What they sent that was blocked ends, told to nobody (mailbox.hand_over).
        redis.call('ZREM', P .. 'exp', cids[j + 1])
        redis.call('HSET', k, 'st', 'blocked_expired')
      end
      redis.call('HDEL', cidk, cids[j])
      redis.call('HSET', mkey(cids[j + 1]), 'c', string.format('%-65s', 'superseded ' .. cids[j + 1]))
    end
  end
  if forget then  -- as mailbox.forget_users; and whom they talked with (since's index)
    redis.call('DEL', P .. 'guest:' .. key, P .. 'blocks:' .. key, P .. 'rcur:' .. key, P .. 'read:' .. key,
               P .. 'peers:' .. key, P .. 'dchg:' .. key)
    redis.call('SREM', P .. 'guests', key)
    redis.call('SREM', P .. 'blockers', key)
    redis.call('SREM', P .. 'rcptoff', key)
    redis.call('HDEL', P .. 'users', key)
    redis.call('HDEL', P .. 'seen', key)
  end
end
return out
end
"""

# ARGV: P, epoch, '1' to forget the names too (RedisStore.forget_users) else '0', then the
# name keys (one for a hand-over).
HAND_OVER = _script(_HAND_OVER_FUNCTION + r"""
local keys = {}
for i = 4, #ARGV do keys[#keys + 1] = ARGV[i] end
return hand_over(tonumber(ARGV[2]), ARGV[3] == '1', keys)
""")

# referenced(key): whether a message still refers to name ``key`` (mailbox.referenced).
_REFERENCED_FUNCTION = r"""
local function referenced(key)
  if redis.call('ZCARD', P .. 'pend:' .. key) > 0 or redis.call('ZCARD', P .. 'untold:' .. key) > 0 then
    return true
  end
  for _, id in ipairs(redis.call('HVALS', P .. 'cid:' .. key)) do
    local st = redis.call('HGET', mkey(id), 'st')
    if st == 'sent' or st == 'queued' or st == 'blocked' then return true end
  end
  return false
end
"""

# ARGV: P, then name keys: those a message still refers to (mailbox.referenced).
REFERENCED = _script(_REFERENCED_FUNCTION + r"""
local out = {}
for i = 2, #ARGV do
  if referenced(ARGV[i]) then out[#out + 1] = ARGV[i] end
end
return out
""")

# A cluster's forgetting of guest names (server/cluster/node.py, ClusterNode.forget_guests):
# one node at a time, in one step with the checks that make it safe against every other
# node's logins. ARGV: P, epoch (as HAND_OVER's), the node's id, the lease in ms, the
# events stream, its length, the 'forgot' entry's head (cluster/bus.py: the keys' JSON
# list and "}" complete it), then per name: key, epoch, left at, as the node's cache holds
# its holding. The lease (``forgetter``) is the node's while it renews it within the lease;
# another node's answers {0}. A name is forgotten only if nobody holds it now (``who``: a
# claim made before this step keeps it; one after finds the holding gone, scripts.CLAIM),
# its holding is the one the node saw (no login or leaving since), and no message refers to
# it; the forgotten ones go on the events stream in the same step, and their look-alike keys
# leave a cluster's ``glook`` (kept while held: cluster/scripts.py _DROP_WHO). Reply: {1, the keys
# forgotten, the rows of what ended (hand_over)}.
FORGET_GUESTS = _script(_HAND_OVER_FUNCTION + _REFERENCED_FUNCTION + JSON_STRING_FUNCTION + DROP_LOOKALIKE_FUNCTION
                        + r"""
local owner = redis.call('GET', P .. 'forgetter')
if owner and owner ~= ARGV[3] then return {0} end
redis.call('SET', P .. 'forgetter', ARGV[3], 'PX', ARGV[4])
local keys = {}
for i = 8, #ARGV - 2, 3 do
  local key = ARGV[i]
  local h = redis.call('HMGET', P .. 'guest:' .. key, 'epoch', 'left')
  if redis.call('HEXISTS', P .. 'who', key) == 0 and tonumber(h[1]) == tonumber(ARGV[i + 1])
      and h[2] and tonumber(h[2]) == tonumber(ARGV[i + 2]) and not referenced(key) then
    keys[#keys + 1] = key
  end
end
if #keys == 0 then return {1, {}, {}} end
for _, key in ipairs(keys) do  -- the look-alike key a held guest name kept (cluster/scripts.py _DROP_WHO)
  drop_lookalike(P, key)
end
local told = hand_over(tonumber(ARGV[2]), true, keys)
redis.call('XADD', ARGV[5], 'MAXLEN', '~', ARGV[6], '*', 'e', ARGV[7] .. json_string(table.concat(keys, '\n')) .. '}')
return {1, keys, told}
""")

# Purge's walk in id order, without an index of every message: ``next`` is the highest id
# given out and every id below it was a message (the store takes an id only for one);
# ``low``: every id below it was walked by a purge, and is gone or in ``kept``, the set of
# the messages a purge walked and kept (pending, or an outcome not yet told). A purge walks
# ``kept``, then the ids from ``low`` up: each deleted id once, not again at every purge.
# A store of the layout before (a ``{chat}:ids`` set of every message) is folded in first:
# what it lists below ``low`` joins ``kept`` (all of it, the first time: ``low`` is then
# set above every id given out), and the set goes.
_FOLD_IDS = r"""
-- ZADD of ids scored by themselves, a thousand a command (unpack's stack is bounded).
local function add_ids(key, ids)
  for i = 1, #ids, 1000 do
    local args = {}
    for j = i, math.min(i + 999, #ids) do args[#args + 1] = ids[j] args[#args + 1] = ids[j] end
    redis.call('ZADD', key, unpack(args))
  end
end
local function fold_ids()
  local ids = P .. 'ids'
  if redis.call('EXISTS', ids) == 0 then return end
  local low = redis.call('GET', P .. 'low')
  if not low then
    redis.call('ZUNIONSTORE', P .. 'kept', 2, P .. 'kept', ids)
    redis.call('SET', P .. 'low', tonumber(redis.call('GET', P .. 'next') or '0') + 1)
  else
    add_ids(P .. 'kept', redis.call('ZRANGEBYSCORE', ids, '-inf', '(' .. low))
  end
  redis.call('DEL', ids)
end
"""

# ``exp``'s member that is no message: longer than the 64 bytes up to which Redis keeps a
# sorted set of up to 128 members as a listpack (zset-max-listpack-value), so that ``exp``
# is a skiplist however few messages are in flight. In a listpack each message's insert
# and removal walked every member (the benchmark's hundred or so: 16,000 instructions a
# message, 7% of Redis's work; bench/PROFILE.md, the cluster path's round fourteen); a
# skiplist finds its place in log n steps. Scored +inf: no expiry pass reaches it; the
# hand-over's walk passes it by (not a number); nothing else reads ``exp`` but by id.
EXP_HOLDER = "~ no message: a member over 64 bytes keeps this sorted set a skiplist (docs/cluster.md) ~"

# ARGV: P. At open: the layout before is folded in (above); a new store starts at ``low`` 1;
# ``exp`` gets EXP_HOLDER (again, after a Redis that lost it).
UPGRADE = _script(_FOLD_IDS + r"""
if redis.call('EXISTS', P .. 'ids') == 0 then redis.call('SETNX', P .. 'low', 1) end
fold_ids()
redis.call('ZADD', P .. 'exp', 'NX', '+inf', '""" + EXP_HOLDER + r"""')
return 1
""")

# ARGV: P, older than, unacknowledged older than ('' for none). As mailbox.purge: each
# bound is cut at the first message sent at or after it, and the newest message stays.
PURGE = _script(_FOLD_IDS + r"""
fold_ids()
local older = tonumber(ARGV[2])
local unack = nil
if ARGV[3] ~= '' then unack = tonumber(ARGV[3]) end
local newest = tonumber(redis.call('GET', P .. 'next') or '0')
if newest == 0 then return 0 end
local old, uold = true, unack ~= nil
local doomed, keep, gone = {}, {}, {}
-- One message, in id order: true once the walk ends (at the newest message, or at the
-- first one sent at or after both bounds); walked: it is not in kept yet.
local function visit(id, walked)
  if tonumber(id) >= newest then return true end
  local r = hmget(mkey(id), 'at', 'st', 'sk')
  if not r[1] then  -- no such message (a store that failed half-way)
    if not walked then gone[#gone + 1] = id end
    return false
  end
  local at = tonumber(r[1])
  old = old and at < older
  uold = uold and at < unack
  if not (old or uold) then return true end
  local st = r[2]
  local doom = false
  if st == 'room' or st == 'blocked' then
    doom = old
  elseif st == 'delivered' or st == 'expired' or st == 'blocked_expired' then
    -- told: out of its sender's untold (acknowledged, or handed over)
    doom = uold or (old and not redis.call('ZSCORE', P .. 'untold:' .. r[3], id))
  end
  if doom then doomed[#doomed + 1] = tostring(id)
  elseif walked then keep[#keep + 1] = id end
  return false
end
local done, start = false, 0
while not done do
  local ids = redis.call('ZRANGE', P .. 'kept', start, start + 999)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    if visit(id, false) then done = true break end
  end
  start = start + #ids
end
local low = tonumber(redis.call('GET', P .. 'low') or '1')
local id = low
while not done do
  -- (the id in digits: Lua's number-to-string, in mkey's concatenation, writes "1e+14"
  -- from the 15th digit on, a key no message is under)
  if visit(string.format('%d', id), true) then done = true else id = id + 1 end
end
if id > low then redis.call('SET', P .. 'low', id) end
add_ids(P .. 'kept', keep)
for _, id in ipairs(gone) do redis.call('ZREM', P .. 'kept', id) end
for _, id in ipairs(doomed) do
  local k = mkey(id)
  local r = hmget(k, 'sk', 'c', 'rk', 'st')
  local cidk = P .. 'cid:' .. r[1]
  if redis.call('HGET', cidk, r[2]) == id then redis.call('HDEL', cidk, r[2]) end
  redis.call('ZREM', P .. 'untold:' .. r[1], id)
  -- (a blocked message purged before its expiry: a retention shorter than the queue's)
  if r[4] == 'blocked' then redis.call('ZREM', P .. 'exp', id) end
  if r[3] then
    -- (one of the two is the conversation's key: its names in order)
    for _, conv in ipairs({convkey(r[1], r[3]), convkey(r[3], r[1])}) do
      redis.call('ZREM', conv, id)
      if r[4] ~= 'room' and redis.call('EXISTS', conv) == 0 then
        -- Its last message gone: out of since's index of both (who talked with whom), as
        -- SQLite's lookups go with its rows.
        local c = string.sub(conv, #P + 1)
        redis.call('ZREM', P .. 'peers:' .. r[1], c)
        redis.call('ZREM', P .. 'peers:' .. r[3], c)
      end
    end
    redis.call('ZREM', P .. 'chg:' .. r[3], id)
    redis.call('ZREM', P .. 'room:' .. r[3], id)
  end
  if r[4] == 'room' then
    -- The events stream's entries that hold a room post's text (as a delete takes them):
    -- the stream keeps an hour, a retention may be shorter.
    local held = redis.call('HGET', k, 'se')
    if held then
      for stream, entry in string.gmatch(held, '(%S+) (%S+)') do redis.call('XDEL', stream, entry) end
    end
  end
  redis.call('DEL', k)
  redis.call('ZREM', P .. 'kept', id)
end
return #doomed
""")

# --- After delivered (issue 13): edits, deletes, read marks, the receipts switch ------------
# A message's hash gains ``e`` (when its sender last edited or deleted it) and ``d`` ('1':
# deleted, its ``t`` is ""); ``chg:<key>`` holds the ids of the messages to ``<key>`` whose
# latest change it has not confirmed; ``read:<reader>`` maps a peer's key to the msg_id the
# reader has seen its messages up to; ``rcptoff`` is the set of users with receipts off.

# ARGV: P, msg id, sender key ('*', no user's key, for anyone's: a moderator's delete), '1' and the new text
# (an edit) or '0' and '' (a delete), now, window, the keys of the rooms whose posts an edit may
# change, one a line ('*': any; may_post_in), the events stream ('' but in a cluster), its
# length and an entry's head (cluster/bus.py room_post_change_head), the time (Unix seconds,
# '': none) past which Redis must not run it: {'late', false} then, nothing changed
# (RedisStore.change_message_announced: its store answered ``unavailable`` by then, and a
# newer change may have been made since); the default room's key, and the versions of the
# rooms the change was decided on ('': none, one store), one "<room key> <version>" a line;
# then the keys of those who are not told (quiet_for). As mailbox.change_message, and in a
# cluster, a room post's edit or a moderator's delete whose room is among those versions
# (its own for a post without recipient: the default room) is made only at that version,
# as SAVE_ROOM_VERSIONED stores a room's change: else {'stale', the room's key, its record
# or false, its version}, nothing changed (the node takes the room as it is and decides
# again: a right taken away through another node is gone at once, not when this node reads
# of it). A direct message's change reads no version. A named room's post goes to the
# room's change log ``rchg:<room key>`` (ids scored by the time of their last change, the
# newest const.ROOM_BACKLOG_LIMIT kept) instead of a recipient's ``chg:``. In a cluster a
# room's post changed (the default room's too) is put on the events stream in the same step
# (bus.RoomPostChangeStored: the head, then the post's fields as the change left them): a
# change stored is told to every node's members whatever becomes of the node that made it
# (the chaos run, cluster seed 943: a node cut off from Redis and killed once the store
# answered lost the entry it was to put afterwards). An edit's entry holds the text, so it
# is noted in ``se`` as the post's own entry is.
CHANGE = _script(JSON_STRING_FUNCTION + r"""
if ARGV[12] ~= '' then
  local t = redis.call('TIME')
  if tonumber(t[1]) + tonumber(t[2]) / 1000000 > tonumber(ARGV[12]) then return {'late', false} end
end
local id = ARGV[2]
local k = mkey(id)
local r = hmget(k, 'sk', 'rk', 'd', 't', 'at', 'st', 'e')
-- No recipient: the default room's post (a 'room' without one), else no such message.
if not r[2] and (not r[1] or r[6] ~= 'room') then return {'unknown', false} end
local anyone = ARGV[3] == '*'
if not anyone and r[1] ~= ARGV[3] then return {'forbidden', row(id)} end
local edit = ARGV[4] == '1'
if r[3] == '1' then
  if edit then return {'gone', false} end
  return {'unchanged', row(id)}
end
if edit and ARGV[5] == r[4] then return {'unchanged', row(id)} end
if ARGV[14] ~= '' and r[6] == 'room' then
  local rk = r[2] or ARGV[13]
  local versions = '\n' .. ARGV[14] .. '\n'
  local at = string.find(versions, '\n' .. rk .. ' ', 1, true)
  if at then
    local now = redis.call('HGET', P .. 'roomv', rk) or '0'
    if now ~= string.match(versions, '^(%%d+)', at + #rk + 2) then
      return {'stale', rk, redis.call('HGET', P .. 'rooms', rk) or false, now}
    end
  end
end
if edit and ARGV[8] ~= '*' and r[6] == 'room'
    and not string.find('\n' .. ARGV[8] .. '\n', '\n' .. (r[2] or '%(default_slot)s') .. '\n', 1, true) then
  return {'barred', row(id)}
end
if not anyone and tonumber(ARGV[6]) - tonumber(r[5]) > tonumber(ARGV[7]) then return {'too_late', false} end
-- Stamped after the message's last change (mailbox.change_time): another node's clock, or
-- this one's, may be behind the one that made it; '%%.17g' keeps every bit of the sum.
local at = ARGV[6]
if r[7] and tonumber(at) <= tonumber(r[7]) then at = string.format('%%.17g', tonumber(r[7]) + %(step)r) end
if edit then
  redis.call('HSET', k, 't', ARGV[5], 'e', at)
else
  redis.call('HSET', k, 't', '', 'e', at, 'd', '1')
  -- The stream entries that hold the post's text (its own, an edit's): removed with it.
  local held = redis.call('HGET', k, 'se')
  if held then
    for stream, entry in string.gmatch(held, '(%%S+) (%%S+)') do redis.call('XDEL', stream, entry) end
    redis.call('HDEL', k, 'se')
  end
end
if r[6] == 'room' and ARGV[9] ~= '' then
  local t = edit and ARGV[5] or ''
  local eid = redis.call('XADD', ARGV[9], 'MAXLEN', '~', ARGV[10], '*', 'e', ARGV[11]
    .. '"room":' .. json_string(r[2] or '') .. ',"msg_id":' .. id .. ',"sender":' .. json_string(hmget(k, 's')[1])
    .. ',"sender_key":' .. json_string(r[1]) .. ',"text":' .. json_string(t) .. ',"at":' .. at
    .. ',"deleted":' .. (edit and 'false' or 'true') .. '}')
  if edit then
    local held = redis.call('HGET', k, 'se')
    redis.call('HSET', k, 'se', (held and (held .. '\n') or '') .. ARGV[9] .. ' ' .. eid)
  end
end
if r[6] == 'room' and not r[2] then return {'changed', row(id)} end  -- the default room: no log
if r[6] == 'room' then
  local log = P .. 'rchg:' .. r[2]
  redis.call('ZADD', log, at, id)
  redis.call('ZREMRANGEBYRANK', log, 0, -(%(room_changes)d + 1))
  return {'changed', row(id)}
end
-- Both users' logs of changed direct messages, by when (DM_CHANGES): the newest kept.
for _, who in ipairs({r[1], r[2]}) do
  local log = P .. 'dchg:' .. who
  redis.call('ZADD', log, at, id)
  redis.call('ZREMRANGEBYRANK', log, 0, -(%(dm_changes)d + 1))
end
local quiet = r[6] == 'blocked' or r[6] == 'blocked_expired'
for i = 15, #ARGV do
  if ARGV[i] == r[2] then quiet = true end
end
if not quiet then redis.call('ZADD', P .. 'chg:' .. r[2], id, id) end
return {'changed', row(id)}
""" % {"room_changes": const.ROOM_BACKLOG_LIMIT, "default_slot": DEFAULT_ROOM_SLOT, "step": CHANGE_STEP,
       "dm_changes": const.DM_CHANGES_KEPT})

# ARGV: P, name key, after id, since (seconds), limit. As mailbox.dm_changes: the user's
# direct messages (sent or received, as SINCE shows them) changed after since, with an id
# above after, among those of their log (``dchg:<key>``: the newest DM_CHANGES_KEPT), oldest
# id first, at most limit.
DM_CHANGES = _script(r"""
local me, after, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[5])
local ids = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'dchg:' .. me, '(' .. ARGV[4], '+inf')) do
  if tonumber(id) > after then ids[#ids + 1] = tonumber(id) end
end
table.sort(ids)
local out = {}
for _, n in ipairs(ids) do
  local id = string.format('%d', n)
  local r = hmget(mkey(id), 'sk', 'rk', 'st')
  if r[3] and r[3] ~= 'room' and (r[1] == me or r[2] == me) and r[2] and string.sub(r[2], 1, 1) ~= '#'
      and not ((r[3] == 'blocked' or r[3] == 'blocked_expired') and r[2] == me) then
    out[#out + 1] = row(id)
    if #out >= limit then break end
  end
end
return out
""")

# ARGV: P, name key, limit, upto, since (ms), room keys. As mailbox.room_changes: the posts
# of those rooms the member had (id at most their cursor) changed after their LEFT_AT mark
# (ms), among each room's newest ``limit`` changes; with upto and since (not ''), one
# client's mark (mailbox.SeenMark) instead: posts up to upto in every room, changed after since.
ROOM_CHANGES = _script(r"""
local ck, limit = P .. 'rcur:' .. ARGV[2], tonumber(ARGV[3])
local left = ARGV[5]
if left == '' then left = redis.call('HGET', ck, '%(left)s') end
local out = {}
if not left then return out end
left = tonumber(left) / 1000
for i = 6, #ARGV do
  local c = ARGV[4]
  if c == '' then c = redis.call('HGET', ck, ARGV[i]) end
  if c then
    for _, id in ipairs(redis.call('ZREVRANGEBYSCORE', P .. 'rchg:' .. ARGV[i], '+inf', '(' .. left,
                                   'LIMIT', 0, limit)) do
      if tonumber(id) <= tonumber(c) and redis.call('EXISTS', mkey(id)) == 1 then out[#out + 1] = row(id) end
    end
  end
end
return out
""" % {"left": LEFT_AT})

# ARGV: P, msg id, recipient key, the confirmed change's time ('': the latest). As
# mailbox.confirm_change: a change stamped after that time stays to be told. 1 if it is a
# message to that recipient, else 0.
CONFIRM_CHANGE = _script(r"""
local r = hmget(mkey(ARGV[2]), 'rk', 'e')
if ARGV[4] == '' or not r[2] or tonumber(r[2]) <= tonumber(ARGV[4]) then
  redis.call('ZREM', P .. 'chg:' .. ARGV[3], ARGV[2])
end
if r[1] == ARGV[3] then return 1 end
return 0
""")

# The end of RECORD_READ and RECORD_ROOM_READ, once the message is one the reader may mark:
# reader ARGV[2]'s mark for ARGV[3] (a peer's key or a room's) moves up to message ARGV[4],
# never back. {the mark now, 1 if this moved it}.
_MOVE_READ_MARK = r"""
local k = P .. 'read:' .. ARGV[2]
local before = redis.call('HGET', k, ARGV[3])
if before and tonumber(before) >= tonumber(ARGV[4]) then return {before, 0} end
redis.call('HSET', k, ARGV[3], ARGV[4])
return {ARGV[4], 1}
""".lstrip("\n")

# ARGV: P, reader key, peer key, msg id. {mark or false, 1 if this moved it}.
RECORD_READ = _script(r"""
local r = hmget(mkey(ARGV[4]), 'sk', 'rk', 'st')
if r[1] ~= ARGV[3] or r[2] ~= ARGV[2] or r[3] == 'blocked' or r[3] == 'blocked_expired' then return {false, 0} end
""" + _MOVE_READ_MARK)

# ARGV: P, reader key, peer key.
READ_MARK = _script(r"""
return redis.call('HGET', P .. 'read:' .. ARGV[2], ARGV[3])
""")

# ARGV: P, reader key, room key, msg id. As mailbox.record_room_read: the mark is the room's
# field in ``read:<reader>`` (a room's key starts with "#", a user's never does).
RECORD_ROOM_READ = _script(r"""
local r = hmget(mkey(ARGV[4]), 'rk', 'st')
if r[1] ~= ARGV[3] or r[2] ~= 'room' then return {false, 0} end
""" + _MOVE_READ_MARK)

# ARGV: P, room key, then reader keys. Their marks in that room, in their order (false: none).
ROOM_READ_MARKS = _script(r"""
local out = {}
for i = 3, #ARGV do
  out[#out + 1] = redis.call('HGET', P .. 'read:' .. ARGV[i], ARGV[2])
end
return out
""")

# ARGV: P, name key, '1' (receipts on) or '0' (off); in a cluster, the events stream, the
# switch's entry and the stream's length.
SET_READ_RECEIPTS = _script(r"""
if ARGV[3] == '1' then redis.call('SREM', P .. 'rcptoff', ARGV[2])
else redis.call('SADD', P .. 'rcptoff', ARGV[2]) end
if ARGV[4] then redis.call('XADD', ARGV[4], 'MAXLEN', '~', ARGV[6], '*', 'e', ARGV[5]) end
return 1
""")

# ARGV: P, name key, name, now.
REMEMBER_USER = _script(r"""
redis.call('HSET', P .. 'users', ARGV[2], ARGV[3])
redis.call('HSET', P .. 'seen', ARGV[2], ARGV[4])
return 1
""")

# ARGV: P, owner key, blocked key, '1' to block or '0' to unblock.
SET_BLOCK = _script(r"""
local k = P .. 'blocks:' .. ARGV[2]
if ARGV[4] == '1' then
  redis.call('SADD', k, ARGV[3])
  redis.call('SADD', P .. 'blockers', ARGV[2])
else
  redis.call('SREM', k, ARGV[3])
  if redis.call('SCARD', k) == 0 then redis.call('SREM', P .. 'blockers', ARGV[2]) end
end
return 1
""")

# ARGV: P, owner key.
CLEAR_BLOCKS = _script(r"""
redis.call('DEL', P .. 'blocks:' .. ARGV[2])
redis.call('SREM', P .. 'blockers', ARGV[2])
return 1
""")

# ARGV: P, owner key.
BLOCKED_BY = _script(r"""
return redis.call('SMEMBERS', P .. 'blocks:' .. ARGV[2])
""")

# ARGV: P, name key, name, token hash, epoch, left at ('' while online). 1 if written, 0 if
# the name's holding stored is a newer one, kept: another token under a greater epoch (the
# last message id when its guest took the name, so a later take's is never less) is
# another node's guest taking the name after this holding's, before this node heard of it;
# this save (late, or retried at recovery: relay._save_unsaved_holdings) would undo it.
# Under the same epoch (no message stored between two takes) the later take is the one
# whose guest is online or left later: a name is taken only once its holder left (CLAIM).
SAVE_HOLDING = _script(r"""
local k = P .. 'guest:' .. ARGV[2]
local held = redis.call('HMGET', k, 'token', 'epoch', 'left')
if held[1] and held[1] ~= ARGV[4] then
  local theirs, ours = tonumber(held[2]) or 0, tonumber(ARGV[5])
  if theirs > ours then return 0 end
  if theirs == ours and ARGV[6] ~= '' and (not held[3] or tonumber(held[3]) > tonumber(ARGV[6])) then return 0 end
end
redis.call('HSET', k, 'name', ARGV[3], 'token', ARGV[4], 'epoch', ARGV[5])
if ARGV[6] == '' then redis.call('HDEL', k, 'left') else redis.call('HSET', k, 'left', ARGV[6]) end
redis.call('SADD', P .. 'guests', ARGV[2])
return 1
""")

# ARGV: P, name key, left at ('' while online), and the token hash and epoch of the holding
# it is for. 1 if written, 0 if the name's holding stored is not that one: a late write (a
# node's leaving arriving after its guest took the name anew, or after another node's guest
# took it past the hold) would mark a newer holder, online, as left, and CLAIM could then
# give the name away while they are. Without the token (a caller of old): whatever is stored.
SET_LEFT_AT = _script(r"""
local k = P .. 'guest:' .. ARGV[2]
if ARGV[4] then
  local held = redis.call('HMGET', k, 'token', 'epoch')
  if held[1] ~= ARGV[4] or tonumber(held[2]) ~= tonumber(ARGV[5]) then return 0 end
elseif redis.call('EXISTS', k) == 0 then return 1 end
if ARGV[3] == '' then redis.call('HDEL', k, 'left') else redis.call('HSET', k, 'left', ARGV[3]) end
return 1
""")

# ARGV: P, name key.
HOLDING = _script(r"""
return redis.call('HMGET', P .. 'guest:' .. ARGV[2], 'name', 'token', 'epoch', 'left')
""")

# Lua: ``file_lookalike(lk, key)``: the account ``key`` holds look-alike key ``lk``
# (registry.names.lookalike_key of its name) in ``alook``, unless another account that still
# exists holds it (two accounts that look alike, stored before that rule: the first keeps it).
# A cluster node's CLAIM of a guest name reads it (cluster/scripts.py): a guest may not take,
# on one node, a name that looks like an account's registered on another a moment ago.
_FILE_LOOKALIKE = r"""
local function file_lookalike(lk, key)
  local held = redis.call('HGET', P .. 'alook', lk)
  if not held or (held ~= key and redis.call('EXISTS', P .. 'acct:' .. held) == 0) then
    redis.call('HSET', P .. 'alook', lk, key)
  end
end
"""

# ARGV: P, name key, name, password hash, salt, kdf, created at, '1' when the guest online
# under the name claims it, and the name's look-alike key (filed: _FILE_LOOKALIKE). The
# claim of a name: 1 if this created the account (or it holds this very record already: the
# same name, hash and salt, a resend after an uncertain answer), 0 if it existed, 2 if a guest is online
# under it in the cluster (``who``, cluster/scripts.py, under the same prefix: a guest
# another node welcomed after this node looked; its CLAIM checks ``acct:`` in turn, so of
# the two exactly one wins), {3, the account's name} if it looks like another account's
# (registered on another node a moment ago), {3, the name} if it looks like a guest name
# online in the cluster (``glook``, filed by cluster/scripts.py CLAIM, which reads
# ``alook`` in turn). Then, if given, the node's time now, its guest names' hold (seconds)
# and '1' when the registrant proved it is the guest holding the name (its token): {3, the
# name} also for a look-alike of a guest name held offline (its guest's ``left`` within the
# hold, as CLAIM judges it; not once given up: its token empty), and {2, until when} for
# the name itself held so (not the registrant's): guest names another node's cache may not
# have heard of yet. Alone, there
# is no ``who`` nor ``glook``, and the login desk saw every account, name online and
# holding. None of these checks for the guest online under the name: it took the name already.
SAVE_ACCOUNT = _script(_FILE_LOOKALIKE + r"""
local k = P .. 'acct:' .. ARGV[2]
if redis.call('EXISTS', k) == 1 then
  -- this very record (its name, random salt and hash) already: a resend after an uncertain answer
  local had = redis.call('HMGET', k, 'name', 'pw', 'salt')
  if ARGV[5] ~= '' and had[1] == ARGV[3] and had[2] == ARGV[4] and had[3] == ARGV[5] then return 1 end
  return 0
end
if ARGV[8] ~= '1' and string.sub(redis.call('HGET', P .. 'who', ARGV[2]) or '', 1, 2) == '0|' then return 2 end
local function held_until(key)  -- when the hold of guest name ``key`` ends, if it still runs
  local g = redis.call('HMGET', P .. 'guest:' .. key, 'left', 'token')  -- token '': given up, held by nobody
  local left = g[2] ~= '' and tonumber(g[1])
  if left and left + tonumber(ARGV[11]) > tonumber(ARGV[10]) then return left + tonumber(ARGV[11]) end
end
if ARGV[8] ~= '1' and ARGV[9] then
  local rival = redis.call('HGET', P .. 'alook', ARGV[9])
  local name = rival and rival ~= ARGV[2] and redis.call('HGET', P .. 'acct:' .. rival, 'name')
  if name then return {3, name} end
  local guest = redis.call('HGET', P .. 'glook', ARGV[9])
  local held = guest and guest ~= ARGV[2] and redis.call('HGET', P .. 'who', guest)
  if held then return {3, string.sub(held, 3)} end
  if guest and guest ~= ARGV[2] and ARGV[10] and held_until(guest) then
    return {3, redis.call('HGET', P .. 'guest:' .. guest, 'name')}
  end
end
if ARGV[8] ~= '1' and ARGV[10] and ARGV[12] ~= '1' then
  local until_ = held_until(ARGV[2])
  if until_ then return {2, string.format('%.3f', until_)} end
end
redis.call('HSET', k, 'name', ARGV[3], 'pw', ARGV[4], 'salt', ARGV[5], 'kdf', ARGV[6], 'at', ARGV[7])
redis.call('SADD', P .. 'accts', ARGV[2])
if ARGV[9] then file_lookalike(ARGV[9], ARGV[2]) end
return 1
""")

# ARGV: P, then name key, look-alike key pairs: the accounts a node loaded at its start, filed
# in ``alook`` (_FILE_LOOKALIKE) if they still exist: those stored before ``alook`` was kept.
FILE_LOOKALIKES = _script(_FILE_LOOKALIKE + r"""
for i = 2, #ARGV - 1, 2 do
  if redis.call('EXISTS', P .. 'acct:' .. ARGV[i]) == 1 then file_lookalike(ARGV[i + 1], ARGV[i]) end
end
return 1
""")

# ARGV: P, name key, password hash, salt, kdf, hex of the credential hash to keep ("":
# none). A password set: the new hash, and every resume credential of the account but
# the kept one forgotten, in one step. 1 if the account exists, 0 (nothing done) if not.
SET_PASSWORD = _script(r"""
local k = P .. 'acct:' .. ARGV[2]
if redis.call('EXISTS', k) == 0 then return 0 end
redis.call('HSET', k, 'pw', ARGV[3], 'salt', ARGV[4], 'kdf', ARGV[5])
local ck = P .. 'credk:' .. ARGV[2]
for _, h in ipairs(redis.call('SMEMBERS', ck)) do
  if h ~= ARGV[6] then
    redis.call('HDEL', P .. 'cred', h)
    redis.call('ZREM', P .. 'credx', h)
    redis.call('SREM', ck, h)
  end
end
return 1
""")

# ARGV: P, name key.
ACCOUNT = _script(r"""
return redis.call('HMGET', P .. 'acct:' .. ARGV[2], 'name', 'pw', 'salt', 'kdf')
""")

# Account resume credentials (server/credentials.py): ``cred`` maps the hex of a
# credential's hash to "name key <TAB> expires at"; ``credx`` scores them by expiry;
# ``credk:<key>`` is the set of one account's, for revoking them all.
# ARGV: P, hash hex, name key, expires at, now. A save forgets those expired by now.
SAVE_CREDENTIAL = _script(r"""
for _, h in ipairs(redis.call('ZRANGEBYSCORE', P .. 'credx', '-inf', ARGV[5])) do
  local v = redis.call('HGET', P .. 'cred', h)
  if v then redis.call('SREM', P .. 'credk:' .. string.match(v, '^([^\t]*)'), h) end
  redis.call('HDEL', P .. 'cred', h)
end
redis.call('ZREMRANGEBYSCORE', P .. 'credx', '-inf', ARGV[5])
redis.call('HSET', P .. 'cred', ARGV[2], ARGV[3] .. '\t' .. ARGV[4])
redis.call('ZADD', P .. 'credx', ARGV[4], ARGV[2])
redis.call('SADD', P .. 'credk:' .. ARGV[3], ARGV[2])
return 1
""")

# ARGV: P, hash hex.
REVOKE_CREDENTIAL = _script(r"""
local v = redis.call('HGET', P .. 'cred', ARGV[2])
if v then redis.call('SREM', P .. 'credk:' .. string.match(v, '^([^\t]*)'), ARGV[2]) end
redis.call('HDEL', P .. 'cred', ARGV[2])
redis.call('ZREM', P .. 'credx', ARGV[2])
return 1
""")

# ARGV: P, name key.
REVOKE_CREDENTIALS = _script(r"""
for _, h in ipairs(redis.call('SMEMBERS', P .. 'credk:' .. ARGV[2])) do
  redis.call('HDEL', P .. 'cred', h)
  redis.call('ZREM', P .. 'credx', h)
end
redis.call('DEL', P .. 'credk:' .. ARGV[2])
return 1
""")

# ARGV: P, epoch, name key, guest name, token hash, left at. An account deleted at its
# owner's request (RedisStore.delete_account, base.MessageStore.delete_account): as
# forget_users, then the account, its credentials, its place among the administrators
# made at a console (``admins``: the name's next holder is someone else), the blocks of it
# by others (found through ``blockers``: one set read per deletion), and the name held by
# a guest holding whose token nobody has. The epoch is the higher of ARGV's and the id
# counter: the node knows only the ids it has seen, and another node may have given a later
# one to a message for her, which ends with the rest (the script is atomic: every id up to
# the counter is stored). Returns {the epoch, what ended, for its senders}.
DELETE_ACCOUNT = _script(_HAND_OVER_FUNCTION + r"""
local key = ARGV[3]
local epoch = math.max(tonumber(ARGV[2]), tonumber(redis.call('GET', P .. 'next') or '0'))
local out = hand_over(epoch, true, {key})
redis.call('DEL', P .. 'acct:' .. key)
redis.call('SREM', P .. 'accts', key)
for _, h in ipairs(redis.call('SMEMBERS', P .. 'credk:' .. key)) do
  redis.call('HDEL', P .. 'cred', h)
  redis.call('ZREM', P .. 'credx', h)
end
redis.call('DEL', P .. 'credk:' .. key)
redis.call('SREM', P .. 'admins', key)
for _, owner in ipairs(redis.call('SMEMBERS', P .. 'blockers')) do
  local k = P .. 'blocks:' .. owner
  if redis.call('SREM', k, key) == 1 and redis.call('SCARD', k) == 0 then redis.call('SREM', P .. 'blockers', owner) end
end
local g = P .. 'guest:' .. key
redis.call('HSET', g, 'name', ARGV[4], 'token', ARGV[5], 'epoch', string.format('%d', epoch), 'left', ARGV[6])
redis.call('SADD', P .. 'guests', key)
return {epoch, out}
""")

# Named rooms (server/rooms.py): ``rooms`` maps a room key to its record (opaque text).
# ARGV: P, room key, '1' and the record to store it, or '0' to forget the room.
SAVE_ROOM = _script(r"""
if ARGV[3] == '1' then redis.call('HSET', P .. 'rooms', ARGV[2], ARGV[4])
else redis.call('HDEL', P .. 'rooms', ARGV[2]) end
return 1
""")

# Missed room messages: ``rcur:<name key>`` maps each room the member is in to the last id
# of it they have had (mailbox.room_backlog). ARGV: P, name key, limit, room keys...
ROOM_BACKLOG = _script(r"""
local ck, limit = P .. 'rcur:' .. ARGV[2], tonumber(ARGV[3])
local msgs, curs = {}, {}
for i = 4, #ARGV do
  local rk = ARGV[i]
  local c = redis.call('HGET', ck, rk)
  local low = '-inf'
  if c then curs[#curs + 1] = rk curs[#curs + 1] = c low = '(' .. c end
  for _, id in ipairs(redis.call('ZREVRANGEBYSCORE', P .. 'room:' .. rk, '+inf', low, 'LIMIT', 0, limit)) do
    msgs[#msgs + 1] = row(id)
  end
end
return {msgs, curs}
""")

# ARGV: P, name key, then room key and last id for each room the member is in now. Without
# a LEFT_AT field among them, the stored one stays (base.py).
SET_ROOM_CURSORS = _script(r"""
local ck = P .. 'rcur:' .. ARGV[2]
local given = false
for i = 3, #ARGV, 2 do
  if ARGV[i] == '%(left)s' then given = true break end
end
local left = not given and redis.call('HGET', ck, '%(left)s')
redis.call('DEL', ck)
if #ARGV > 2 then redis.call('HSET', ck, unpack(ARGV, 3)) end
if left then redis.call('HSET', ck, '%(left)s', left) end
return 1
""" % {"left": LEFT_AT})

# A member joined a room: their cursor of it is the last id given out (mailbox.room_joined).
# ARGV: P, name key, room key. Reply: that id.
ROOM_JOINED = _script(r"""
local id = redis.call('GET', P .. 'next') or '0'
redis.call('HSET', P .. 'rcur:' .. ARGV[2], ARGV[3], id)
return tonumber(id)
""")

# ARGV: P, sender key, request id. The message sent under that request id (its row), or
# nil: what a resend would find (_STORE_BODY), read only (RedisStore.sent_under).
SENT_UNDER = _script(r"""
local id = redis.call('HGET', P .. 'cid:' .. ARGV[2], ARGV[3])
if not id or redis.call('EXISTS', mkey(id)) == 0 then return false end
return row(id)
""")

# ARGV: P. Every named room's record and version (flat HGETALL replies).
ROOMS_VERSIONED = _script(r"""
return {redis.call('HGETALL', P .. 'rooms'), redis.call('HGETALL', P .. 'roomv')}
""")

# ARGV: P.
LAST_ID = _script(r"""
return tonumber(redis.call('GET', P .. 'next') or '0')
""")

SCRIPTS = (STORE, RECEIPT, ACK, CONFIRM_LATE, PAGE, HISTORY, EXPIRE, HAND_OVER, PURGE, REMEMBER_USER,
           SET_BLOCK, CLEAR_BLOCKS, BLOCKED_BY, SAVE_HOLDING, SET_LEFT_AT, HOLDING, SAVE_ACCOUNT, SET_PASSWORD, ACCOUNT,
           LAST_ID, SAVE_CREDENTIAL, REVOKE_CREDENTIAL, REVOKE_CREDENTIALS,
           SAVE_ROOM, CHANGE, CONFIRM_CHANGE, RECORD_READ, READ_MARK, SET_READ_RECEIPTS, ROOM_BACKLOG,
           SET_ROOM_CURSORS, ROOM_CHANGES, ROOM_POST, SAVE_ROOM_VERSIONED, ROOMS_VERSIONED)
SCRIPTS += (RECORD_ROOM_READ, ROOM_READ_MARKS)  # read marks in rooms (issue 13)
SCRIPTS += (UPGRADE,)  # purge without the ``ids`` set (bench/PROFILE.md, "Commands per message")
SCRIPTS += (RECEIPTS, ACKS)  # a turn's receipts, acks: one operation each (bench/PROFILE.md, round five)
SCRIPTS += (STORE_PACKED,)  # a message's fields in one argument (bench/PROFILE.md, "round eight")
SCRIPTS += (RECEIPTS_PACKED, ACKS_PACKED)  # and receipts', acks' (the same)
SCRIPTS += (RESTATE,)  # a cluster's answer recorded when the directory lagged (docs/cluster.md)
SCRIPTS += (ROOM_JOINED,)  # a new membership's cursor, at the join
SCRIPTS += (SENT_UNDER,)  # a refused request's resend, looked up (only when refused)
SCRIPTS += (SINCE,)  # feature since: a user's direct messages after an id, every conversation
SCRIPTS += (ROOM_SAY,)  # a say stored and put on the events stream in one step (cluster)
SCRIPTS += (REFERENCED,)  # forgetting guest names past their hold (server/guests.py)
SCRIPTS += (FORGET_GUESTS,)  # and in a cluster (docs/cluster.md, "Guest names")
SCRIPTS += (DELETE_ACCOUNT,)  # an account deleted at its owner's request (PROTOCOL.md, "unregister")
SCRIPTS += (STORE_PACKED_AFTER,)  # a message stored only behind its predecessor (RedisStore.store_fields)
SCRIPTS += (DM_CHANGES,)  # a device back from away: its user's changed direct messages (PROTOCOL.md)
SCRIPTS += (FILE_LOOKALIKES,)  # accounts by look-alike key, for a cluster's CLAIM (docs/cluster.md)
PACKED = {RECEIPTS: RECEIPTS_PACKED, ACKS: ACKS_PACKED}


# --- One script call for a loop turn's operations ---------------------------------------------
# Every script above becomes one function of BATCH, and a loop turn's operations go to Redis
# as one EVALSHA of BATCH (per BATCH_OPS operations), not one EVALSHA each: for the node,
# each call was one future, one reply and one callback more (function calls per message
# -8.5%, bench/PROFILE.md); Redis's CPU per message did not measurably change (its cost is
# in the commands the scripts run and their append-only file). BATCH runs the operations in the order given,
# each in its own pcall: an operation that fails (a script error, a command Redis refuses)
# is answered its error and the others run, as when each was a call of its own; what a
# failed operation wrote before it failed stays, as it did then.
# ARGV: P, then for each operation: its script's number in SCRIPTS (from 1), the number of
# its arguments, its arguments. Returns one reply per operation (an error reply for one
# that failed).
BATCH_OPS = 256


def _batch_source(scripts: Sequence[Script]) -> str:
    functions = []
    for number, script in enumerate(scripts, 1):
        body = script.source.decode()
        if not body.startswith(_LIB):
            raise ValueError("a store script must be made by _script()")
        # ARGV, the parameter, hides the global: the body reads its own arguments.
        functions.append(f"{'if' if number == 1 else 'elseif'} number == {number} then return function(ARGV)\n"
                         f"{body[len(_LIB):]}\nend\n")
    # A script's function is made when a call first runs one of its operations (make), not
    # every one of them at each call: a call of a turn's stores, receipts and acks makes
    # three closures, not one per script.
    return _LIB + "local function make(number)\n" + "".join(functions) + "end\nend\n" + r"""
local ops = {}
local out, n, i, last = {}, 0, 2, #ARGV
held_routes = new_held()
while i <= last do
  local count, number = tonumber(ARGV[i + 1]), tonumber(ARGV[i])
  local op = ops[number]
  if not op and number then  -- (an unknown number: op stays nil, and pcall answers the error)
    op = make(number)
    ops[number] = op
  end
  local ok, r = pcall(op, {P, unpack(ARGV, i + 2, i + 1 + count)})
  n = n + 1
  if ok then
    if r == nil then r = false end
    out[n] = r
  else
    -- A command's refusal comes as its text ('WRONGTYPE ...', 'OOM ...'); a Lua error
    -- as 'user_script:...': that is an ERR, as Redis says of a script that fails.
    local message = type(r) == 'table' and tostring(r.err) or tostring(r)
    if not string.find(message, '^[A-Z]+ ') then message = 'ERR ' .. message end
    out[n] = {err = message}
  end
  i = i + 2 + count
end
-- The inbox entries of the call's routed messages, one per node, after every operation
-- (what one held before it failed too, as its own XADDs were written before).
write_all_held(held_routes)
return out
"""


BATCH = Script(_batch_source(SCRIPTS))
NUMBERS = {script: number for number, script in enumerate(SCRIPTS, 1)}
