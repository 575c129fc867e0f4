"""The Lua scripts of the cluster's registry and routing: each step is one script, so a
crash of a node (or of Redis) never leaves half of one.

Every script takes the key prefix as ARGV[1] and reaches the keys it needs from it (a
single Redis, not Redis Cluster: see docs/cluster.md). The keys, for prefix ``p``:

    p..'nodes'              set of node ids that joined and were not reaped
    p..'node:'..id          the node's host and pid, for people (until it is reaped)
    p..'fast'               hash: node id -> "host port", its fast path endpoint (fastpath.py)
    p..'fastkey'            the key that seals the fast path's datagrams, set by the first join
    p..'beats'              hash: node id -> its heartbeat's deadline (Redis time, ms)
    p..'clock'              Redis time (ms) of the last heartbeat script any node ran
    p..'who'                hash: user key -> '1|Name' (account) or '0|Name' (guest)
    p..'glook'              hash: look-alike key -> the key of the guest name in ``who`` holding it
    p..'glookof'            hash: that user key -> its look-alike key (to drop the entry with the name)
    p..'where:'..key        hash: session id -> 'node<TAB>address<TAB>port<TAB>since'
    p..'sessions:'..id      hash: session id -> user key, the node's sessions (to reap)
    p..'events'             stream every node reads (bus.py)
    p..'inbox:'..id         the node's inbox stream, consumer group 'node'
    p..'inbox:'..id..':trimmed'  set when an entry was added to that inbox full (inbox_add)
    p..'fails:'..k          login throttle: consecutive wrong passwords of throttle key k
                            ("name@address" or "@address"); expires an hour after the last
    p..'lockout:'..k        login throttle: exists (PX the delay) while k must wait
    p..'admins'             set of accounts made administrators at a node's console

Named rooms' records and versions (``rooms``, ``roomv``) are the store's keys, written by
its scripts (stores/redis_scripts.py SAVE_ROOM_VERSIONED, ROOM_POST), which add their entries
to ``events`` themselves, as ROOM_SAY adds a say's (the default room's message).
"""

from __future__ import annotations

from resp import Script

# How many entries the streams keep (approximately): a node further behind than this
# reloads the registry (events) or finds the messages in the store (inbox: the trim marks
# it, inbox_add, and the node's sessions fetch what waits for them).
EVENTS_MAXLEN = 100_000
INBOX_MAXLEN = 100_000
# How long the events stream keeps an entry (ms), trimmed by every heartbeat (BEAT): its
# entries hold every login's address and port, guests' token hashes and the default
# room's texts, and 100,000 entries are months on a class's server, long past the
# sessions and past the history's retention (docs/privacy.md). No live node needs an
# entry this old: a node's reader is seconds behind at most, and a node that comes back
# to a stream trimmed past what it had read (away an hour) loads the registry again
# (node._missed_events).
EVENTS_KEPT_MS = 3_600_000
# At most this many of them deleted by one beat (a beat is a short step for Redis).
EVENTS_TRIM_BATCH = 1000

# Liveness, shared by JOIN, BEAT and REAP (ARGV[1] the prefix). A node is alive while
# its deadline in 'beats' is not past; each beat moves it to now + ttl. The deadlines are
# plain values, not TTLs, because TTLs run on while Redis is down (and a Redis restarted
# with its data drops the keys whose TTL passed meanwhile): every node would be judged
# dead after an outage that cut all of them off alike. ``heard`` (called first, with the
# silence in ms) therefore moves every deadline on by the time since any node last ran
# one of these scripts when that time is longer than ``silence``: a period in which no
# node could beat (Redis down or paused, or every node's link to it) counts for nobody.
# A node cut off alone is not helped: the others' beats keep the clock going, its
# deadline passes, and they reap it. Returns Redis's time now, in ms.
_LIVENESS = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function heard(p, silence)
  local now = now_ms()
  local last = tonumber(redis.call('GET', p..'clock') or now)
  local gap = now - last
  if gap > tonumber(silence) then
    local beats = redis.call('HGETALL', p..'beats')
    for i = 1, #beats, 2 do
      redis.call('HSET', p..'beats', beats[i], string.format('%.0f', tonumber(beats[i + 1]) + gap))
    end
  end
  redis.call('SET', p..'clock', string.format('%.0f', now))
  return now
