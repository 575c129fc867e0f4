"""The Redis store (``--cluster redis://...``): the store interface (base.py) on Redis.

Every asynchronous operation is ONE Lua script, so that no crash (of a node, of Redis)
leaves half an operation behind: storing a message checks its request id, takes the next
message id (``INCR``) and files it in every index in one step; a receipt, an ack, the
expiry pass, a guest name's hand-over and an account's claim are one step each. The
operations submitted during one loop turn go to Redis together, as the SQLite store
groups its commits (acks, which nothing waits for, may ride in a later turn's, as the
SQLite store's ride in its next commit: :meth:`RedisStore._many`): as ONE ``EVALSHA`` of
:data:`BATCH`, a script made of every operation's script as a function, which runs them
in the order given, each in its own ``pcall`` (per :data:`BATCH_OPS` operations; one
pipeline, one round trip). A cluster node may have a direct message routed to its
recipient's nodes by the script that stores it (:attr:`RedisStore.router`).

The contract of base.py, as this store keeps it:

- a callback runs only once Redis has answered the operation's script: with Redis set to
  ``appendonly yes`` and ``appendfsync always`` Redis answers a write after its fsync, so
  "accepted" is then true of the disk. :meth:`open` checks that setting and warns when
  Redis cannot keep the promise (see :func:`durability_warning`);
- answers run in submission order, on the loop, never inside the submitting call. One
  connection carries every operation and Redis runs a connection's commands in order,
  the order the store sends them in: submission order, except that a turn's receipts and
  acks run ahead of the stores they were submitted among (one operation each: see
  :meth:`RedisStore._many`), as base.py allows;
- Redis down or slow: every operation without an answer within ``timeout`` seconds (the
  RESP client's per-command deadline) is answered ``on_error(StoreUnavailable)``, logged
  once by :class:`~server.store.FailureLog`; the RESP client reconnects by itself, and
  the first operation answered afterwards calls ``on_recovered``. An operation whose
  connection broke (or whose answer was late) after it was sent may have run all the
  same (Redis ran it, or runs it once resumed, and the answer was lost): it ran whole or
  not at all, and a client that retries a ``send`` under the same request id is
  recognised as a resend, so nothing is stored twice. Its ``StoreUnavailable`` then has
  ``maybe_done`` (from :func:`resp.may_have_run`): only an operation never written to
  Redis is refused as certainly not done.
  After a Redis restart its script cache is empty: a pipeline answered only ``NOSCRIPT``
  (nothing of it ran) is sent again after ``SCRIPT LOAD``; operations answered
  ``NOSCRIPT`` next to ones that ran are refused (``StoreUnavailable``), never run out of
  order.

The loading operations (``last_msg_id``, ``known_users``, ``blocks``, ``accounts``,
``guest_holdings``, ``receipts_off``) are blocking round trips on a short-lived socket of their own, for
the start (before :meth:`start`). **In a cluster their answers go stale**: another node
registers an account, blocks someone or takes a guest name, and this node's relay caches
do not see it. The cluster's bus carries such changes; a node that hears of one re-reads
the record with :meth:`account`, :meth:`holding` or :meth:`blocked_by` (asynchronous,
with the contract above); the receipts switch (``receipts_off``) has no such re-read
yet (docs/cluster.md, "Limits"). After :meth:`start`, :meth:`last_msg_id` answers the highest
id this store has seen (loaded at open, or given to a message stored through it): a
lower bound in a cluster, where other nodes store messages too (and, on one node, where
messages submitted but not answered yet have ids it does not know); :meth:`highest_msg_id`
asks Redis.

Keys (all share the hash tag of ``prefix``, ``{chat}:`` by default, so that on a Redis
Cluster they live in one slot and a script may touch any of them; a node never keeps a
key's value across operations). ``<id>`` is a message id, ``<key>`` a canonical name:

================================  ======  ==================================================
``{chat}:next``                   string  the last message id given out (``INCR``)
``{chat}:m:<id>``                 hash    one message: ``s`` sender, ``sk`` sender key,
                                          ``r``/``rk`` recipient (absent for the room),
                                          ``t`` text, ``at`` sent at, ``c`` request id,
                                          ``st`` state, ``x`` expires at,
                                          ``e`` edited at, ``d`` 1 once deleted (``t`` ""),
                                          ``se`` the stream entries holding its text (a
                                          room's post in a cluster: _ROOM_POST, _ROOM_SAY);
                                          or ``f``, ``t``, ``st``: a direct message stored
                                          packed holds ``sk s r rk at x c`` in ``f`` (see
                                          _LIB's hmget)
``{chat}:low``, ``{chat}:kept``   string  purge's walk: every id below ``low`` was walked
                                  zset    (gone, or kept in ``kept``: pending or untold)
``{chat}:cid:<key>``              hash    request id -> message id, for resend recognition
``{chat}:pend:<key>``             zset    messages waiting for ``<key>``'s receipt
``{chat}:untold:<key>``           zset    outcomes ``<key>`` has not acknowledged (an
                                          outcome out of it is told)
``{chat}:conv:<n>:<a>:<b>``       zset    direct messages between ``a`` <= ``b`` (``n``:
                                          bytes of ``a``), for history pages
``{chat}:room:<room key>``        zset    a named room's messages (``#redes``), for its
                                          history pages (not in any ``conv``)
``{chat}:rcur:<key>``             hash    room key -> the last id of that room member
                                          ``<key>`` has had (missed messages at login)
``{chat}:exp``                    zset    pending and blocked messages scored by when they expire
                                          (and EXP_HOLDER, no message: a skiplist always)
``{chat}:users``, ``{chat}:seen`` hash    name key -> name; -> last login time
``{chat}:blocks:<key>``           set     whom ``<key>`` blocks (``{chat}:blockers``: who
                                          blocks anyone)
``{chat}:acct:<key>``             hash    an account (``{chat}:accts``: every name key)
``{chat}:guest:<key>``            hash    a guest holding (``{chat}:guests``: every key)
``{chat}:rooms``                  hash    named room key -> its record (server/rooms.py)
``{chat}:roomv``                  hash    named room key -> its version, in a cluster
                                          (_SAVE_ROOM_VERSIONED, _ROOM_POST)
``{chat}:cred``                   hash    account resume credential: hex of its hash ->
                                          name key, tab, expires at (``{chat}:credx``: by
                                          expiry; ``{chat}:credk:<key>``: an account's)
``{chat}:chg:<key>``              zset    messages to ``<key>`` with an edit or delete it
                                          has not confirmed (purge takes them out too)
``{chat}:read:<key>``             hash    peer key -> msg_id ``<key>`` has read up to
``{chat}:rcptoff``                set     who turned read receipts (and typing) off
================================  ======  ==================================================

Sorted sets are scored by message id, so every page (pending, outcomes, history) is a
range by msg_id, and memory is bounded by the same retention as the other stores:
:meth:`purge` deletes what the SQLite store deletes (one script, walking the messages from
the oldest, as the memory store does: those it kept before, then the ids from ``low`` up). Read marks are one field per (reader, peer), as
SQLite's ``reads`` rows are, and ``rcptoff`` one member per user.

A delete blanks ``t`` (``HSET`` to ""), but Redis's append-only file keeps the command that
stored the old text until its next rewrite (``BGREWRITEAOF``); the store starts none (a
copy of the whole data set per delete): see docs/cluster.md, "A deleted message's text".
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import operator
import socket
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from functools import partial
from typing import Any

import const
from protocol import HistoryEntry
from resp import NEED_DATA, Connection, ProtocolError, RedisClient, RedisError, Script, may_have_run, parse_url
from resp.aio import RedisAddress, RedisConnectionError, connection_advice, tls_context

from ..accounts import Account
from ..credentials import Credential
from ..guests import Holding
from ..mailbox import history_entry, since_page  # feature since
from ..mailbox import (DEFAULT_ROOM_SLOT, ID_REUSED, LEFT_AT, NEW, RESEND, ROOM_MESSAGE_STATE, StoredMessage,
                       as_told, same_request)
from ..cluster import trace
from ..cluster.checks import durability_warning
from ..cluster.scripts import HELD_FUNCTIONS, JSON_STRING_FUNCTION, ROUTE_FUNCTION
from ..store import LAZY_SECONDS, FailureLog, StoreUnavailable
from .base import Callback, ErrorCallback

log = logging.getLogger("chat.store")

DEFAULT_PREFIX = "{chat}:"
# Seconds within which Redis must answer an operation, else it is answered unavailable.
DEFAULT_TIMEOUT = 5.0

# Error replies that say Redis could not do the work now (memory, replica, disk, loading),
# which may go away by themselves; any other error reply from a script is a bug.
_STORAGE_ERRORS = ("OOM", "READONLY", "MISCONF", "LOADING", "BUSY", "MASTERDOWN", "NOREPLICAS", "TRYAGAIN",
                   "CLUSTERDOWN")

# --- The scripts ---------------------------------------------------------------------------
# ARGV[1] is always the key prefix. Helpers shared by every script come first (defining
# them costs Redis about 0.4 us per call, measured: the redis.call()s are what count).

_LIB = r"""
local P = ARGV[1]
local function mkey(id) return P .. 'm:' .. id end
-- A direct message's fields that never change once stored, ``sk``, ``s``, ``r``, ``rk``,
-- ``at``, ``x`` and ``c``, are held in ONE field ``f``, joined by tabs in that order (the
-- request id last: it may hold one), when none of the others holds a tab (_STORE_PACKED):
-- a hash of three fields (``f``, ``t``, ``st``), not ten, is fewer fields for Redis to
-- file and fewer arguments for its append-only file to write. A message stored otherwise
-- (before, by _STORE, a room's) has each as a field of its own, and a field of its own
-- wins over ``f`` (_HAND_OVER rewrites ``c``). hmget: HMGET of a message's fields,
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
# _ROOM_POST runs the same body with ``cas`` set (see there; its ARGV 12 on are its own),
# _ROOM_SAY with ``pub`` alone (see there: ARGV 13 on as _ROOM_POST's); _STORE with
# neither. Reply: the new message's id; {1, id, the nodes} if routed;
# {0, the earlier message's row} for a known request id. The body reads its arguments from
# the locals _FIELDS sets (_STORE_PACKED sets them from its own ARGV): extra1 to extra4 are
# ARGV 12 to 15.
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
-- A room's post in a cluster (pub: a named room's, a say) goes on the events stream first,
-- so that its entry ('se': "stream entry-id" lines, for a delete of the post to remove its
-- text from the stream too, _CHANGE) is written with the message's other fields: one HSET,
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
    -- Feature since's index (_SINCE): each user's conversations by their latest id, so
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
    -- A blocked message expires as any unconfirmed one (_EXPIRE), pending for nobody.
    redis.call('ZADD', P .. 'exp', x, id)
  end
end
if not pub and extra1 and (state == 'sent' or state == 'queued') then
  return {1, n, route(extra1, rk, extra2, extra3 .. id .. extra4, held_routes)}
end
-- A new message's id alone, not {1, id}: one reply item, not three, for the node to read.
return n
"""
_STORE = _script(ROUTE_FUNCTION + "local cas, pub, tabless = false, false, false\n" + _FIELDS + _STORE_BODY)
# A named room's message in a cluster (server/roomdesk.py): _STORE's ARGV, then the room's
# version the poster's right was decided on, the events stream, the head of its entry
# (cluster/bus.py room_post_head: the id and "}" complete it) and the stream's length.
# Stored and put on the events stream in one step, only if the room is still at that
# version (its id, as _STORE answers); else {2, the room's record or false, its version} (nothing stored:
# the node decides again on the room as it is). A resend is recognised first ({0, row}).
# ARGV 16: the request id it is stored behind, or '' (_BEHIND).
_ROOM_POST = _script("local cas, pub, tabless = true, true, false\n" + _FIELDS + _STORE_BODY)
# A message of the default room (a ``say``) in a cluster: _STORE's ARGV (no recipient, no
# conversation: the default room keeps no history), then '' (no version: a say is not
# decided on one), the events stream, the head of its entry (cluster/bus.py room_say_head:
# the id and "}" complete it) and the stream's length. Stored and put on the events stream
# in one step, as a named room's post: a say Redis stored is on the stream, whatever
# became of its answer (a resend finds it stored and adds nothing). Replies as _STORE's.
# ARGV 16 as _ROOM_POST's.
_ROOM_SAY = _script("local cas, pub, tabless = false, true, false\n" + _FIELDS + _STORE_BODY)
# _STORE with its arguments packed (RedisStore.store_message sends it when it can): ARGV: P;
# sender key, sender, recipient, recipient key, sent at, state, expires at, conversation
# key and request id in ONE argument, each but the last followed by a tab (none of the
# first eight can hold one: names and keys hold no control character, and the node checks;
# the request id, last, may hold anything); the text; the route's four, if any. Three
# arguments a message, not ten: the node encodes two strings instead of ten (a tenth of
# its store path), and Redis parses two bulk strings instead of ten, for one match here.
# The same body then runs on the same fields as _STORE's: the same commands, keys and
# reply; a direct message's fixed fields are stored in one (``tabless``: see _LIB's hmget).
_PACKED_FIELDS = r"""
local cas, pub, tabless = false, false, true
local sk, s, r, rk, at, state, x, conv, cid = string.match(ARGV[2],
  '^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$')