end
"""

# Lua: ``json_string(s)``, ``s`` as a JSON string: quotes, backslashes and control
# characters escaped, every other byte as it is (the texts are UTF-8). Not cjson.encode:
# the Lua of some packaged Redis builds has no cjson (Debian 11's redis-server 6.0).
JSON_STRING_FUNCTION = r"""
local function json_string(s)
  return '"' .. (string.gsub(s, '[%c"\\]', function(c) return string.format('\\u%04x', string.byte(c)) end)) .. '"'
end
"""

# ARGV: prefix, node, ttl ms, info, silence ms[, fast path endpoint or '', a new fast path key].
# Heartbeat at start: the node exists from now on. Returns the cluster's fast path key
# (the one given, if none was set), or 1 without one.
JOIN = Script(_LIVENESS + """
local p, node = ARGV[1], ARGV[2]
local now = heard(p, ARGV[5])
redis.call('HSET', p..'beats', node, string.format('%.0f', now + tonumber(ARGV[3])))
redis.call('SET', p..'node:'..node, ARGV[4])
redis.call('SADD', p..'nodes', node)
local inbox = p..'inbox:'..node
if redis.call('EXISTS', inbox) == 0 then
  redis.call('XGROUP', 'CREATE', inbox, 'node', '$', 'MKSTREAM')
end
if ARGV[6] and ARGV[6] ~= '' then redis.call('HSET', p..'fast', node, ARGV[6]) end
if ARGV[7] then
  redis.call('SET', p..'fastkey', ARGV[7], 'NX')
  return redis.call('GET', p..'fastkey')