if not cid then return redis.error_reply('ERR a packed message of the wrong shape') end
"""
_STORE_PACKED = _script(ROUTE_FUNCTION + _PACKED_FIELDS + r"""
local t, extra1, extra2, extra3, extra4, after = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], nil
""" + _STORE_BODY)
# _STORE_PACKED behind a message (_BEHIND; its request id ARGV[3]); the rest one further on.
_STORE_PACKED_AFTER = _script(ROUTE_FUNCTION + _PACKED_FIELDS + r"""
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
_SAVE_ROOM_VERSIONED = _script(r"""
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
_RECEIPT = _script(r"""
return receipt(ARGV[2], ARGV[3], ARGV[4])
""")

# ARGV: P, msg id, sender key. 1 if that key sent the message, else 0 (see ack()).
_ACK = _script(r"""
return ack(ARGV[2], ARGV[3])
""")

# A loop turn's receipts or acks, as ONE operation of the batch each (RedisStore._many):
# ARGV: P, then each one's arguments in turn (receipts: msg id, recipient key, sender key;
# acks: msg id, sender key). One reply per receipt or ack, in order, as the single scripts
# answer. (They run in one pcall: a command Redis refuses stops the rest, and every one is
# answered the error; a receipt or an ack done twice does nothing more, so the relay's
# retry of them is harmless.)
# The replies in one item each, not one item per receipt or ack (for Redis to build and
# the node to parse, _Many.decode): _RECEIPTS answers how many it recorded (a receipt's
# answer is always 1), _ACKS one character per ack, '1' or '0', in order.
_RECEIPTS = _script(r"""
local n = 0
for i = 2, #ARGV, 3 do n = n + receipt(ARGV[i], ARGV[i + 1], ARGV[i + 2]) end
return n
""")
_ACKS = _script(r"""
local out = {}
-- (strings, not the numbers ack() answers: table.concat would format each with sprintf)
for i = 2, #ARGV, 2 do out[#out + 1] = ack(ARGV[i], ARGV[i + 1]) == 1 and '1' or '0' end
return table.concat(out)
""")
# The same two with their arguments in ONE argument, each followed by a tab but the last
# (ids are digits, keys hold no control character; _Many checks): the node joins them in
# one call instead of encoding each, Redis reads them with a pattern (the answers are the
# same; _Many.decode checks their count).
_RECEIPTS_PACKED = _script(r"""
local n = 0
for id, rk, sk in string.gmatch(ARGV[2], '([^\t]*)\t([^\t]*)\t([^\t]*)\t?') do n = n + receipt(id, rk, sk) end
return n
""")
_ACKS_PACKED = _script(r"""
local out = {}
for id, sk in string.gmatch(ARGV[2], '([^\t]*)\t([^\t]*)\t?') do
  out[#out + 1] = ack(id, sk) == 1 and '1' or '0'
end
return table.concat(out)
""")

# ARGV: P, msg id, state (mailbox.restate's rule).
_RESTATE = _script(r"""
local k = mkey(ARGV[2])
local st = redis.call('HGET', k, 'st')
if st == 'sent' or st == 'queued' then redis.call('HSET', k, 'st', ARGV[3]) end
return 1
""")

# ARGV: P, msg id, recipient key.
_CONFIRM_LATE = _script(r"""
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
_PAGE = _script(r"""
local ids = redis.call('ZRANGEBYSCORE', P .. ARGV[2], '(' .. ARGV[3], '+inf', 'LIMIT', 0, ARGV[4])
local out = {}
for i, id in ipairs(ids) do out[i] = row(id) end
return out
""")

# ARGV: P, conversation key, my key, before ('' for none), after, limit.
_HISTORY = _script(r"""
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
# was kept are not found (a catch-up wants recent ones). Reply: {rows as _HISTORY's,
# walked to, top}.
_SINCE = _script(r"""
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
_EXPIRE = _script(r"""
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
# for their senders. Shared by _HAND_OVER and the cluster's _FORGET_GUESTS.
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
               P .. 'peers:' .. key)
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
_HAND_OVER = _script(_HAND_OVER_FUNCTION + r"""
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
_REFERENCED = _script(_REFERENCED_FUNCTION + r"""
local out = {}
for i = 2, #ARGV do
  if referenced(ARGV[i]) then out[#out + 1] = ARGV[i] end
end
return out
""")

# A cluster's forgetting of guest names (server/cluster/node.py, ClusterNode.forget_guests):
# one node at a time, in one step with the checks that make it safe against every other
# node's logins. ARGV: P, epoch (as _HAND_OVER's), the node's id, the lease in ms, the
# events stream, its length, the 'forgot' entry's head (cluster/bus.py: the keys' JSON
# list and "}" complete it), then per name: key, epoch, left at, as the node's cache holds
# its holding. The lease (``forgetter``) is the node's while it renews it within the lease;
# another node's answers {0}. A name is forgotten only if nobody holds it now (``who``: a
# claim made before this step keeps it; one after finds the holding gone, scripts.CLAIM),
# its holding is the one the node saw (no login or leaving since), and no message refers to
# it; the forgotten ones go on the events stream in the same step. Reply: {1, the keys
# forgotten, the rows of what ended (hand_over)}.
_FORGET_GUESTS = _script(_HAND_OVER_FUNCTION + _REFERENCED_FUNCTION + JSON_STRING_FUNCTION + r"""
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
_UPGRADE = _script(_FOLD_IDS + r"""
if redis.call('EXISTS', P .. 'ids') == 0 then redis.call('SETNX', P .. 'low', 1) end
fold_ids()
redis.call('ZADD', P .. 'exp', 'NX', '+inf', '""" + EXP_HOLDER + r"""')
return 1
""")

# ARGV: P, older than, unacknowledged older than ('' for none). As mailbox.purge: each
# bound is cut at the first message sent at or after it, and the newest message stays.
_PURGE = _script(_FOLD_IDS + r"""
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
# change, one a line ('*': any; may_post_in), then the keys of those who are not told
# (quiet_for). As mailbox.change_message. A named room's post goes to the room's change log
# ``rchg:<room key>`` (ids scored by the time of their last change, the newest
# const.ROOM_BACKLOG_LIMIT kept) instead of a recipient's ``chg:``.
_CHANGE = _script(r"""
local id = ARGV[2]
local k = mkey(id)
local r = hmget(k, 'sk', 'rk', 'd', 't', 'at', 'st')
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
if edit and ARGV[8] ~= '*' and r[6] == 'room'
    and not string.find('\n' .. ARGV[8] .. '\n', '\n' .. (r[2] or '%(default_slot)s') .. '\n', 1, true) then
  return {'barred', row(id)}
end
if not anyone and tonumber(ARGV[6]) - tonumber(r[5]) > tonumber(ARGV[7]) then return {'too_late', false} end
if edit then
  redis.call('HSET', k, 't', ARGV[5], 'e', ARGV[6])
else
  redis.call('HSET', k, 't', '', 'e', ARGV[6], 'd', '1')
  -- The stream entries that hold the post's text (its own, an edit's): removed with it.
  local held = redis.call('HGET', k, 'se')
  if held then
    for stream, entry in string.gmatch(held, '(%%S+) (%%S+)') do redis.call('XDEL', stream, entry) end
    redis.call('HDEL', k, 'se')
  end
end
if r[6] == 'room' and not r[2] then return {'changed', row(id)} end  -- the default room: no log
if r[6] == 'room' then
  local log = P .. 'rchg:' .. r[2]
  redis.call('ZADD', log, ARGV[6], id)
  redis.call('ZREMRANGEBYRANK', log, 0, -(%(room_changes)d + 1))
  return {'changed', row(id)}
end
local quiet = r[6] == 'blocked' or r[6] == 'blocked_expired'
for i = 9, #ARGV do
  if ARGV[i] == r[2] then quiet = true end
end
if not quiet then redis.call('ZADD', P .. 'chg:' .. r[2], id, id) end
return {'changed', row(id)}
""" % {"room_changes": const.ROOM_BACKLOG_LIMIT, "default_slot": DEFAULT_ROOM_SLOT})

# ARGV: P, name key, limit, room keys. As mailbox.room_changes: the posts of those rooms
# the member had (id at most their cursor) changed after their LEFT_AT mark (ms), among
# each room's newest ``limit`` changes.
_ROOM_CHANGES = _script(r"""
local ck, limit = P .. 'rcur:' .. ARGV[2], tonumber(ARGV[3])
local left = redis.call('HGET', ck, '%(left)s')
local out = {}
if not left then return out end
left = tonumber(left) / 1000
for i = 4, #ARGV do
  local c = redis.call('HGET', ck, ARGV[i])
  if c then
    for _, id in ipairs(redis.call('ZREVRANGEBYSCORE', P .. 'rchg:' .. ARGV[i], '+inf', '(' .. left,
                                   'LIMIT', 0, limit)) do
      if tonumber(id) <= tonumber(c) and redis.call('EXISTS', mkey(id)) == 1 then out[#out + 1] = row(id) end
    end
  end
end
return out
""" % {"left": LEFT_AT})

# ARGV: P, msg id, recipient key. 1 if it is a message to that recipient, else 0.
_CONFIRM_CHANGE = _script(r"""
redis.call('ZREM', P .. 'chg:' .. ARGV[3], ARGV[2])
if hmget(mkey(ARGV[2]), 'rk')[1] == ARGV[3] then return 1 end
return 0
""")

# ARGV: P, reader key, peer key, msg id. {mark or false, 1 if this moved it}.
_RECORD_READ = _script(r"""
local r = hmget(mkey(ARGV[4]), 'sk', 'rk', 'st')
if r[1] ~= ARGV[3] or r[2] ~= ARGV[2] or r[3] == 'blocked' or r[3] == 'blocked_expired' then return {false, 0} end
local k = P .. 'read:' .. ARGV[2]
local before = redis.call('HGET', k, ARGV[3])
if before and tonumber(before) >= tonumber(ARGV[4]) then return {before, 0} end
redis.call('HSET', k, ARGV[3], ARGV[4])
return {ARGV[4], 1}
""")

# ARGV: P, reader key, peer key.
_READ_MARK = _script(r"""
return redis.call('HGET', P .. 'read:' .. ARGV[2], ARGV[3])
""")

# ARGV: P, reader key, room key, msg id. As mailbox.record_room_read: the mark is the room's
# field in ``read:<reader>`` (a room's key starts with "#", a user's never does).
_RECORD_ROOM_READ = _script(r"""
local r = hmget(mkey(ARGV[4]), 'rk', 'st')
if r[1] ~= ARGV[3] or r[2] ~= 'room' then return {false, 0} end
local k = P .. 'read:' .. ARGV[2]
local before = redis.call('HGET', k, ARGV[3])
if before and tonumber(before) >= tonumber(ARGV[4]) then return {before, 0} end
redis.call('HSET', k, ARGV[3], ARGV[4])
return {ARGV[4], 1}
""")

# ARGV: P, room key, then reader keys. Their marks in that room, in their order (false: none).
_ROOM_READ_MARKS = _script(r"""
local out = {}
for i = 3, #ARGV do
  out[#out + 1] = redis.call('HGET', P .. 'read:' .. ARGV[i], ARGV[2])
end
return out
""")

# ARGV: P, name key, '1' (receipts on) or '0' (off); in a cluster, the events stream, the
# switch's entry and the stream's length.
_SET_READ_RECEIPTS = _script(r"""
if ARGV[3] == '1' then redis.call('SREM', P .. 'rcptoff', ARGV[2])
else redis.call('SADD', P .. 'rcptoff', ARGV[2]) end
if ARGV[4] then redis.call('XADD', ARGV[4], 'MAXLEN', '~', ARGV[6], '*', 'e', ARGV[5]) end
return 1
""")

# ARGV: P, name key, name, now.
_REMEMBER_USER = _script(r"""
redis.call('HSET', P .. 'users', ARGV[2], ARGV[3])
redis.call('HSET', P .. 'seen', ARGV[2], ARGV[4])
return 1
""")

# ARGV: P, owner key, blocked key, '1' to block or '0' to unblock.
_SET_BLOCK = _script(r"""
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
_CLEAR_BLOCKS = _script(r"""
redis.call('DEL', P .. 'blocks:' .. ARGV[2])
redis.call('SREM', P .. 'blockers', ARGV[2])
return 1
""")

# ARGV: P, owner key.
_BLOCKED_BY = _script(r"""
return redis.call('SMEMBERS', P .. 'blocks:' .. ARGV[2])
""")

# ARGV: P, name key, name, token hash, epoch, left at ('' while online).
_SAVE_HOLDING = _script(r"""
local k = P .. 'guest:' .. ARGV[2]
redis.call('HSET', k, 'name', ARGV[3], 'token', ARGV[4], 'epoch', ARGV[5])
if ARGV[6] == '' then redis.call('HDEL', k, 'left') else redis.call('HSET', k, 'left', ARGV[6]) end
redis.call('SADD', P .. 'guests', ARGV[2])
return 1
""")

# ARGV: P, name key, left at ('' while online).
_SET_LEFT_AT = _script(r"""
local k = P .. 'guest:' .. ARGV[2]
if redis.call('EXISTS', k) == 1 then
  if ARGV[3] == '' then redis.call('HDEL', k, 'left') else redis.call('HSET', k, 'left', ARGV[3]) end
end
return 1
""")

# ARGV: P, name key.
_HOLDING = _script(r"""
return redis.call('HMGET', P .. 'guest:' .. ARGV[2], 'name', 'token', 'epoch', 'left')
""")

# ARGV: P, name key, name, password hash, salt, kdf, created at. The claim of a name:
# 1 if this created the account, 0 if it existed.
_SAVE_ACCOUNT = _script(r"""
local k = P .. 'acct:' .. ARGV[2]
if redis.call('EXISTS', k) == 1 then return 0 end
redis.call('HSET', k, 'name', ARGV[3], 'pw', ARGV[4], 'salt', ARGV[5], 'kdf', ARGV[6], 'at', ARGV[7])
redis.call('SADD', P .. 'accts', ARGV[2])
return 1
""")

# ARGV: P, name key, password hash, salt, kdf, hex of the credential hash to keep ("":
# none). A password set: the new hash, and every resume credential of the account but
# the kept one forgotten, in one step. 1 if the account exists, 0 (nothing done) if not.
_SET_PASSWORD = _script(r"""
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
_ACCOUNT = _script(r"""
return redis.call('HMGET', P .. 'acct:' .. ARGV[2], 'name', 'pw', 'salt', 'kdf')
""")

# Account resume credentials (server/credentials.py): ``cred`` maps the hex of a
# credential's hash to "name key <TAB> expires at"; ``credx`` scores them by expiry;
# ``credk:<key>`` is the set of one account's, for revoking them all.
# ARGV: P, hash hex, name key, expires at, now. A save forgets those expired by now.
_SAVE_CREDENTIAL = _script(r"""
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
_REVOKE_CREDENTIAL = _script(r"""
local v = redis.call('HGET', P .. 'cred', ARGV[2])
if v then redis.call('SREM', P .. 'credk:' .. string.match(v, '^([^\t]*)'), ARGV[2]) end
redis.call('HDEL', P .. 'cred', ARGV[2])
redis.call('ZREM', P .. 'credx', ARGV[2])
return 1
""")

# ARGV: P, name key.
_REVOKE_CREDENTIALS = _script(r"""
for _, h in ipairs(redis.call('SMEMBERS', P .. 'credk:' .. ARGV[2])) do
  redis.call('HDEL', P .. 'cred', h)
  redis.call('ZREM', P .. 'credx', h)
end
redis.call('DEL', P .. 'credk:' .. ARGV[2])
return 1
""")

# ARGV: P, epoch, name key, guest name, token hash, left at. An account deleted at its
# owner's request (RedisStore.delete_account, base.MessageStore.delete_account): as
# forget_users, then the account, its credentials, the blocks of it by others (found
# through ``blockers``: one set read per deletion), and the name held by a guest holding
# whose token nobody has; returns what ended, for its senders.
_DELETE_ACCOUNT = _script(_HAND_OVER_FUNCTION + r"""
local key = ARGV[3]
local out = hand_over(tonumber(ARGV[2]), true, {key})
redis.call('DEL', P .. 'acct:' .. key)
redis.call('SREM', P .. 'accts', key)
for _, h in ipairs(redis.call('SMEMBERS', P .. 'credk:' .. key)) do
  redis.call('HDEL', P .. 'cred', h)
  redis.call('ZREM', P .. 'credx', h)
end
redis.call('DEL', P .. 'credk:' .. key)
for _, owner in ipairs(redis.call('SMEMBERS', P .. 'blockers')) do
  local k = P .. 'blocks:' .. owner
  if redis.call('SREM', k, key) == 1 and redis.call('SCARD', k) == 0 then redis.call('SREM', P .. 'blockers', owner) end
end
local g = P .. 'guest:' .. key
redis.call('HSET', g, 'name', ARGV[4], 'token', ARGV[5], 'epoch', ARGV[2], 'left', ARGV[6])
redis.call('SADD', P .. 'guests', key)
return out
""")

# Named rooms (server/rooms.py): ``rooms`` maps a room key to its record (opaque text).
# ARGV: P, room key, '1' and the record to store it, or '0' to forget the room.
_SAVE_ROOM = _script(r"""
if ARGV[3] == '1' then redis.call('HSET', P .. 'rooms', ARGV[2], ARGV[4])
else redis.call('HDEL', P .. 'rooms', ARGV[2]) end
return 1
""")

# Missed room messages: ``rcur:<name key>`` maps each room the member is in to the last id
# of it they have had (mailbox.room_backlog). ARGV: P, name key, limit, room keys...
_ROOM_BACKLOG = _script(r"""
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
_SET_ROOM_CURSORS = _script(r"""
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
_ROOM_JOINED = _script(r"""
local id = redis.call('GET', P .. 'next') or '0'
redis.call('HSET', P .. 'rcur:' .. ARGV[2], ARGV[3], id)
return tonumber(id)
""")

# ARGV: P, sender key, request id. The message sent under that request id (its row), or
# nil: what a resend would find (_STORE_BODY), read only (RedisStore.sent_under).
_SENT_UNDER = _script(r"""
local id = redis.call('HGET', P .. 'cid:' .. ARGV[2], ARGV[3])
if not id or redis.call('EXISTS', mkey(id)) == 0 then return false end
return row(id)
""")

# ARGV: P. Every named room's record and version (flat HGETALL replies).
_ROOMS_VERSIONED = _script(r"""
return {redis.call('HGETALL', P .. 'rooms'), redis.call('HGETALL', P .. 'roomv')}
""")

# ARGV: P.
_LAST_ID = _script(r"""
return tonumber(redis.call('GET', P .. 'next') or '0')
""")

SCRIPTS = (_STORE, _RECEIPT, _ACK, _CONFIRM_LATE, _PAGE, _HISTORY, _EXPIRE, _HAND_OVER, _PURGE, _REMEMBER_USER,
           _SET_BLOCK, _CLEAR_BLOCKS, _BLOCKED_BY, _SAVE_HOLDING, _SET_LEFT_AT, _HOLDING, _SAVE_ACCOUNT, _SET_PASSWORD, _ACCOUNT,
           _LAST_ID, _SAVE_CREDENTIAL, _REVOKE_CREDENTIAL, _REVOKE_CREDENTIALS,
           _SAVE_ROOM, _CHANGE, _CONFIRM_CHANGE, _RECORD_READ, _READ_MARK, _SET_READ_RECEIPTS, _ROOM_BACKLOG,
           _SET_ROOM_CURSORS, _ROOM_CHANGES, _ROOM_POST, _SAVE_ROOM_VERSIONED, _ROOMS_VERSIONED)
SCRIPTS += (_RECORD_ROOM_READ, _ROOM_READ_MARKS)  # read marks in rooms (issue 13)
SCRIPTS += (_UPGRADE,)  # purge without the ``ids`` set (bench/PROFILE.md, "Commands per message")
SCRIPTS += (_RECEIPTS, _ACKS)  # a turn's receipts, acks: one operation each (bench/PROFILE.md, round five)
SCRIPTS += (_STORE_PACKED,)  # a message's fields in one argument (bench/PROFILE.md, "round eight")
SCRIPTS += (_RECEIPTS_PACKED, _ACKS_PACKED)  # and receipts', acks' (the same)
SCRIPTS += (_RESTATE,)  # a cluster's answer recorded when the directory lagged (docs/cluster.md)
SCRIPTS += (_ROOM_JOINED,)  # a new membership's cursor, at the join
SCRIPTS += (_SENT_UNDER,)  # a refused request's resend, looked up (only when refused)
SCRIPTS += (_SINCE,)  # feature since: a user's direct messages after an id, every conversation
SCRIPTS += (_ROOM_SAY,)  # a say stored and put on the events stream in one step (cluster)
SCRIPTS += (_REFERENCED,)  # forgetting guest names past their hold (server/guests.py)
SCRIPTS += (_FORGET_GUESTS,)  # and in a cluster (docs/cluster.md, "Guest names")
SCRIPTS += (_DELETE_ACCOUNT,)  # an account deleted at its owner's request (PROTOCOL.md, "unregister")
SCRIPTS += (_STORE_PACKED_AFTER,)  # a message stored only behind its predecessor (RedisStore.store_fields)
_PACKED = {_RECEIPTS: _RECEIPTS_PACKED, _ACKS: _ACKS_PACKED}


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
_NUMBERS = {script: number for number, script in enumerate(SCRIPTS, 1)}


# --- Decoding replies --------------------------------------------------------------------------


def _versioned(reply: list) -> tuple:
    """_SAVE_ROOM_VERSIONED's reply: ("ok", version), ("changed", record or None, version),
    or ("rival", the look-alike room's key, its record, its version)."""
    if reply[0] == 1:
        return ("ok", int(reply[1]))
    if reply[0] == 3:
        return ("rival", _text(reply[1]), _text(reply[2]), int(reply[3]))
    return ("changed", _text(reply[1]) if reply[1] else None, int(reply[2]))


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8")


def _float(value: bytes | None) -> float | None:
    return None if value is None else float(value)


def _message(row: list) -> StoredMessage:
    """A message from the scripts' ``row()``: id, then the hash's fields."""
    (msg_id, sender, sender_key, recipient, recipient_key, text, sent_at, client_id, state, expires_at,
     edited_at, deleted) = row
    return StoredMessage(int(msg_id), _text(sender), _text(sender_key), _text(recipient), _text(recipient_key),
                         _text(text), float(sent_at), _text(client_id), _text(state), _float(expires_at),
                         _float(edited_at), deleted == b"1")




def _messages(rows: list) -> list[StoredMessage]:
    return [_message(row) for row in rows]


def _forgotten(reply: list) -> tuple[list[str], list[StoredMessage]] | None:
    """_FORGET_GUESTS's reply, read (RedisStore.forget_guests)."""
    return None if reply[0] == 0 else ([_text(key) for key in reply[1]], _told(reply[2]))


def _told(rows: list) -> list[StoredMessage]:
    """Messages as their senders are told of them (mailbox.as_told), by msg_id."""
    return sorted((as_told(_message(row)) for row in rows), key=lambda m: m.msg_id)


def room_posts_key(prefix: str, room_key: str) -> str:
    """The key of named room ``room_key``'s messages (room keys start with ``#``)."""
    return f"{prefix}room:{room_key}"


def conversation_key(prefix: str, a: str, b: str) -> str:
    """The key of the conversation between ``a`` and ``b`` (in either order)."""
    if b < a:
        a, b = b, a
    return f"{prefix}conv:{len(a.encode())}:{a}:{b}"


def _refusal(address: RedisAddress, reply: RedisError, otherwise: str) -> StoreUnavailable:
    """Why the loading operations cannot go on, in words an operator can act on:
    ``otherwise`` unless Redis wants a password (``NOAUTH``) or is a replica (``READONLY``)."""
    if reply.code == "NOAUTH":
        return StoreUnavailable(
            f"Redis at {address} wants a password: give it in the URL, redis://:PASSWORD@host:port/db "
            f"(redis://USER:PASSWORD@... for an ACL user), in CLUSTER_URL in const_local.py rather than on the "
            f"command line, where every user of this machine can read it (docs/privacy.md)", storage=False)
    if reply.code == "READONLY":
        return StoreUnavailable(f"Redis at {address} is a read-only replica: give the primary's address",
                                storage=False)
    return StoreUnavailable(otherwise, storage=False)


def replica_of(role: Any) -> str | None:
    """``host:port`` of the primary when ``role`` (ROLE's reply) is a replica's, else None."""
    if isinstance(role, list) and len(role) >= 3 and role[0] in (b"slave", b"replica"):
        return f"{_text(role[1])}:{int(role[2])}"
    return None


def _unanswered(address: RedisAddress, exc: OSError, *, handshake: bool = False) -> StoreUnavailable:
    """The refusal for a first exchange with Redis (the TLS handshake, AUTH, SELECT, ROLE)
    that failed for ``exc``, in one line that says what to change when that can be told
    (:func:`resp.aio.connection_advice`): nobody fixes a TLS setting from ``EOF occurred
    in violation of protocol``."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        what = f"Redis at {address} is not who it says (TLS): {exc.verify_message}"
    elif isinstance(exc, ssl.SSLError) and not isinstance(exc, ssl.SSLEOFError):
        what = f"TLS with Redis at {address} failed: {exc}"
    else:
        what = f"Redis at {address} did not answer: {exc or type(exc).__name__}"
    advice = connection_advice(address, exc, handshake=handshake)
    # Refusals of TLS (a certificate, an alert) stay until someone changes a setting.
    storage = not isinstance(exc, ssl.SSLError) or isinstance(exc, ssl.SSLEOFError)
    return StoreUnavailable(f"{what}; {advice}" if advice else what, storage=storage)


class _BlockingConnection:
    """A short blocking round trip on a socket of its own: the loading operations at the
    start, before the event loop's client runs (the same sans-I/O core)."""

    def __init__(self, address: RedisAddress, timeout: float) -> None:
        self.address = address
        try:
            self.sock = socket.create_connection((address.host, address.port), timeout=timeout)
        except OSError as exc:
            raise StoreUnavailable(f"cannot reach Redis at {address}: {exc}") from exc
        self.core = Connection()
        handshake = False
        try:
            context = tls_context(address)  # checked readable at start (chatserver.py)
            if context is not None:
                handshake = True
                self.sock = context.wrap_socket(self.sock, server_hostname=address.host)
                handshake = False
            greeting = []
            if address.password is not None:
                greeting.append(("AUTH", address.username, address.password) if address.username
                                else ("AUTH", address.password))
            if address.db:
                greeting.append(("SELECT", address.db))
            for reply in self._pipeline(greeting):
                if isinstance(reply, RedisError):
                    raise _refusal(address, reply, f"Redis at {address} refused the connection: {reply}")
        except OSError as exc:
            self.sock.close()
            raise _unanswered(address, exc, handshake=handshake) from exc
        except BaseException:
            self.sock.close()
            raise

    def answers(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """The replies, in order, an error reply as a value (:class:`RedisError`); raises
        :class:`StoreUnavailable` if Redis does not answer in time, in the words of
        :func:`_unanswered` (TLS 1.3 tells a missing client certificate at the first
        exchange, and a TLS port spoken to in plain text closes at the first command)."""
        try:
            return self._pipeline(commands)
        except OSError as exc:
            raise _unanswered(self.address, exc) from exc
        except ProtocolError as exc:
            raise StoreUnavailable(f"Redis at {self.address} did not answer: {exc}") from exc

    def pipeline(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """The replies, in order; raises :class:`StoreUnavailable` if Redis does not
        answer in time (:meth:`answers`) or answers an error (the loading operations
        cannot do without)."""
        replies = self.answers(commands)
        for reply in replies:
            if isinstance(reply, RedisError):
                raise _refusal(self.address, reply, f"Redis at {self.address} answered: {reply}")
        return replies

    def _pipeline(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        for command in commands:
            self.core.send_command(list(command))
        if not commands:
            return []
        try:
            self.sock.sendall(self.core.data_to_send())
        except ssl.SSLEOFError:
            # TLS 1.3: Redis's refusal of this side (its certificate missing or not trusted)
            # comes after the handshake, as an alert and a close; a write that meets the
            # close first says only EOF. The alert is still there to read, and says why.
            self.sock.recv(1)
            raise
        replies = []
        while len(replies) < len(commands):
            item = self.core.next_reply()
            if item is NEED_DATA:
                data = self.sock.recv(65536)
                self.core.receive_data(data)
                if not data and self.core.next_reply() is NEED_DATA:
                    raise ConnectionError("Redis closed the connection")
                continue
            replies.append(item[1])
        return replies

    def call(self, *args: Any) -> Any:
        return self.pipeline([args])[0]

    def close(self) -> None:
        self.sock.close()


class _Operation:
    """One operation: ``command`` is its part of a BATCH call (its script's number, its
    number of arguments, its arguments: ``size`` bulk strings in RESP). ``reply`` is set
    when its pipeline is answered, for RedisStore._answer_ready to answer it in its place."""

    __slots__ = ("command", "size", "decode", "callback", "on_error", "reply")

    def __init__(self, command: bytes, size: int, decode: Callable[[Any], Any] | None,
                 callback: Callback | None, on_error: ErrorCallback | None) -> None:
        self.command, self.size, self.decode = command, size, decode
        self.callback, self.on_error = callback, on_error


# At most this many receipts or acks in one operation (_Many): bounds the encodings kept
# per argument count (RedisStore._command) to this many per script.
MANY_OPS = 32


class _Many:
    """A loop turn's receipts (or acks), as ONE operation of the BATCH call: its script
    (_RECEIPTS, _ACKS) runs each in turn and answers them all in one reply item (see
    there). Saves the node an operation's encoding, bookkeeping and answer per receipt or
    ack, and Redis a function call and its argument table. Their callbacks and on_errors
    are kept in their places in the turn's submission order (RedisStore._submitted), not
    here. ``decode`` makes the reply an iterator of their answers, in their order: None
    for each receipt, True or False for each ack (``kind`` is None for receipts, ``bool``
    for acks); once the pipeline is answered, ``answers`` is that iterator, or the
    StoreUnavailable that refuses them all."""

    __slots__ = ("_store", "script", "width", "args", "count", "_kind", "_encoded", "answers")

    def __init__(self, store: "RedisStore", script: Script, width: int, kind: Callable[[Any], Any] | None) -> None:
        self._store, self.script, self.width, self._kind = store, script, width, kind
        self.args: list[Any] = []
        self.count = 0  # receipts or acks joined
        self._encoded: tuple[int, bytes] | None = None  # see _encode

    def joined(self) -> str | None:
        """The arguments in one, a tab between each two (_PACKED's scripts), or None if one
        of them holds a tab (each goes as an argument of its own then)."""
        joined = "\t".join(map(str, self.args))
        return joined if joined.count("\t") == len(self.args) - 1 else None

    def _encode(self) -> tuple[int, bytes]:
        """(``size``, ``command``), made once for both (RedisStore._many forgets them when
        it adds arguments). The joined form is filled into its script's form at once
        (_MANY_HEADS), not through ``_command``'s loop and look-up (bench/PROFILE.md, the
        cluster path's round eleven)."""
        joined = self.joined()
        if joined is not None:
            self._encoded = (3, _MANY_HEADS[self.script] + _bulk(joined))
        else:
            self._encoded = (2 + len(self.args), self._store._command(self.script, self.args))
        return self._encoded

    @property
    def size(self) -> int:
        return (self._encoded or self._encode())[0]

    @property
    def command(self) -> bytes:
        return (self._encoded or self._encode())[1]

    def decode(self, reply: Any) -> Iterator[Any]:
        """The script's reply, checked to hold one answer per receipt or ack (else
        ValueError: all are refused), as an iterator of their answers: None for each of
        _RECEIPTS's count, True or False for each of _ACKS's bytes ('1' or '0')."""
        # (Iterators made in C, not a list built per operation: _NONE_EVER is endless and
        # holds no state, each receipt takes one answer of it.)
        count = self.count
        if self._kind is None:
            if reply.__class__ is not int or reply != count:
                raise ValueError(f"{reply!r:.80} for {count} receipts")
            return _NONE_EVER
        if reply.__class__ is not bytes or len(reply) != count or reply.strip(b"01"):
            raise ValueError(f"{reply!r:.80} for {count} acks")
        return map(_IS_ONE, reply)


# _Many.decode's answers: a receipt's None, an ack's byte compared with b"1".
_NONE_EVER = itertools.repeat(None)
_IS_ONE = (49).__eq__


# A message's fields after its id, read in one call (store_message gives them to store_fields).
_AFTER_ID = operator.attrgetter(*(f.name for f in dataclasses.fields(StoredMessage)[1:]))


def _bulk(arg: str | bytes | int) -> bytes:
    data = arg if arg.__class__ is bytes else (arg if arg.__class__ is str else str(arg)).encode()
    return b"$%d\r\n%b\r\n" % (len(data), data)


# What RedisStore._command puts before a joined operation's one argument, by its script
# (the packed script's number, the count 1), for _Many._encode to add the argument to.
_MANY_HEADS = {script: _bulk(_NUMBERS[packed]) + _bulk(1) for script, packed in _PACKED.items()}


def _has_failed(replies: Awaitable[list[Any]]) -> bool:
    """Whether the pipeline whose ``replies`` these are (what RedisClient.pipeline_now
    returned, or a future the store failed itself) has failed already, before the task
    awaiting it woke. A pipeline not yet handed to the connection (pipeline_now's
    coroutine, when too many commands were in flight) has not."""
    if isinstance(replies, asyncio.Future):
        return replies.done() and not replies.cancelled() and replies.exception() is not None
    failed = getattr(replies, "failed", None)
    return failed is not None and failed()


class RedisStore:
    """See the module docstring and base.py for the contract of every method."""

    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url
        self.address = parse_url(url)
        self.prefix = prefix
        self.timeout = timeout
        self.on_recovered: Callable[[], None] | None = None
        # A cluster node's (server/cluster/node.py): router(fields) for a direct message
        # about to be stored (its fields after the id, as store_fields takes them) gives
        # (its key prefix, its id, its inbox entry's text before and after the message id)
        # to route the message in the store's own script call, or None to route it itself
        # afterwards; routed is (msg id, the nodes it went to) while the callback of a
        # message routed so runs, else None.
        self.router: Callable[[tuple], tuple[str, str, bytes, bytes] | None] | None = None
        self.routed: tuple[int, list[str]] | None = None
        self.failures = FailureLog()
        self._client: RedisClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_msg_id = 0
        # Operations submitted this loop turn, in the order they run (sent together at its
        # end: _send), and the turn's submissions in the order they are answered: an
        # operation, or (its _Many, callback, on_error) for a receipt or an ack (_many).
        self._queued: list[_Operation | _Many] = []
        self._submitted: list[_Operation | tuple] = []
        # The turn's receipts and acks operations still open to more (_many), and where in
        # _queued the next of each goes.
        self._receipts: _Many | None = None
        self._acks: _Many | None = None
        self._stop_joining()
        self._scheduled = False
        # Lazy acks (_many): a turn that submitted only acks sends nothing at its end
        # (_scheduled stays False); they ride in the next pipeline that something else
        # starts, or go by themselves after LAZY_SECONDS (this timer).
        self._lazy_timer: asyncio.TimerHandle | None = None
        # Pipelines in flight, oldest first: (operations as they ran, submissions, task,
        # the pipeline's replies); or, refused unsent (_send), (operations, submissions,
        # None, the StoreUnavailable to answer them with). Answers run from the front.
        self._batches: deque[tuple[list, list, asyncio.Task | None, Any]] = deque()
        self._heads: dict[tuple[Script, int], bytes] = {}  # see _command
        # _command's form of _STORE_PACKED's two arguments, for store_fields to fill at once.
        self._store_form = (_bulk(_NUMBERS[_STORE_PACKED]) + _bulk(2)) + b"$%d\r\n%b\r\n" * 2
        self._store_after_form = (_bulk(_NUMBERS[_STORE_PACKED_AFTER]) + _bulk(3)) + b"$%d\r\n%b\r\n" * 3
        # Order in a conversation (store_fields): by (sender key, conversation key), the
        # request id of the sender's latest message submitted and the number of the
        # pipeline it goes in; pipelines made (_send: sent, or refused unsent) and
        # answered (_answer_ready) so far. Emptied whenever nothing is in flight.
        self._latest: dict[tuple[str, str], tuple[str, int]] = {}
        self._pipelines_made = 0
        self._pipelines_answered = 0
        self._batch_head = b"".join([_bulk("EVALSHA"), _bulk(BATCH.sha1), _bulk(0), _bulk(prefix)])  # see _call
        self._bugs_logged: set[str] = set()  # script errors already logged
        self._traced: dict[int, tuple] = {}  # bench-only (cluster/trace.py): operation -> its message
        self._drain_waiters: list[asyncio.Future] = []  # see drain

    # --- Lifecycle ------------------------------------------------------------------------

    def _blocking(self) -> _BlockingConnection:
        return _BlockingConnection(self.address, self.timeout)

    def open(self) -> None:
        """Check that Redis answers (raises :class:`StoreUnavailable` if not), load the
        scripts, say how durable it is, and read the last message id."""
        conn = self._blocking()
        try:
            self._check_role(conn)
            conn.call("SCRIPT", "LOAD", BATCH.source)
            self._upgrade(conn)
            self._check_durability(conn)
            self._last_msg_id = int(conn.call("GET", self.prefix + "next") or 0)
        finally:
            conn.close()

    def _check_role(self, conn: _BlockingConnection) -> None:
        """Refuse a replica (its writes fail, or are lost at its next sync) in one line
        that says what to give instead. The first command, and a short one: a Redis that
        wants a password answers it ``NOAUTH`` (_refusal), where the scripts' long SCRIPT
        LOAD would only get "Protocol error: unauthenticated bulk length". A Redis that
        does not let this user run ROLE (an ACL without @admin) is not refused for it: a
        replica's READONLY at the upgrade says the same."""
        role = conn.answers([("ROLE",)])[0]  # without AUTH, the first exchange (TLS 1.3's alerts come then)
        if isinstance(role, RedisError):
            if role.code == "NOAUTH":
                raise _refusal(self.address, role, "")
            return
        primary = replica_of(role)
        if primary is not None:
            raise StoreUnavailable(f"Redis at {self.address} is a replica (of {primary}), not the primary: "
                                   f"give the primary's address", storage=False)

    def _upgrade(self, conn: _BlockingConnection) -> None:
        """Fold a store of the layout before (its ``ids`` set) into this one (_UPGRADE)."""
        reply = conn.call("EVALSHA", BATCH.sha1, 0, self.prefix, _NUMBERS[_UPGRADE], 0)
        if isinstance(reply[0], RedisError):
            raise _refusal(self.address, reply[0], f"Redis at {self.address} could not upgrade the store: {reply[0]}")

    def _check_durability(self, conn: _BlockingConnection) -> None:
        settings = {}
        for name in ("appendonly", "appendfsync"):
            reply = conn.answers([("CONFIG", "GET", name)])[0]  # an error here is an answer too
            if isinstance(reply, RedisError) or not reply:
                log.warning("cannot read Redis's %s setting (%s): make sure it runs with --appendonly yes "
                            "--appendfsync always, or acknowledged messages can be lost in a crash", name,
                            reply or "no answer")
                return
            settings[name] = reply[1].decode()
        warning = durability_warning(settings["appendonly"], settings["appendfsync"])
        if warning:
            log.warning("%s", warning)
        else:
            log.info("Redis at %s syncs every write before answering (appendfsync always)", self.address)

    def redis_clients(self) -> tuple:
        """The client of the store's operations (after :meth:`start`), for /metrics."""
        return (self._client,) if self._client is not None else ()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._client = RedisClient(self.url, timeout=self.timeout)

    async def drain(self, timeout: float = 10.0) -> None:
        """As base.py says. Woken in the loop turn that answers the last pipeline
        (:meth:`_answer_ready`), not by a poll: a poll every 2 ms left the loop idle up
        to 2 ms after each answer, which the benchmarks' drivers counted as work."""
        if not (self._queued or self._batches):
            return
        if self._queued and not self._scheduled:  # lazy acks: no need to wait for them
            self._schedule_send()
        waiter = self._loop.create_future()
        self._drain_waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:
            pass  # as before: drain waits at most ``timeout``, then returns
        finally:
            if waiter in self._drain_waiters:
                self._drain_waiters.remove(waiter)

    def _wake_drained(self) -> None:
        """Wake :meth:`drain`'s waiters if nothing is queued or in flight any more."""
        if self._drain_waiters and not (self._queued or self._batches):
            waiters, self._drain_waiters = self._drain_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def close(self) -> None:
        """Answer what is still pending ``unavailable`` (nothing can wait for Redis here:
        call :meth:`drain` first), and close the connection."""
        # In submission order, each with whether it may have run (written to Redis).
        pending: list[tuple[_Operation | tuple, bool]] = []
        for _batch, submitted, task, _replies in self._batches:  # the oldest first, as answers go
            if task is not None:  # (None: refused unsent, not answered yet)
                task.cancel()
            pending += [(entry, task is not None) for entry in submitted]
        self._batches.clear()
        self._latest.clear()
        pending += [(entry, False) for entry in self._submitted]
        self._submitted = []
        self._queued = []
        self._stop_joining()
        self._cancel_lazy()
        failures = {maybe_done: StoreUnavailable("the store is closing", storage=False, maybe_done=maybe_done)
                    for maybe_done in (True, False)}
        for entry, maybe_done in pending:
            self._refuse(entry, failures[maybe_done])
        self._wake_drained()
        if self._client is not None:
            client, self._client = self._client, None
            if self._loop is not None and not self._loop.is_closed():
                if self._loop.is_running():
                    self._loop.create_task(client.close())
                else:
                    self._loop.run_until_complete(client.close())

    # --- The engine: one script call per operation, one pipeline per loop turn -------------

    def _command(self, script: Script, args: tuple) -> bytes:
        """An operation's part of a BATCH call in RESP bytes: its script's number, the
        number of its arguments, its arguments. The first two are encoded once per script
        and length: encoding every argument through the generic encoder cost a third of
        the store's CPU per message."""
        # _bulk's body, inlined (a call per argument was a fifth of the time here), and the
        # whole operation made by ONE %-format per script and length: the head, then
        # "$<length>\r\n<bytes>\r\n" per argument (18% fewer instructions than a format
        # per argument and a join; the head holds no "%").
        # (str first: nearly every argument is one.)
        flat = []
        for arg in args:
            data = arg.encode() if arg.__class__ is str else arg if arg.__class__ is bytes else str(arg).encode()
            flat.append(len(data))
            flat.append(data)
        form = self._heads.get((script, len(args)))
        if form is None:
            if script not in _NUMBERS:  # BATCH is made of SCRIPTS: a script left out cannot run
                raise ValueError("a store script must be listed in SCRIPTS")
            form = self._heads[(script, len(args))] = (_bulk(_NUMBERS[script]) + _bulk(len(args))
                                                       + b"$%d\r\n%b\r\n" * len(args))
        return form % tuple(flat)

    def _call(self, operations: list[Any]) -> bytes:
        """``EVALSHA <BATCH> 0 prefix`` and the parts of ``operations``, in RESP bytes."""
        parts = [b"*%d\r\n" % (4 + sum([operation.size for operation in operations])), self._batch_head]
        parts += [operation.command for operation in operations]
        return b"".join(parts)

    def _submit(self, script: Script, args: tuple, decode: Callable[[Any], Any] | None,
                callback: Callback | None, on_error: ErrorCallback | None, crossable: bool = False) -> None:
        self._enqueue(_Operation(self._command(script, args), 2 + len(args), decode, callback, on_error), crossable)

    def _enqueue(self, operation: _Operation, crossable: bool = False) -> None:
        """Queue ``operation`` for the end of this loop turn (_send). ``crossable``: a
        message's store, which the turn's receipts and acks submitted after it may run
        ahead of (see _many); any other operation runs after every receipt and ack
        submitted before it and before every one submitted after it."""
        self._queued.append(operation)
        self._submitted.append(operation)
        if not crossable:
            self._stop_joining()
        if not self._scheduled:
            self._schedule_send()

    def _schedule_send(self) -> None:
        """Send the queue at the end of this loop turn, the lazy acks in it too."""
        self._cancel_lazy()
        self._scheduled = True
        self._loop.call_soon(self._send)

    def _cancel_lazy(self) -> None:
        if self._lazy_timer is not None:
            self._lazy_timer.cancel()
            self._lazy_timer = None

    def _lazy_due(self) -> None:
        """Lazy acks waited LAZY_SECONDS without a pipeline to ride in: send them."""
        self._lazy_timer = None
        if self._queued and not self._scheduled:
            self._send()

    def _stop_joining(self) -> None:
        """Receipts and acks submitted from now on start new operations, after everything
        queued so far: nothing they run ahead of may come before this point (_many)."""
        self._receipts = self._acks = None
        self._receipts_at = self._acks_at = len(self._queued)

    def _many(self, script: Script, width: int, args: tuple, kind: Callable[[Any], Any] | None,
              callback: Callback | None, on_error: ErrorCallback | None) -> None:
        """Submit one receipt or ack (``script``: _RECEIPTS or _ACKS, ``width`` arguments
        each), joined to the turn's receipts (acks) operation since the last operation that
        is not a message's store (up to MANY_OPS each: then a next one, right after it).
        Answered at its own place in submission order (_answer_ready).

        Where the operations run: the receipts, then the acks, both ahead of the message
        stores submitted among them since that last other operation (base.py's one freedom,
        which says why that is safe; the SQLite store runs its group of receipts and acks
        first likewise: server/store.py, ``Store._execute``). So a resend among those stores
        sees a receipt submitted before it. Any other operation (a page, a late receipt, a
        receipt without its sender's key, an account...) is crossed by none: it runs after
        every receipt and ack submitted before it, and before every one submitted after it.
        Receipts keep their order among themselves, acks theirs, and a turn's BATCH_OPS
        chunks run one after another, so a turn split over several keeps this order too.

        Acks are lazy, as the SQLite store's are (server/store.py, LAZY_SECONDS): nothing
        waits for their answer (it only says whether the ack's key sent the message, and
        one lost in a crash means the outcome is told once more, as the protocol allows),
        so they do not start a pipeline (one more wake-up of Redis, with its fsync, and of
        this node for the reply: at 2,000/s the cluster's cores were full of them). They go
        in the next one that another operation starts, in their place, or after
        LAZY_SECONDS; until then they keep joining, the turns between counting as one.
        Receipts are not: the sender was told ``delivered`` as the receipt was read, and a
        receipt that waited could die with its node, so the message would reach its
        recipient again from another node (tests/integration/test_cluster_processes.py,
        the kill -9 mid-stream)."""
        if script is _RECEIPTS:
            many = self._receipts
            if many is None or many.count >= MANY_OPS:
                many = self._receipts = _Many(self, script, width, kind)
                self._queued.insert(self._receipts_at, many)
                self._receipts_at += 1
                self._acks_at += 1
        else:
            many = self._acks
            if many is None or many.count >= MANY_OPS:
                many = self._acks = _Many(self, script, width, kind)
                self._queued.insert(self._acks_at, many)
                self._acks_at += 1
        many.args += args
        many.count += 1
        many._encoded = None  # encoded again when read
        # (A tuple each, not a list of callbacks per run of them: under the benchmark's
        # turns a run holds one or two, and its object cost more than the tuples.)
        self._submitted.append((many, callback, on_error))
        if not self._scheduled:
            # Held only if it is an ack and nobody waits for the queue to empty (drain).
            if script is _RECEIPTS or self._drain_waiters:
                self._schedule_send()
            elif self._lazy_timer is None:
                self._lazy_timer = self._loop.call_later(LAZY_SECONDS, self._lazy_due)

    def _send(self, refusal: StoreUnavailable | None = None) -> None:
        """Write the queued operations to Redis as one pipeline, or, with ``refusal`` or
        while an earlier pipeline's failure is not answered yet, refuse them with it
        (:meth:`_answer_ready` answers them in their place, unsent)."""
        self._scheduled = False
        self._cancel_lazy()
        batch, self._queued = self._queued, []
        submitted, self._submitted = self._submitted, []
        self._stop_joining()
        if not batch:
            return
        self._pipelines_made += 1
        if refusal is None and any(task is None or _has_failed(replies) for _b, _s, task, replies in self._batches):
            refusal = self._refusal_behind()
        if refusal is not None:
            self._batches.append((batch, submitted, None, refusal))
            return
        # Written here, at the end of the turn that submitted them, not when a task starts
        # (a turn later) and the client flushes (one more): pipelines reach Redis in
        # submission order, since each is written (or queued) before the next is made.
        chunks = [batch[start:start + BATCH_OPS] for start in range(0, len(batch), BATCH_OPS)]
        commands = [self._call(chunk) for chunk in chunks]
        traced = [self._traced.pop(id(op)) for op in batch if id(op) in self._traced] if trace.ON else ()
        for key in traced:
            trace.mark("a_write", key)
        try:
            replies = self._client.pipeline_now(commands)
        except RedisConnectionError as exc:  # closed: answered unavailable, as any failure
            replies = self._loop.create_future()
            replies.set_exception(exc)
        task = self._loop.create_task(self._run(batch, chunks, commands, replies, traced))
        self._batches.append((batch, submitted, task, replies))
        task.add_done_callback(lambda _: self._answer_ready())

    def _refusal_behind(self) -> StoreUnavailable:
        """The answer to operations submitted while an earlier pipeline's failure (its
        connection lost, its deadline passed) was not answered yet: they are not sent.

        Sent, they could run on the next connection before the failed ones, which their
        callers send again only once told: a sender's later message stored ahead of its
        earlier one (the cluster's chaos run, seed 58: a node paused while Redis was down;
        as it resumed, the earlier messages' deadline passed in the loop turn that read a
        later one, and the relay's hold, server/sendorder.py, came with their answer, a
        turn or two too late). Refused after them, unsent, they come again behind them."""
        return StoreUnavailable(f"Redis at {self.address} did not answer: an earlier pipeline failed, and what "
                                f"was submitted before its answer is not sent, so that it cannot run before it")

    async def _run(self, batch: list[_Operation], chunks: list[list[_Operation]], commands: list[bytes],
                   sent: Awaitable[list[Any]], traced: Sequence[tuple] = ()) -> list[Any]:
        """One reply per operation of ``batch``: a turn's operations as BATCH calls of up to
        BATCH_OPS operations each (``chunks``, encoded as ``commands``), all in one pipeline
        (one write, one round trip), ``sent`` already (its replies)."""
        replies = await sent
        for key in traced:
            trace.mark("a_back", key)
        if all(isinstance(r, RedisError) and r.code == "NOSCRIPT" for r in replies):
            # Redis restarted and forgot the scripts: nothing of this pipeline ran, and
            # nothing of it runs if the reload fails, whatever the reload's own fate.
            try:
                loaded = await self._client.execute("SCRIPT", "LOAD", BATCH.source)
            except OSError as exc:  # the RESP client's failures (RedisConnectionError, RedisTimeout)
                raise RedisConnectionError(f"{exc} (reloading the scripts; the operations did not run)",
                                           sent=False) from exc
            if isinstance(loaded, RedisError):
                return [loaded] * len(batch)
            replies = await self._client.pipeline_encoded(commands)
        answers: list[Any] = []
        for chunk, reply in zip(chunks, replies):
            if isinstance(reply, list) and len(reply) == len(chunk):
                answers += reply
            elif isinstance(reply, RedisError):  # the call as a whole was refused: none ran
                answers += [reply] * len(chunk)
            else:
                answers += [RedisError("ERR", f"the store's batch answered {reply!r:.80} for {len(chunk)} "
                                              f"operations")] * len(chunk)
        return answers

    def _answer_ready(self) -> None:
        """Answer the pipelines that are done, oldest first, stopping at one still in flight:
        the replies are taken in the order the operations ran, then each submission is
        answered (its callback or on_error) in the order it was submitted (base.py)."""
        refused = False  # whether this pass answered a failure
        while self._batches or (refused and self._queued):
            if not self._batches:
                # Submitted before the failures just answered, so before their callers
                # could hold back what follows them: refused too, now (see _send).
                self._send(self._refusal_behind())
            batch, submitted, task, replies = self._batches[0]
            if task is not None and not task.done():
                break
            self._batches.popleft()
            self._pipelines_answered += 1
            if task is None:  # refused unsent (_send): ``replies`` is the failure
                refused = True
                self.failures.failed(replies.reason, len(batch))
                for entry in submitted:
                    self._refuse(entry, replies)
                continue
            if task.cancelled():  # (its pipeline was written: it may have run)
                failure = StoreUnavailable("the store was closed", storage=False, maybe_done=True)
                for entry in submitted:
                    self._refuse(entry, failure)
                continue
            error = task.exception()
            if error is not None:
                refused = True
                reason = f"Redis at {self.address} did not answer: {error or type(error).__name__}"
                self.failures.failed(reason, len(batch))
                failure = StoreUnavailable(reason, maybe_done=may_have_run(error))
                for entry in submitted:
                    self._refuse(entry, failure)
                continue
            answered = False
            # The replies, in the order the operations ran: a joined operation's answers
            # read at once (nothing hangs on when), every other's kept to be read just
            # before its callback (a store's sets ``routed`` for that callback).
            for operation, reply in zip(batch, task.result()):
                if operation.__class__ is not _Many:
                    operation.reply = reply
                elif reply.__class__ is RedisError:  # (the RESP core's error value; nothing subclasses it)
                    operation.answers = self._error_reply(operation, reply)
                else:
                    answered = True
                    try:
                        operation.answers = operation.decode(reply)
                    except Exception:  # a reply we cannot read: a bug, worth its traceback
                        log.exception("cannot read Redis's answer to an operation")
                        operation.answers = StoreUnavailable("unreadable answer from Redis", storage=False)
            # Then each submission's answer, in submission order (base.py).
            for entry in submitted:
                if entry.__class__ is tuple:  # a receipt or an ack: the next answer of its operation
                    operation, callback, on_error = entry
                    answers = operation.answers
                    if answers.__class__ is StoreUnavailable:
                        callback, answer = on_error, answers
                    else:
                        answer = next(answers)
                    if callback is not None:
                        try:
                            callback(answer)
                        except Exception:
                            log.exception("store callback failed")
                    continue
                reply = entry.reply
                if reply.__class__ is RedisError:
                    self._refuse(entry, self._error_reply(entry, reply))
                    continue
                answered = True
                decode = entry.decode
                try:
                    result = decode(reply) if decode is not None else None
                except Exception:  # a reply we cannot read: a bug, worth its traceback
                    log.exception("cannot read Redis's answer to an operation")
                    self._refuse(entry, StoreUnavailable("unreadable answer from Redis", storage=False))
                    continue
                callback = entry.callback
                if callback is not None:
                    try:
                        callback(result)
                    except Exception:
                        log.exception("store callback failed")
            if answered and self.failures.recovered() and self.on_recovered is not None:
                self.on_recovered()
        if self._latest and not self._batches and not self._queued:
            self._latest.clear()  # nothing in flight: no message waits behind another
        self._wake_drained()

    def _error_reply(self, operation: _Operation, reply: RedisError) -> StoreUnavailable:
        if reply.code == "BEHIND":  # (the failure that refused the one before was counted)
            return StoreUnavailable(f"not stored: {reply}")
        if reply.code in _STORAGE_ERRORS or reply.code == "NOSCRIPT":
            reason = f"Redis at {self.address} refused the work: {reply}"
            self.failures.failed(reason, 1)
            return StoreUnavailable(reason)
        if str(reply) not in self._bugs_logged:  # a bug: the script is wrong; said once, not per request
            self._bugs_logged.add(str(reply))
            log.error("a store script failed in Redis (said once): %s", reply)
        return StoreUnavailable(f"store script failed: {reply}", storage=False)

    @staticmethod
    def _refuse(entry: _Operation | tuple, failure: StoreUnavailable) -> None:
        """Call the on_error of a submission (_submitted's ``entry``) with ``failure``."""
        on_error = entry[2] if entry.__class__ is tuple else entry.on_error
        if on_error is not None:
            try:
                on_error(failure)
            except Exception:
                log.exception("store error callback failed")

    # --- Loading, at start (blocking round trips) -----------------------------------------

    def last_msg_id(self) -> int:
        return self._last_msg_id

    def known_users(self) -> dict[str, str]:
        conn = self._blocking()
        try:
            flat = conn.call("HGETALL", self.prefix + "users")
        finally:
            conn.close()
        return {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}

    def blocks(self) -> list[tuple[str, str]]:
        conn = self._blocking()
        try:
            owners = [owner.decode() for owner in conn.call("SMEMBERS", self.prefix + "blockers")]
            sets = conn.pipeline([("SMEMBERS", self.prefix + "blocks:" + owner) for owner in owners])
        finally:
            conn.close()
        return sorted((owner, blocked.decode()) for owner, members in zip(owners, sets) for blocked in members)

    def accounts(self) -> dict[str, Account]:
        conn = self._blocking()
        try:
            keys = [key.decode() for key in conn.call("SMEMBERS", self.prefix + "accts")]
            rows = conn.pipeline([("HMGET", self.prefix + "acct:" + key, "name", "pw", "salt", "kdf") for key in keys])
        finally:
            conn.close()
        return {key: account for key, row in zip(keys, rows) if (account := _account(row)) is not None}

    def guest_holdings(self, now: float) -> dict[str, Holding]:
        conn = self._blocking()
        try:
            keys = [key.decode() for key in conn.call("SMEMBERS", self.prefix + "guests")]
            rows = conn.pipeline([("HMGET", self.prefix + "guest:" + key, "name", "token", "epoch", "left")
                                  for key in keys])
        finally:
            conn.close()
        return {key: holding for key, row in zip(keys, rows) if (holding := _holding(row, now)) is not None}

    def account_credentials(self, now: float) -> dict[bytes, Credential]:
        conn = self._blocking()
        try:
            flat = conn.call("HGETALL", self.prefix + "cred")
        finally:
            conn.close()
        live = {}
        for i in range(0, len(flat), 2):
            name_key, expires_at = flat[i + 1].decode().split("\t")
            if float(expires_at) > now:
                live[bytes.fromhex(flat[i].decode())] = Credential(name_key, float(expires_at))
        return live

    def rooms(self) -> dict[str, str]:
        conn = self._blocking()
        try:
            flat = conn.call("HGETALL", self.prefix + "rooms")
        finally:
            conn.close()
        return {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}

    def receipts_off(self) -> set[str]:
        conn = self._blocking()
        try:
            members = conn.call("SMEMBERS", self.prefix + "rcptoff")
        finally:
            conn.close()
        return {member.decode() for member in members}

    # --- Re-reading one record (a cluster node that heard another changed it) ---------------

    def account(self, name_key: str, callback: Callback | None = None,
                on_error: ErrorCallback | None = None) -> None:
        """The account of ``name_key`` as Redis has it now, or None."""
        self._submit(_ACCOUNT, (name_key,), _account, callback, on_error)

    def holding(self, name_key: str, now: float, callback: Callback | None = None,
                on_error: ErrorCallback | None = None) -> None:
        """The guest holding of ``name_key`` as Redis has it now, or None; a holder noted
        online left at ``now`` (as in :meth:`guest_holdings`)."""
        self._submit(_HOLDING, (name_key,), lambda row: _holding(row, now), callback, on_error)

    def blocked_by(self, owner_key: str, callback: Callback | None = None,
                   on_error: ErrorCallback | None = None) -> None:
        """The set of keys ``owner_key`` blocks, as Redis has it now."""
        self._submit(_BLOCKED_BY, (owner_key,), lambda members: {m.decode() for m in members}, callback, on_error)

    def highest_msg_id(self, callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        """The highest message id given out by any node, as Redis has it now (0: none):
        what a guest name's epoch must cover in a cluster, where :meth:`last_msg_id` only
        knows the ids this node has seen."""
        def seen(value: int) -> int:
            self._last_msg_id = max(self._last_msg_id, value)
            return value
        self._submit(_LAST_ID, (), lambda reply: seen(int(reply)), callback, on_error)

    # --- Messages ---------------------------------------------------------------------------

    def store_message(self, message: StoredMessage, callback: Callback | None = None,
                      on_error: ErrorCallback | None = None) -> None:
        """As base.py says (see :meth:`store_fields`, which does the work)."""
        self._store_fields(_AFTER_ID(message), callback, on_error)

    def store_fields(self, fields: tuple, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        """As base.py says: the message is built once, under the id Redis gives it (not
        under 0 first and copied then: a message object less per message). And for a
        direct message waiting for a receipt, if :attr:`router` gives a route, the same
        script call routes a new message to the other nodes holding sessions of its
        recipient: their ids are :attr:`routed` while ``callback`` runs (one fsync'ed
        round trip before ``accepted``, not two)."""
        sender, sender_key, recipient, recipient_key, text, sent_at, client_id, state = fields[:8]
        expires_at = fields[8] if len(fields) > 8 else None
        conv = ("" if recipient_key is None else room_posts_key(self.prefix, recipient_key) if state == "room"
                else conversation_key(self.prefix, sender_key, recipient_key))
        expires = "" if expires_at is None else repr(expires_at)
        # Packed (_STORE_PACKED): the eight fields that hold no tab, one tab after each.
        head = (f"{sender_key}\t{sender}\t{recipient or ''}\t{recipient_key or ''}\t"
                f"{sent_at!r}\t{state}\t{expires}\t{conv}\t")
        route = None
        if self.router is not None and recipient_key is not None and (state == "sent" or state == "queued"):
            route = self.router(fields)
        after = self._behind(sender_key, conv, client_id)
        # The answer's reader: a partial, not a lambda (one Python frame less per message).
        decode = partial(self._stored_fields, fields)
        if route is None and head.count("\t") == 8:
            # The usual message, encoded here at once (what _command makes of these two
            # arguments, without its loop over them and its look-up of the form).
            data, body = (head + client_id).encode(), text.encode()
            if after is None:
                command, size = self._store_form % (len(data), data, len(body), body), 4
            else:
                before = after.encode()
                command, size = self._store_after_form % (len(data), data, len(before), before, len(body), body), 5
            self._enqueue(_Operation(command, size, decode, callback, on_error), True)
            return
        if head.count("\t") == 8:
            script, args = ((_STORE_PACKED, (head + client_id, text)) if after is None
                            else (_STORE_PACKED_AFTER, (head + client_id, after, text)))
        else:  # a field with a tab (no name or key has one): each field an argument of its own
            script, args = _STORE, (sender_key, client_id, sender, recipient or "", recipient_key or "", text,
                                    repr(sent_at), state, expires, conv)
        # (A store is an operation the turn's receipts and acks may run ahead of: _many.)
        if route is None:
            self._submit(script, args, decode, callback, on_error, True)
            return

        def answered(result: tuple[StoredMessage, str]) -> None:
            try:
                if callback is not None:
                    callback(result)
            finally:
                self.routed = None

        self._submit(script, args + route, decode, answered, on_error, True)
        if trace.ON:
            self._traced[id(self._queued[-1])] = (sender_key, client_id)
            trace.mark("a_submit", (sender_key, client_id))

    def _behind(self, sender_key: str, conversation: str, client_id: str) -> str | None:
        """The request id of the message the sender sent before this one (``client_id``) in
        ``conversation`` (a room's or a pair's key; '' for the default room), if its answer
        is not back yet (None if it is, or if there is none): Redis stores this one only if
        it stored that one (_BEHIND). A failure Redis answers per operation (OOM: memory
        full) refuses the earlier one while the later one, in a pipeline already on its way
        (or later in the same call, once another operation made the call a writing one),
        may find Redis writing again: stored first, the earlier one written again behind it
        (tests/integration/test_flapping_store.py, Redis's memory filled and freed every few
        ms). A failure of the link itself refuses the later ones unsent (_refusal_behind);
        once the earlier one's refusal is answered, the relay's hold (server/sendorder.py)
        keeps the order."""
        line = (sender_key, conversation)
        latest = self._latest.get(line)
        self._latest[line] = (client_id, self._pipelines_made + 1)
        if latest is not None and latest[1] > self._pipelines_answered and latest[0] != client_id:
            return latest[0]
        return None

    # store_message's way to store_fields' work: a store_message is not a store_fields call
    # (to a caller that watches the two, as tests/integration/test_store.py does).
    _store_fields = store_fields

    def _stored(self, message: StoredMessage, reply: list | int) -> tuple[StoredMessage, str]:
        """The answer to storing ``message``."""
        return self._stored_fields(_AFTER_ID(message), reply)

    def _stored_fields(self, fields: tuple, reply: list | int) -> tuple[StoredMessage, str]:
        """The answer to storing the message of ``fields`` (its fields after the id): the
        message built once, under its new id (or the earlier one's, for a resend)."""
        if reply.__class__ is int:  # new (the script's usual answer: the id alone)
            if reply > self._last_msg_id:
                self._last_msg_id = reply
            return StoredMessage(reply, *fields), NEW
        new, value = reply[0], reply[1]
        if new:
            msg_id = int(value)
            self._last_msg_id = max(self._last_msg_id, msg_id)
            if len(reply) > 2:  # routed in the same step: the nodes it went to
                self.routed = (msg_id, [node.decode() for node in reply[2]])
                if trace.ON:
                    trace.mark("a_id", (fields[1], fields[6], msg_id))
            return StoredMessage(msg_id, *fields), NEW
        stored, message = as_told(_message(value)), StoredMessage(0, *fields)
        return (stored, RESEND) if same_request(stored, message) else (message, ID_REUSED)

    def sent_under(self, sender_key: str, client_id: str, callback: Callback | None = None,
                   on_error: ErrorCallback | None = None) -> None:
        self._submit(_SENT_UNDER, (sender_key, client_id), lambda reply: as_told(_message(reply)) if reply else None,
                     callback, on_error)

    def record_receipt(self, msg_id: int, recipient_key: str, callback: Callback | None = None,
                       on_error: ErrorCallback | None = None, *, sender_key: str | None = None) -> None:
        if sender_key is None:  # read from the message
            self._submit(_RECEIPT, (msg_id, recipient_key), None, callback, on_error)
        else:
            self._many(_RECEIPTS, 3, (msg_id, recipient_key, sender_key), None, callback, on_error)

    def record_ack(self, msg_id: int, sender_key: str, callback: Callback | None = None,
                   on_error: ErrorCallback | None = None) -> None:
        self._many(_ACKS, 2, (msg_id, sender_key), bool, callback, on_error)

    def confirm_late(self, msg_id: int, recipient_key: str, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        self._submit(_CONFIRM_LATE, (msg_id, recipient_key),
                     lambda reply: (None if reply[0] is None else _message(reply[0]), _text(reply[1])),
                     callback, on_error)

    def restate(self, msg_id: int, state: str, callback: Callback | None = None,
                on_error: ErrorCallback | None = None) -> None:
        self._submit(_RESTATE, (msg_id, state), None, callback, on_error)

    def pending_for(self, recipient_key: str, after: int, limit: int, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None) -> None:
        self._submit(_PAGE, ("pend:" + recipient_key, after, limit), _messages, callback, on_error)

    def outcomes_for_sender(self, sender_key: str, after: int, limit: int, callback: Callback | None = None,
                            on_error: ErrorCallback | None = None) -> None:
        self._submit(_PAGE, ("untold:" + sender_key, after, limit), _told, callback, on_error)

    def history(self, me_key: str, peer_key: str, before: int | None, limit: int, after: int,
                callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        def page(rows: list) -> tuple[list[HistoryEntry], int | None]:
            more = len(rows) > limit
            rows = rows[:limit]
            entries = [history_entry(int(r[0]), _text(r[1]), _text(r[2]), _text(r[3]), float(r[4]), _text(r[5]),
                                     r[6], r[7] == b"1") for r in reversed(rows)]
            return entries, (entries[0].msg_id if more and entries else None)

        args = (conversation_key(self.prefix, me_key, peer_key), me_key, "" if before is None else before, after,
                limit)
        self._submit(_HISTORY, args, page, callback, on_error)

    def since(self, me_key: str, after: int, limit: int, callback: Callback | None = None,
              on_error: ErrorCallback | None = None) -> None:
        def page(reply: list) -> tuple[list[HistoryEntry], int | None]:
            rows, walked_to, top = reply
            entries = [history_entry(int(r[0]), _text(r[1]), _text(r[2]), _text(r[3]), float(r[4]), _text(r[5]),
                                     r[6], r[7] == b"1") for r in rows]
            return since_page(entries, limit, int(walked_to), int(top))

        self._submit(_SINCE, (me_key, after, limit, const.SINCE_SCAN), page, callback, on_error)

    def room_history(self, room_key: str, before: int | None, limit: int, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        def page(rows: list) -> tuple[list[HistoryEntry], int | None]:
            more = len(rows) > limit
            entries = [HistoryEntry(int(r[0]), _text(r[1]), _text(r[2]), _text(r[3]), float(r[4]), ROOM_MESSAGE_STATE,
                                    r[6] is not None and r[7] != b"1", r[7] == b"1")
                       for r in reversed(rows[:limit])]
            return entries, (entries[0].msg_id if more and entries else None)

        # _HISTORY on the room's set: no message in it is 'blocked', so "my key" is none.
        args = (room_posts_key(self.prefix, room_key), "", "" if before is None else before, 0, limit)
        self._submit(_HISTORY, args, page, callback, on_error)

    def expire(self, now: float, callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        self._submit(_EXPIRE, (repr(now),), _told, callback, on_error)

    def purge(self, older_than: float, unacknowledged_older_than: float | None,
              callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        args = (repr(older_than), "" if unacknowledged_older_than is None else repr(unacknowledged_older_than))
        self._submit(_PURGE, args, int, callback, on_error)

    def hand_over(self, name_key: str, epoch: int, callback: Callback | None = None,
                  on_error: ErrorCallback | None = None) -> None:
        self._submit(_HAND_OVER, (epoch, "0", name_key), _told, callback, on_error)

    def referenced(self, name_keys: list[str], callback: Callback | None = None,
                   on_error: ErrorCallback | None = None) -> None:
        self._submit(_REFERENCED, tuple(name_keys), lambda keys: [_text(key) for key in keys], callback, on_error)

    def forget_users(self, name_keys: list[str], epoch: int, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        self._submit(_HAND_OVER, (epoch, "1", *name_keys), _told, callback, on_error)

    def forget_guests(self, holdings: dict[str, Holding], epoch: int, node_id: str, lease: float, stream: str,
                      length: int, head: str, callback: Callback | None = None,
                      on_error: ErrorCallback | None = None) -> None:
        """A cluster node's :meth:`forget_users` (_FORGET_GUESTS: its rules): ``holdings``
        as the node's cache holds them. Result: None if another node holds the lease, else
        (the keys forgotten, what ended for their senders, as :meth:`forget_users`)."""
        args: list[Any] = [epoch, node_id, round(lease * 1000), stream, length, head]
        for key, holding in holdings.items():
            args += (key, holding.epoch, repr(holding.left_at))
        self._submit(_FORGET_GUESTS, tuple(args), _forgotten, callback, on_error)

    # --- After delivered: edit, delete, read -------------------------------------------------

    def change_message(self, msg_id: int, sender_key: str, text: str | None, now: float, window: float,
                       quiet_for: frozenset[str], callback: Callback | None = None, on_error: ErrorCallback | None = None,
                       *, may_post_in: frozenset[str] | None = None) -> None:
        args = (msg_id, "*" if sender_key is None else sender_key, "0" if text is None else "1", "" if text is None else text, repr(now),
                repr(window), "*" if may_post_in is None else "\n".join(sorted(may_post_in)), *sorted(quiet_for))
        self._submit(_CHANGE, args, lambda reply: (reply[0].decode(), None if reply[1] is None else _message(reply[1])),
                     callback, on_error)

    def room_changes(self, name_key: str, room_keys: list[str], limit: int, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        self._submit(_ROOM_CHANGES, (name_key, limit, *room_keys),
                     lambda rows: sorted(_messages(rows), key=lambda m: m.msg_id), callback, on_error)

    def changes_for(self, recipient_key: str, after: int, limit: int, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None) -> None:
        self._submit(_PAGE, ("chg:" + recipient_key, after, limit), _messages, callback, on_error)

    def confirm_change(self, msg_id: int, recipient_key: str, callback: Callback | None = None,
                       on_error: ErrorCallback | None = None) -> None:
        self._submit(_CONFIRM_CHANGE, (msg_id, recipient_key), bool, callback, on_error)

    def record_read(self, reader_key: str, peer_key: str, msg_id: int, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None) -> None:
        self._submit(_RECORD_READ, (reader_key, peer_key, msg_id),
                     lambda reply: (None if reply[0] is None else int(reply[0]), bool(reply[1])), callback, on_error)

    def read_mark(self, reader_key: str, peer_key: str, callback: Callback | None = None,
                  on_error: ErrorCallback | None = None) -> None:
        self._submit(_READ_MARK, (reader_key, peer_key), lambda reply: None if reply is None else int(reply),
                     callback, on_error)

    def record_room_read(self, reader_key: str, room_key: str, msg_id: int, callback: Callback | None = None,
                         on_error: ErrorCallback | None = None) -> None:
        self._submit(_RECORD_ROOM_READ, (reader_key, room_key, msg_id),
                     lambda reply: (None if reply[0] is None else int(reply[0]), bool(reply[1])), callback, on_error)

    def room_read_marks(self, room_key: str, reader_keys: list[str], callback: Callback | None = None,
                        on_error: ErrorCallback | None = None) -> None:
        keys = list(reader_keys)
        self._submit(_ROOM_READ_MARKS, (room_key, *keys),
                     lambda reply: {key: int(mark) for key, mark in zip(keys, reply) if mark is not None},
                     callback, on_error)

    def set_read_receipts(self, name_key: str, on: bool, callback: Callback | None = None,
                          on_error: ErrorCallback | None = None) -> None:
        self._submit(_SET_READ_RECEIPTS, (name_key, "1" if on else "0"), None, callback, on_error)

    def set_read_receipts_announced(self, name_key: str, on: bool, stream: str, entry: bytes, stream_length: int,
                                    callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        """:meth:`set_read_receipts`, and a cluster node's ``entry`` on its events
        ``stream`` (of about ``stream_length`` entries) in the same step, so that no node
        misses a switch that was stored."""
        self._submit(_SET_READ_RECEIPTS, (name_key, "1" if on else "0", stream, entry, stream_length), None,
                     callback, on_error)

    # --- Users, blocks, guests, accounts ----------------------------------------------------

    def remember_user(self, name_key: str, name: str, now: float, callback: Callback | None = None,
                      on_error: ErrorCallback | None = None) -> None:
        self._submit(_REMEMBER_USER, (name_key, name, repr(now)), None, callback, on_error)

    def set_block(self, owner_key: str, blocked_key: str, blocked: bool, callback: Callback | None = None,
                  on_error: ErrorCallback | None = None) -> None:
        self._submit(_SET_BLOCK, (owner_key, blocked_key, "1" if blocked else "0"), None, callback, on_error)

    def clear_blocks(self, owner_key: str, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        self._submit(_CLEAR_BLOCKS, (owner_key,), None, callback, on_error)

    def save_holding(self, name_key: str, holding: Holding, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        args = (name_key, holding.name, holding.token_hash, holding.epoch,
                "" if holding.left_at is None else repr(holding.left_at))
        self._submit(_SAVE_HOLDING, args, None, callback, on_error)

    def set_left_at(self, name_key: str, left_at: float | None, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None) -> None:
        self._submit(_SET_LEFT_AT, (name_key, "" if left_at is None else repr(left_at)), None, callback, on_error)

    def save_account(self, name_key: str, account: Account, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        args = (name_key, account.name, account.pw_hash, account.salt, account.kdf, repr(time.time()))
        self._submit(_SAVE_ACCOUNT, args, bool, callback, on_error)


    def set_password(self, name_key: str, account: Account, keep: bytes | None, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        args = (name_key, account.pw_hash, account.salt, account.kdf, keep.hex() if keep else "")
        self._submit(_SET_PASSWORD, args, bool, callback, on_error)

    def save_account_credential(self, token_hash: bytes, credential: Credential, now: float,
                                callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        args = (token_hash.hex(), credential.name_key, repr(credential.expires_at), repr(now))
        self._submit(_SAVE_CREDENTIAL, args, None, callback, on_error)

    def revoke_account_credential(self, token_hash: bytes, callback: Callback | None = None,
                                  on_error: ErrorCallback | None = None) -> None:
        self._submit(_REVOKE_CREDENTIAL, (token_hash.hex(),), None, callback, on_error)

    def revoke_account_credentials(self, name_key: str, callback: Callback | None = None,
                                   on_error: ErrorCallback | None = None) -> None:
        self._submit(_REVOKE_CREDENTIALS, (name_key,), None, callback, on_error)


    def delete_account(self, name_key: str, epoch: int, holding: Holding, callback: Callback | None = None,
                       on_error: ErrorCallback | None = None) -> None:
        args = (epoch, name_key, holding.name, holding.token_hash, repr(holding.left_at))
        self._submit(_DELETE_ACCOUNT, args, _told, callback, on_error)

    def save_room(self, room_key: str, record: str | None, callback: Callback | None = None,
                  on_error: ErrorCallback | None = None) -> None:
        args = (room_key, "0", "") if record is None else (room_key, "1", record)
        self._submit(_SAVE_ROOM, args, None, callback, on_error)

    def save_room_versioned(self, room_key: str, version: int, record: str | None, stream: str, entry: bytes,
                            stream_length: int, callback: Callback | None = None,
                            on_error: ErrorCallback | None = None, lookalike: str = "") -> None:
        """A cluster's room change (server/roomdesk.py): store ``record`` (None: the room
        ended) if the room is still at ``version``, and add ``entry`` to ``stream`` in the
        same step. Result ("ok", the new version), or ("changed", the stored record or
        None, its version) when another node changed it first, or ("rival", key, record,
        version) of another room whose name looks like this new one's (``lookalike``: the
        look-alike key of its name): nothing written in either case."""
        args = (room_key, version, "0", "", stream, entry, stream_length, lookalike) if record is None else \
            (room_key, version, "1", record, stream, entry, stream_length, lookalike)
        self._submit(_SAVE_ROOM_VERSIONED, args, _versioned, callback, on_error)

    def rooms_versioned(self, callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        """Every named room's record and version, as ({room key: record}, {room key:
        version}): what a cluster node's desk loads after it joins."""
        def answer(reply: list) -> tuple[dict[str, str], dict[str, int]]:
            records, versions = reply
            return ({_text(records[i]): _text(records[i + 1]) for i in range(0, len(records), 2)},
                    {_text(versions[i]): int(versions[i + 1]) for i in range(0, len(versions), 2)})
        self._submit(_ROOMS_VERSIONED, (), answer, callback, on_error)

    def store_room_post(self, message: StoredMessage, version: int, stream: str, head: str, stream_length: int,
                        callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        """A named room's message in a cluster: as :meth:`store_message`, and put on
        ``stream`` (entry ``head`` + its id + "}") in the same step, if the room is still
        at ``version``. Result as store_message's, or (None, "changed", the room's record
        or None, its version) when the room changed meanwhile (nothing stored)."""
        conversation = room_posts_key(self.prefix, message.recipient_key or "")
        args = (message.sender_key, message.client_id, message.sender, message.recipient or "",
                message.recipient_key or "", message.text, repr(message.sent_at), message.state, "",
                conversation, version, stream, head, stream_length,
                self._behind(message.sender_key, conversation, message.client_id) or "")

        def answer(reply: list | int) -> tuple:
            if reply.__class__ is not int and reply[0] == 2:
                return (None, "changed", _text(reply[1]) if reply[1] else None, int(reply[2]))
            return self._stored(message, reply)
        self._submit(_ROOM_POST, args, answer, callback, on_error)

    def store_room_say(self, message: StoredMessage, stream: str, head: str, stream_length: int,
                       callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        """A message of the default room (a ``say``) in a cluster: as :meth:`store_message`,
        and put on ``stream`` (entry ``head`` + its id + "}") in the same step, noted with
        the message (``se``) so that a delete takes it off the stream. Result as
        store_message's; a resend or a reused request id adds nothing to the stream."""
        args = (message.sender_key, message.client_id, message.sender, "", "", message.text, repr(message.sent_at),
                message.state, "", "", "", stream, head, stream_length,
                self._behind(message.sender_key, "", message.client_id) or "")
        self._submit(_ROOM_SAY, args, partial(self._stored, message), callback, on_error, True)

    def room_backlog(self, name_key: str, room_keys: list[str], limit: int, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        def answer(reply: list) -> tuple[list[StoredMessage], dict[str, int]]:
            rows, flat = reply
            cursors = {_text(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}
            return sorted(_messages(rows), key=lambda m: m.msg_id), cursors

        self._submit(_ROOM_BACKLOG, (name_key, limit, *room_keys), answer, callback, on_error)

    def set_room_cursors(self, name_key: str, cursors: dict[str, int], callback: Callback | None = None,
                         on_error: ErrorCallback | None = None) -> None:
        args = [name_key]
        for room_key, last_id in cursors.items():
            args += (room_key, last_id)
        self._submit(_SET_ROOM_CURSORS, tuple(args), None, callback, on_error)

    def room_joined(self, name_key: str, room_key: str, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None) -> None:
        self._submit(_ROOM_JOINED, (name_key, room_key), int, callback, on_error)


def _account(row: list) -> Account | None:
    name, pw_hash, salt, kdf = row
    if name is None:
        return None
    return Account(name.decode(), pw_hash or b"", salt or b"", kdf.decode())


def _holding(row: list, now: float) -> Holding | None:
    name, token_hash, epoch, left_at = row
    if name is None:
        return None
    return Holding(name.decode(), token_hash or b"", int(epoch), now if left_at is None else float(left_at))