end
return 1
""")

# ARGV: prefix, node, ttl ms, silence ms. 1: still alive (renewed); 0: the node was
# reaped or its deadline passed (it must drop its sessions and join again).
BEAT = Script(_LIVENESS + """
local p, node = ARGV[1], ARGV[2]
local now = heard(p, ARGV[4])
if redis.call('SISMEMBER', p..'nodes', node) == 0 then return 0 end
local deadline = tonumber(redis.call('HGET', p..'beats', node))
if not deadline or deadline < now then return 0 end
redis.call('HSET', p..'beats', node, string.format('%%.0f', now + tonumber(ARGV[3])))
-- The entries older than EVENTS_KEPT_MS go, exactly (a '~' trim keeps a macro node of the
-- stream whole, which may hold an hour's entries and a new one). Read and deleted, not
-- XTRIM MINID, which Redis 6.0 (Ubuntu 22.04's) lacks; at most EVENTS_TRIM_BATCH a beat,
-- so that a beat stays short (a stream that was let grow is emptied over a few beats).
local old = redis.call('XRANGE', p..'events', '-', string.format('%%.0f', now - %d - 1), 'COUNT', %d)
if #old > 0 then
  local ids = {}
  for i, entry in ipairs(old) do ids[i] = entry[1] end
  redis.call('XDEL', p..'events', unpack(ids))
end
return 1
""" % (EVENTS_KEPT_MS, EVENTS_TRIM_BATCH))

# ARGV: prefix, this node's version (node.py CLUSTER_VERSION), its id. Run before JOIN:
# {'ok', the version found (0: none), live nodes} when the cluster's version
# (``{chat}:version``) is this node's, or none is written and no other node's deadline
# (``beats``) is still to come (then this node's is written: an upgrade once every node
# of the version before stopped, or a first start); {'newer', ...} when the data was
# written by a newer version, which this node may not read; {'older', ...} when nodes of
# an earlier version (or of before this key) still run.
VERSION = Script(_LIVENESS + """
local p, mine = ARGV[1], tonumber(ARGV[2])
local theirs = tonumber(redis.call('GET', p..'version') or '0')
if theirs == mine then return {'ok', theirs, 0} end
if theirs > mine then return {'newer', theirs, 0} end
local now = now_ms()
local live = 0
for _, node in ipairs(redis.call('SMEMBERS', p..'nodes')) do
  local deadline = tonumber(redis.call('HGET', p..'beats', node))
  if node ~= ARGV[3] and deadline and deadline >= now then live = live + 1 end
end
if live > 0 then return {'older', theirs, live} end
redis.call('SET', p..'version', ARGV[2])
return {'ok', theirs, 0}
""")

# ARGV: prefix, an id. Raises the store's message id counter (p..'next', stores/redis.py's
# key: INCR gives the next id) to that id if it is below: a node that finds itself unknown
# to Redis (a rejoin) runs it with the highest id it has seen, since a Redis restarted
# without its data (appendonly no) would give out ids from 1 again, under which the
# recipients' nodes and clients take new messages for ones they already had. The counter
# as it was if raised, else -1.
NEXT_AT_LEAST = Script("""
local k = ARGV[1]..'next'
local n = tonumber(redis.call('GET', k) or '0')
if n < tonumber(ARGV[2]) then
  redis.call('SET', k, ARGV[2])
  return n
end
return -1
""")

# Lua: ``drop_lookalike(p, key)``: the look-alike key the guest name ``key`` filed leaves
# ``glook``, unless another name took the entry over since (also the store's FORGET_GUESTS).
DROP_LOOKALIKE_FUNCTION = """
local function drop_lookalike(p, key)
  local lk = redis.call('HGET', p..'glookof', key)
  if lk then
    redis.call('HDEL', p..'glookof', key)
    if redis.call('HGET', p..'glook', lk) == key then redis.call('HDEL', p..'glook', lk) end
  end
end
"""

# Lua: ``drop_who(p, key)``: the name ``key`` is held by no session any more: it leaves
# ``who``, and its look-alike key leaves ``glook`` (unless another name took the entry over),
# but for a guest name whose holding is kept (``guest:<key>``: held for a while, then
# forgotten by the store's FORGET_GUESTS, which drops the entry): CLAIM reads it while held.
_DROP_WHO = DROP_LOOKALIKE_FUNCTION + """
local function drop_who(p, key)
  redis.call('HDEL', p..'who', key)
  if redis.call('EXISTS', p..'guest:'..key) == 1 then return end
  drop_lookalike(p, key)
end
"""

# ARGV: prefix, node, sid, key, name, shared ('1'/'0'), where value, the 'on' entry, for a
# guest whose token proved its holding, that holding's epoch (else ''), for a guest name its
# look-alike key (registry.names.lookalike_key), and '1' when the name is already the
# session's (a guest resuming with its token, a name claimed again at a rejoin): its key is
# then filed in ``glook`` but refuses nothing, and an entry another name in ``who`` holds
# stays that name's (two look-alikes online at once only after Redis lost its data, each
# holding its name: docs/cluster.md); for a guest taking a name anew, '' there, then the
# node's time now and its guest names' hold (seconds), by which a name whose holder left
# (``guest:<key>``'s ``left``) is held, unless its holder gave it up (its ``token`` empty:
# server/guests.py GIVEN_UP). {'ok', the last
# message id given out} (the store's counter under the same prefix: ids up to it are some
# earlier holder's if the claim takes a guest name, and a welcome says it), 'taken' (someone
# else holds the name), 'registered' (a guest's claim of a name that is an account's: the
# store's ``acct:`` key under the same prefix, written by another node's registration after
# this node looked; its SAVE_ACCOUNT checks ``who`` in turn, so of a guest and a
# registration racing for one name exactly one wins), {'confusable', the account's name} (a
# new guest name that looks like an account's: the store's ``alook`` index,
# stores/redis_scripts.py _FILE_LOOKALIKE), {'confusable', the name} (a new guest name that
# looks like a guest name online on any node: ``glook``, written here and dropped with the
# name, _DROP_WHO: of two guests taking look-alike names at once exactly one is welcomed;
# also one held offline, with the times: one a node whose events reader lags has not heard
# of), {'held', until when} for a new guest name held offline (with the times, as that),
# 'gone' (this node was reaped, or never joined: it must not add sessions, or the reaper
# would never see them), or 'forgotten' (the guest's holding in Redis is not that epoch's: a
# node forgot the name just before, stores/redis_scripts.py FORGET_GUESTS, which forgets no
# name ``who`` holds). A node whose deadline passed but that nobody reaped yet may claim:
# the reaper takes the session too. 'ok' also when ``sid`` holds the name already: a node
# claiming again under the same id after a claim whose reply never came
# (ClusterNode._claim_again).
CLAIM = Script("""
local p, node, sid, key = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local function ok() return {'ok', tonumber(redis.call('GET', p..'next') or '0')} end
if redis.call('HEXISTS', p..'beats', node) == 0 then return 'gone' end
if redis.call('HEXISTS', p..'where:'..key, sid) == 1 then return ok() end
if ARGV[6] ~= '1' and redis.call('EXISTS', p..'acct:'..key) == 1 then return 'registered' end
local again = ARGV[11] == '1'
if ARGV[10] and not again then
  local rival = redis.call('HGET', p..'alook', ARGV[10])
  local name = rival and rival ~= key and redis.call('HGET', p..'acct:'..rival, 'name')
  if name then return {'confusable', name} end
  local guest = redis.call('HGET', p..'glook', ARGV[10])
  local held = guest and guest ~= key and redis.call('HGET', p..'who', guest)
  if held then return {'confusable', string.sub(held, 3)} end
  if ARGV[12] then  -- held offline: its holder left less than the hold ago
    local function held_until(k)  -- when the hold of guest name k ends, if it has not yet
      local g = redis.call('HMGET', p..'guest:'..k, 'left', 'token')  -- token '': given up, held by nobody
      local ends = g[1] and g[2] ~= '' and tonumber(g[1]) + tonumber(ARGV[13])
      return ends and ends > tonumber(ARGV[12]) and ends
    end
    if guest and guest ~= key and held_until(guest) then
      return {'confusable', redis.call('HGET', p..'guest:'..guest, 'name')}
    end
    local ends = held_until(key)
    if ends then return {'held', string.format('%%.3f', ends)} end
  end
end
if ARGV[9] and ARGV[9] ~= '' and tonumber(redis.call('HGET', p..'guest:'..key, 'epoch')) ~= tonumber(ARGV[9]) then
  return 'forgotten'
end
local who = redis.call('HGET', p..'who', key)
if who then
  if ARGV[6] ~= '1' or string.sub(who, 1, 1) ~= '1' then return 'taken' end
else
  redis.call('HSET', p..'who', key, ARGV[6]..'|'..ARGV[5])
  -- An entry left by a name no longer held is taken over (a new name found no other).
  local filed = ARGV[10] and redis.call('HGET', p..'glook', ARGV[10])
  if ARGV[10] and not (filed and filed ~= key and redis.call('HEXISTS', p..'who', filed) == 1) then
    redis.call('HSET', p..'glook', ARGV[10], key)
    redis.call('HSET', p..'glookof', key, ARGV[10])
  end
end
redis.call('HSET', p..'where:'..key, sid, ARGV[7])
redis.call('HSET', p..'sessions:'..node, sid, key)
redis.call('XADD', p..'events', 'MAXLEN', '~', %d, '*', 'e', ARGV[8])
return ok()
""" % EVENTS_MAXLEN)

# ARGV: prefix, node, sid, key, the 'off' entry, and for a guest's session its leaving time
# (the node's, as its cache and its ``holding`` entry hold it: FORGET_GUESTS wants the same).
# If it was the name's last session, that time becomes its holding's ``left`` (the store's
# ``guest:<key>``) in the step the name leaves ``who``: the node runs a RELEASE again until
# Redis does. 1 if the session was registered (and the entry written), 0 if it was not
# (already reaped: its NodeGone said it, and the REAP wrote the guest's leaving).
RELEASE = Script(_DROP_WHO + """
local p, node, sid, key = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('HDEL', p..'where:'..key, sid) == 0 then return 0 end
redis.call('HDEL', p..'sessions:'..node, sid)
if redis.call('EXISTS', p..'where:'..key) == 0 then
  local holding = p..'guest:'..key
  if ARGV[6] and redis.call('EXISTS', holding) == 1 then redis.call('HSET', holding, 'left', ARGV[6]) end
  drop_who(p, key)
end
redis.call('XADD', p..'events', 'MAXLEN', '~', %d, '*', 'e', ARGV[5])
return 1
""" % EVENTS_MAXLEN)

# ARGV: prefix, key. Guest ``key`` registered its name: it may be shared from now on.
REGISTERED = Script("""
local p, key = ARGV[1], ARGV[2]
local who = redis.call('HGET', p..'who', key)
if who then redis.call('HSET', p..'who', key, '1'..string.sub(who, 2)) end
return 1
""")

# Lua: ``guest_left(p, key, now)``: the guest online under ``key`` left at ``now`` (Redis
# time, ms) with its node, which died and cannot say so: its holding (the store's
# ``guest:<key>``) notes the time, so the hold runs from the reap, as from a dropped
# connection on one server, and a ``holding`` entry (bus.HoldingSaved, written here as
# bus.encode writes it) tells every node's cache. Before, the holding stayed "online" for
# good: every node refused the name and its look-alikes for ever, and nothing forgot it.
# A ``left`` the holding has already is an earlier leaving's (``who`` says the guest was
# online): the store's write that the guest was back had been refused, or a reap of a node
# cut off noted one and the node claimed the name again. Kept, it noted nothing (and the
# nodes, told that the guest was back, held the name as online for good).
_GUEST_LEFT = """
local function guest_left(p, key, now)
  local g = p..'guest:'..key
  local h = redis.call('HMGET', g, 'name', 'token', 'epoch')
  if not h[1] then return end
  local left = string.format('%%.3f', now / 1000)
  redis.call('HSET', g, 'left', left)
  local raw = h[2] or ''
  local token = string.format(string.rep('%%02x', #raw), string.byte(raw, 1, -1))  -- hex, in one call
  local epoch = string.format('%%d', tonumber(h[3]) or 0)
  redis.call('XADD', p..'events', 'MAXLEN', '~', %d, '*', 'e', '{"k":"holding","key":' .. json_string(key)
    .. ',"name":' .. json_string(h[1]) .. ',"token_hash":"' .. token .. '","epoch":' .. epoch
    .. ',"left_at":' .. left .. '}')
end
""" % EVENTS_MAXLEN

# ARGV: prefix, silence ms (see _LIVENESS). Every node whose deadline passed (or that
# left: no deadline): its sessions leave the registry (a guest's name with the time it
# left: _GUEST_LEFT), its inbox goes, and one NodeGone entry tells the others. Returns the
# ids reaped.
REAP = Script(_LIVENESS + JSON_STRING_FUNCTION + _DROP_WHO + _GUEST_LEFT + """
local p = ARGV[1]
local now = heard(p, ARGV[2])
local reaped = {}
for _, node in ipairs(redis.call('SMEMBERS', p..'nodes')) do
  local deadline = tonumber(redis.call('HGET', p..'beats', node))
  if not deadline or deadline < now then
    local sessions = redis.call('HGETALL', p..'sessions:'..node)
    for i = 1, #sessions, 2 do
      local key = sessions[i + 1]
      redis.call('HDEL', p..'where:'..key, sessions[i])
      if redis.call('EXISTS', p..'where:'..key) == 0 then
        if string.sub(redis.call('HGET', p..'who', key) or '', 1, 2) == '0|' then guest_left(p, key, now) end
        drop_who(p, key)
      end
    end
    redis.call('DEL', p..'sessions:'..node, p..'inbox:'..node, p..'inbox:'..node..':trimmed', p..'node:'..node)
    redis.call('HDEL', p..'beats', node)
    redis.call('HDEL', p..'fast', node)
    redis.call('SREM', p..'nodes', node)
    redis.call('XADD', p..'events', 'MAXLEN', '~', %d, '*', 'e', '{"k":"gone","node":' .. json_string(node) .. '}')
    reaped[#reaped + 1] = node
  end
end
return reaped
""" % EVENTS_MAXLEN)

# An inbox entry holds the events one script call routes to that node, in their order,
# joined by newlines (an encoded event holds none: JSON escapes a newline in a text), so a
# call's many messages and outcomes for one node are one XADD, one entry for the node's
# XREADGROUP to read (and Redis to write to the append-only file with its XCLAIM, as it
# does for every entry read through a consumer group) and one id to acknowledge and
# delete: the cluster path's round sixteen (bench/PROFILE.md). An entry is written once
# its events reach INBOX_ENTRY_BYTES, so that it stays small (a read's COUNT is of entries).
INBOX_ENTRY_BYTES = 8192

# Lua: the events held for each inbox during one call (``held``: {order = inboxes in the
# order first routed to, events = inbox -> list, size = inbox -> bytes}), and their
# writing, one entry per inbox (``write_all_held``, before the call returns), by
# ``inbox_add``: an inbox holds only what its node has not acknowledged (INBOX_TAKEN
# deletes the rest), so one at INBOX_MAXLEN is a node far behind, whose oldest entries
# the XADD's trim takes unread. Marked (``inbox..':trimmed'``: the time in ms of the
# oldest entry then, the first mark's until taken): GAUGES hands the mark to the node, whose
# sessions fetch from the store what they may have missed since.
HELD_FUNCTIONS = """
local function inbox_add(inbox, entry)
  if redis.call('XLEN', inbox) >= %d then
    local oldest = redis.call('XRANGE', inbox, '-', '+', 'COUNT', 1)[1][1]
    redis.call('SET', inbox .. ':trimmed', string.match(oldest, '^%%d+'), 'NX')
  end
  redis.call('XADD', inbox, 'MAXLEN', '~', %d, '*', 'e', entry)
end
local function new_held() return {order = {}, events = {}, size = {}} end
local function write_held(held, inbox)
  local events = held.events[inbox]
  if #events > 0 then
    inbox_add(inbox, table.concat(events, '\\n'))
    held.events[inbox], held.size[inbox] = {}, 0
  end
end
local function hold(held, inbox, entry)
  local events = held.events[inbox]
  if not events then
    events = {}
    held.events[inbox], held.size[inbox] = events, 0
    held.order[#held.order + 1] = inbox
  end
  events[#events + 1] = entry
  held.size[inbox] = held.size[inbox] + #entry
  if held.size[inbox] >= %d then write_held(held, inbox) end
end
local function write_all_held(held)
  for _, inbox in ipairs(held.order) do write_held(held, inbox) end
end
""" % (INBOX_MAXLEN, INBOX_MAXLEN, INBOX_ENTRY_BYTES)

# The routing rule, of ROUTES and of the store's script (ROUTE_FUNCTION): put ``entry`` in the inbox of every other
# node holding a session of ``key``; return those nodes' ids. Read where the claim writes,
# in one step: a session that logs in after this finds the message in the store. With
# ``held`` (HELD_FUNCTIONS), the entry waits there for the call's end (write_all_held);
# without, it is an entry of its own at once (HELD_FUNCTIONS's inbox_add all the same).
_ROUTE_FUNCTION = """
local function route(p, key, me, entry, held)
  local seen, nodes = {}, {}
  for _, where in ipairs(redis.call('HVALS', p..'where:'..key)) do
    local node = string.match(where, '^[^\\t]*')
    if node ~= me and not seen[node] then
      seen[node] = true
      nodes[#nodes + 1] = node
      if held then
        hold(held, p..'inbox:'..node, entry)
      else
        inbox_add(p..'inbox:'..node, entry)
      end
    end
  end
  return nodes
end
"""

# The same rule for the store's script that stores a direct message and routes it in one
# step (server/stores/redis.py, RedisStore.router): the Lua source of ``route``, which
# needs HELD_FUNCTIONS before it (the store's _LIB has them).
ROUTE_FUNCTION = _ROUTE_FUNCTION

# ARGV: prefix, this node, then key, entry pairs. Many entries routed in one call, in
# their order (a node's routes of one loop turn: one script call instead of one each), the
# call's events for each node in one inbox entry; returns one list of node ids per entry.
ROUTES = Script(HELD_FUNCTIONS + _ROUTE_FUNCTION + """
local out, held = {}, new_held()
for i = 3, #ARGV - 1, 2 do out[#out + 1] = route(ARGV[1], ARGV[i], ARGV[2], ARGV[i + 1], held) end
write_all_held(held)
return out
""")

# ARGV: prefix. The registry as it is, with the events stream's position it matches:
# {last entry id, {key, who value, {sid, where value, ...}}, ...}.
SNAPSHOT = Script("""
local p = ARGV[1]
local last = redis.call('XREVRANGE', p..'events', '+', '-', 'COUNT', 1)
local out = {last[1] and last[1][1] or '0-0'}
local who = redis.call('HGETALL', p..'who')
for i = 1, #who, 2 do
  out[#out + 1] = {who[i], who[i + 1], redis.call('HGETALL', p..'where:'..who[i])}
end
return out
""")

# The login throttle shared by every node (server/accounts.py FailureThrottle's rule, kept
# in Redis so that alternating nodes gains an attacker nothing). ARGV: prefix, op, base ms,
# cap ms, throttle keys... 'check': the milliseconds any key must still wait (0: go ahead);
# 'fail' (the name key first, then its address keys): the k-th count of each key locks it
# out for min(cap, base*2^(k-1)), where the name key counts its consecutive failures and an
# address key the names that failed there (it counts one more only when the name key's
# count starts); 'ok': forgets the keys' counts. Returns 0 but for 'check'.
LOGIN_FAILURES = Script("""
local p, op = ARGV[1], ARGV[2]
local base, cap = tonumber(ARGV[3]), tonumber(ARGV[4])
local wait, new_name = 0, true
for i = 5, #ARGV do
  local f, b = p..'fails:'..ARGV[i], p..'lockout:'..ARGV[i]
  if op == 'check' then
    local left = redis.call('PTTL', b)
    if left > wait then wait = left end
  elseif op == 'fail' then
    local n = tonumber(redis.call('GET', f) or '0')
    if i == 5 or new_name or n == 0 then n = redis.call('INCR', f) end
    if i == 5 then new_name = (n == 1) end
    redis.call('PEXPIRE', f, 3600000 + cap)
    redis.call('SET', b, n, 'PX', math.max(1, math.floor(math.min(cap, base * 2 ^ (n - 1)))))
  else
    redis.call('DEL', f, b)
  end
end
return wait
""")

# ARGV: prefix, node, entry ids... The node took these entries of its inbox in: they are
# acknowledged and deleted in one step, so the inbox keeps only unacknowledged entries (a
# forwarded message's text must not outlive its deletion in an acknowledged entry).
INBOX_TAKEN = Script("""
local inbox = ARGV[1]..'inbox:'..ARGV[2]
local ids = {unpack(ARGV, 3)}
redis.call('XACK', inbox, 'node', unpack(ids))
return redis.call('XDEL', inbox, unpack(ids))
""")

# ARGV: prefix, node. The figures /metrics shows of a node (read once per heartbeat period,
# not per scrape): {nodes whose deadline has not passed, entries in this node's inbox (only
# unacknowledged ones are kept), of them read and not acknowledged, the events stream's
# last id, Redis's time in ms (the node's clock is measured against it: clock.py), and if
# the inbox was full since the last call (the trim may have taken entries the node never
# read) inbox_add's mark, taken (Redis's time in ms of the oldest entry then), else nil}.
GAUGES = Script(_LIVENESS + """
local p, node = ARGV[1], ARGV[2]
local now = now_ms()
local alive = 0
for _, id in ipairs(redis.call('SMEMBERS', p..'nodes')) do
  local deadline = tonumber(redis.call('HGET', p..'beats', id))
  if deadline and deadline >= now then alive = alive + 1 end
end
local inbox = p..'inbox:'..node
local pending = redis.pcall('XPENDING', inbox, 'node')
-- An error (no inbox or group yet: a Redis restarted without its data) is a table too.
if type(pending) ~= 'table' or pending.err then pending = {0} end
local last = '0-0'
local info = redis.pcall('XINFO', 'STREAM', p..'events')
if type(info) == 'table' then
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then last = info[i + 1] end
  end
end
local trimmed = redis.call('GET', inbox .. ':trimmed')
if trimmed then redis.call('DEL', inbox .. ':trimmed') end
return {alive, redis.call('XLEN', inbox), pending[1], last, now, trimmed}
""")


# ARGV: prefix, events stream, msg id, entry, stream length. An events-stream entry that
# holds a room post's text (a say's room entry on a node whose store has no ROOM_SAY):
# added, and noted in the message's hash ('se', as stores/redis_scripts.py's store script
# notes the post's own rpost or room entry, and its CHANGE script an edit's rchanged) so
# that a delete of the post removes it from the stream too. Not added if the post was
# deleted meanwhile (nothing left to tell, and no text to keep). The entry's id, or false.
ROOM_TEXT_ENTRY = Script("""
local k = ARGV[1] .. 'm:' .. ARGV[3]
if redis.call('HGET', k, 'd') == '1' then return false end
local eid = redis.call('XADD', ARGV[2], 'MAXLEN', '~', ARGV[5], '*', 'e', ARGV[4])
if redis.call('EXISTS', k) == 1 then
  local held = redis.call('HGET', k, 'se')
  redis.call('HSET', k, 'se', (held and (held .. '\\n') or '') .. ARGV[2] .. ' ' .. eid)
end
return eid
""")
