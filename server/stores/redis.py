"""The Redis store (``--cluster redis://...``): the store interface (base.py) on Redis.

Every asynchronous operation is ONE Lua script, so that no crash (of a node, of Redis)
leaves half an operation behind: storing a message checks its request id, takes the next
message id (``INCR``) and files it in every index in one step; a receipt, an ack, the
expiry pass, a guest name's hand-over and an account's claim are one step each. The
operations submitted during one loop turn go to Redis together, as the SQLite store
groups its commits (acks, which nothing waits for, may ride in a later turn's, as the
SQLite store's ride in its next commit: :meth:`RedisStore._many`): as ONE ``EVALSHA`` of
:data:`~server.stores.redis_scripts.BATCH`, a script made of every operation's script
(server/stores/redis_scripts.py) as a function, which runs them in the order given, each in
its own ``pcall`` (per :data:`~server.stores.redis_scripts.BATCH_OPS` operations; one
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
  After a Redis restart its script cache is empty: calls answered ``NOSCRIPT`` did not run.
  Those after the last call that ran (of the pipelines in flight then) are sent again
  after ``SCRIPT LOAD``, and what is submitted meanwhile is written behind them; those
  before one that ran (another node loaded the scripts in between) are refused
  (``StoreUnavailable``): no operation runs after one submitted later (:class:`_Reload`),
  whichever conversation or user either is of.

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
                                          room's post in a cluster: ROOM_POST, ROOM_SAY);
                                          or ``f``, ``t``, ``st``: a direct message stored
                                          packed holds ``sk s r rk at x c`` in ``f`` (see
                                          redis_scripts.py's hmget)
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
                                          (SAVE_ROOM_VERSIONED, ROOM_POST)
``{chat}:cred``                   hash    account resume credential: hex of its hash ->
                                          name key, tab, expires at (``{chat}:credx``: by
                                          expiry; ``{chat}:credk:<key>``: an account's)
``{chat}:chg:<key>``              zset    messages to ``<key>`` with an edit or delete it
                                          has not confirmed (purge takes them out too)
``{chat}:dchg:<key>``             zset    ``<key>``'s direct messages (sent or received)
                                          last changed, by when: the newest
                                          ``const.DM_CHANGES_KEPT`` (DM_CHANGES)
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
from registry import lookalike_key
from resp import NEED_DATA, Connection, ProtocolError, RedisClient, RedisError, Script, may_have_run, parse_url
from resp.aio import RedisAddress, RedisConnectionError, RedisTimeout, connection_advice, tls_context

from ..accounts import Account
from ..credentials import Credential
from ..guests import Holding
from ..mailbox import history_entry, since_page  # feature since
from ..mailbox import ID_REUSED, NEW, RESEND, ROOM_MESSAGE_STATE, STALE, SeenMark, StaleRoom, StoredMessage, as_told
from ..mailbox import same_request
from ..cluster import trace
from ..cluster.checks import durability_warning
from ..cluster.clock import CLOCK_SKEW_LIMIT
from ..store import LAZY_SECONDS, FailureLog, StoreUnavailable
from . import redis_scripts as lua
from .base import GUEST_ONLINE, Callback, ErrorCallback, GuestHeld, LooksLike

log = logging.getLogger("chat.store")

DEFAULT_PREFIX = "{chat}:"
# Seconds within which Redis must answer an operation, else it is answered unavailable.
DEFAULT_TIMEOUT = 5.0
# Accounts filed by look-alike key per script call at start (accounts): a short step for Redis.
FILE_LOOKALIKES_CHUNK = 1000

# Error replies that say Redis could not do the work now (memory, replica, disk, loading),
# which may go away by themselves; any other error reply from a script is a bug.
_STORAGE_ERRORS = ("OOM", "READONLY", "MISCONF", "LOADING", "BUSY", "MASTERDOWN", "NOREPLICAS", "TRYAGAIN",
                   "CLUSTERDOWN")


# --- Decoding replies --------------------------------------------------------------------------


def _versioned(reply: list) -> tuple:
    """lua.SAVE_ROOM_VERSIONED's reply: ("ok", version), ("changed", record or None, version),
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




def _change_reply(reply: list) -> tuple:
    """lua.CHANGE's reply: (status, the message or None), or (mailbox.STALE, a mailbox.StaleRoom)."""
    status = reply[0].decode()
    if status == STALE:
        return (status, StaleRoom(_text(reply[1]), _text(reply[2]), int(reply[3])))
    return (status, None if reply[1] is None else _message(reply[1]))


def _messages(rows: list) -> list[StoredMessage]:
    return [_message(row) for row in rows]


def _forgotten(reply: list) -> tuple[list[str], list[StoredMessage]] | None:
    """lua.FORGET_GUESTS's reply, read (RedisStore.forget_guests)."""
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
    """One operation: ``command`` is its part of a lua.BATCH call (its script's number, its
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
    """A loop turn's receipts (or acks), as ONE operation of the lua.BATCH call: its script
    (lua.RECEIPTS, lua.ACKS) runs each in turn and answers them all in one reply item (see
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
        """The arguments in one, a tab between each two (lua.PACKED's scripts), or None if one
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
        lua.RECEIPTS's count, True or False for each of lua.ACKS's bytes ('1' or '0')."""
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
_MANY_HEADS = {script: _bulk(lua.NUMBERS[packed]) + _bulk(1) for script, packed in lua.PACKED.items()}


def _has_failed(replies: Awaitable[list[Any]]) -> bool:
    """Whether the pipeline whose ``replies`` these are (what RedisClient.pipeline_now
    returned, or a future the store failed itself) has failed already, before the task
    awaiting it woke. A pipeline still waiting for room (too many commands in flight)
    has not, unless that wait ended in vain."""
    if isinstance(replies, asyncio.Future):
        return replies.done() and not replies.cancelled() and replies.exception() is not None
    failed = getattr(replies, "failed", None)
    return failed is not None and failed()


def _noscript(reply: Any) -> bool:
    return reply.__class__ is RedisError and reply.code == "NOSCRIPT"


class _Held:
    """The replies of a pipeline made while the scripts are loaded again (:class:`_Reload`):
    written only once that is over, behind what is sent again; await it once. ``made``:
    the loop's time it was made, from which it is answered within the store's timeout
    (written with what is left of it, or refused unsent)."""

    __slots__ = ("commands", "made", "written", "replies")

    def __init__(self, loop: asyncio.AbstractEventLoop, commands: list[bytes]) -> None:
        self.commands = commands
        self.made = loop.time()
        self.written: asyncio.Future[None] = loop.create_future()  # its exception: refused unsent
        self.replies: Awaitable[list[Any]] | None = None

    def failed(self) -> bool:  # as _has_failed asks
        if self.written.done() and self.written.exception() is not None:
            return True
        return self.replies is not None and _has_failed(self.replies)

    def __await__(self) -> Any:
        return self._replies().__await__()

    async def _replies(self) -> list[Any]:
        await self.written
        return await self.replies


class _Reload:
    """Redis answered ``NOSCRIPT``: it forgot the scripts (a restart, ``SCRIPT FLUSH``, a
    fail-over), and what was answered so did not run. Order is kept across every
    operation, not one conversation's (edits of one message, a change then a login...):

    - the pipelines in flight then (``pipelines``: the one answered so and those written
      after it) are settled together, once all of them are answered: a call answered
      ``NOSCRIPT`` before one that ran (another node loaded the scripts in between) is
      refused, never run after it; the calls after the last one that ran are sent again,
      in order, after ``SCRIPT LOAD``;
    - pipelines made meanwhile are held (:class:`_Held`), and written right behind what
      is sent again (or refused unsent if the scripts could not be loaded), so that none
      runs ahead of it (written at once, one made while the ``SCRIPT LOAD`` was on its
      way ran before the calls answered ``NOSCRIPT``, sent again only after its answer:
      tests/unit/test_redis_store_unsure.py).

    Every one of them is answered within the store's timeout of when it was written or
    made, as any operation is, not one timeout per step (the replies, the ``SCRIPT
    LOAD``, the calls sent again: up to three before): ``deadline``, the earliest of the
    pipelines' (:meth:`RedisStore._settle` sets it), bounds the load and what is sent
    again; each held pipeline is written with what is left of its own, or refused unsent
    when nothing is. What cannot be done by then is answered as not done (the load, or
    what waits for it) or perhaps done (what was sent again)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pipelines: list[Any]) -> None:
        self.place = {id(pipeline): n for n, pipeline in enumerate(pipelines)}
        self.deadline = float("inf")
        # Per pipeline: (its commands, its replies or the exception it failed with).
        self.reported: list[tuple[list[bytes], Any] | None] = [None] * len(pipelines)
        self.left = len(pipelines)
        self.held: list[_Held] = []
        self.done: asyncio.Future[list[Any]] = loop.create_future()

    def holds(self, pipeline: Any) -> bool:
        return id(pipeline) in self.place


class RedisStore:
    """See the module docstring and base.py for the contract of every method."""

    # A guest holding another node wrote, newer, is kept: save_holding and set_left_at
    # answer False then (the relay hears them only from such a store).
    keeps_newer_holdings = True
    # A direct message given as ``sent`` or ``queued`` is stored ``blocked`` if its
    # recipient blocks its sender in Redis's block lists, in the step that stores it (the
    # STORE scripts): the relay leaves that to the store, not to its own cache of the
    # lists, which another node's change reaches a stream read late (docs/cluster.md,
    # "Blocks"), an unblock as well as a block.
    decides_blocks = True

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
        self._closing: asyncio.Task | None = None  # the client's close, begun by close() in the loop
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
        self._reload: _Reload | None = None  # while Redis's forgotten scripts are loaded again
        self._heads: dict[tuple[Script, int], bytes] = {}  # see _command
        # _command's form of lua.STORE_PACKED's two arguments, for store_fields to fill at once.
        self._store_form = (_bulk(lua.NUMBERS[lua.STORE_PACKED]) + _bulk(2)) + b"$%d\r\n%b\r\n" * 2
        self._store_after_form = (_bulk(lua.NUMBERS[lua.STORE_PACKED_AFTER]) + _bulk(3)) + b"$%d\r\n%b\r\n" * 3
        # Order in a conversation (store_fields): by (sender key, conversation key), the
        # request id of the sender's latest message submitted and the number of the
        # pipeline it goes in; pipelines made (_send: sent, or refused unsent) and
        # answered (_answer_ready) so far. Emptied whenever nothing is in flight.
        self._latest: dict[tuple[str, str], tuple[str, int]] = {}
        self._pipelines_made = 0
        self._pipelines_answered = 0
        self._batch_head = b"".join([_bulk("EVALSHA"), _bulk(lua.BATCH.sha1), _bulk(0), _bulk(prefix)])  # see _call
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
            conn.call("SCRIPT", "LOAD", lua.BATCH.source)
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
        """Fold a store of the layout before (its ``ids`` set) into this one (lua.UPGRADE)."""
        reply = conn.call("EVALSHA", lua.BATCH.sha1, 0, self.prefix, lua.NUMBERS[lua.UPGRADE], 0)
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
            written = task is not None and not (isinstance(_replies, _Held) and not _replies.written.done())
            pending += [(entry, written) for entry in submitted]
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
                    self._closing = self._loop.create_task(client.close())
                else:
                    self._loop.run_until_complete(client.close())

    async def wait_closed(self) -> None:
        """As base.py says: the connection :meth:`close` began to close from inside the
        loop is closed (RedisClient.close, bounded by its connect timeout)."""
        closing, self._closing = self._closing, None
        if closing is not None:
            await closing

    # --- The engine: one script call per operation, one pipeline per loop turn -------------

    def _command(self, script: Script, args: tuple) -> bytes:
        """An operation's part of a lua.BATCH call in RESP bytes: its script's number, the
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
            if script not in lua.NUMBERS:  # lua.BATCH is made of lua.SCRIPTS: a script left out cannot run
                raise ValueError("a store script must be listed in redis_scripts.SCRIPTS")
            form = self._heads[(script, len(args))] = (_bulk(lua.NUMBERS[script]) + _bulk(len(args))
                                                       + b"$%d\r\n%b\r\n" * len(args))
        return form % tuple(flat)

    def _call(self, operations: list[Any]) -> bytes:
        """``EVALSHA <lua.BATCH> 0 prefix`` and the parts of ``operations``, in RESP bytes."""
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
        """Submit one receipt or ack (``script``: lua.RECEIPTS or lua.ACKS, ``width`` arguments
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
        Receipts keep their order among themselves, acks theirs, and a turn's lua.BATCH_OPS
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
        if script is lua.RECEIPTS:
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
            if script is lua.RECEIPTS or self._drain_waiters:
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
        chunks = [batch[start:start + lua.BATCH_OPS] for start in range(0, len(batch), lua.BATCH_OPS)]
        commands = [self._call(chunk) for chunk in chunks]
        traced = [self._traced.pop(id(op)) for op in batch if id(op) in self._traced] if trace.ON else ()
        for key in traced:
            trace.mark("a_write", key)
        replies: Any
        if self._reload is not None:  # written once the scripts are loaded again (_Reload)
            replies = _Held(self._loop, commands)
            self._reload.held.append(replies)
        else:
            replies = self._write(commands)
        task = self._loop.create_task(self._run(batch, chunks, commands, replies, self._loop.time(), traced))
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

    def _write(self, commands: list[bytes], timeout: float | None = None) -> Awaitable[list[Any]]:
        """Write ``commands`` to Redis now (RedisClient.pipeline_now): their replies, within
        ``timeout`` seconds (by default the store's)."""
        try:
            if timeout is not None:
                return self._client.pipeline_now(commands, timeout)
            return self._client.pipeline_now(commands)
        except RedisConnectionError as exc:  # closed: answered unavailable, as any failure
            replies = self._loop.create_future()
            replies.set_exception(exc)
            return replies

    async def _run(self, batch: list[_Operation], chunks: list[list[_Operation]], commands: list[bytes],
                   sent: Awaitable[list[Any]], made: float, traced: Sequence[tuple] = ()) -> list[Any]:
        """One reply per operation of ``batch``: a turn's operations as lua.BATCH calls of up to
        lua.BATCH_OPS operations each (``chunks``, encoded as ``commands``), all in one pipeline
        (one write, one round trip), ``sent`` already (its replies), at the loop's time
        ``made``. Calls answered NOSCRIPT are settled with the pipelines in flight then
        (_Reload)."""
        try:
            replies = await sent
        except Exception as exc:
            if self._reload is not None and self._reload.holds(sent):
                await self._settle(self._reload, sent, made, commands, exc)  # (raises exc)
            raise
        for key in traced:
            trace.mark("a_back", key)
        reload = self._reload
        if reload is None or not reload.holds(sent):
            if reload is None and any(_noscript(r) for r in replies):
                # This pipeline and those written after it, oldest first (none is held:
                # nothing is written while a reload is on).
                after = itertools.dropwhile(lambda entry: entry[3] is not sent, self._batches)
                pipelines = [r for _b, _s, task, r in after if task is not None and not task.done()]
                if pipelines:  # (none: the store was closed meanwhile)
                    reload = self._reload = _Reload(self._loop, pipelines)
        if reload is not None and reload.holds(sent):
            replies = await self._settle(reload, sent, made, commands, replies)
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

    async def _settle(self, reload: _Reload, sent: Any, made: float, commands: list[bytes],
                      replies: Any) -> list[Any]:
        """The replies of pipeline ``sent`` (of ``reload``, written at the loop's time
        ``made``) once every pipeline of it is answered and what did not run is sent again:
        see _Reload. ``replies``: as Redis answered them, or the exception the pipeline
        failed with (raised again)."""
        reload.reported[reload.place[id(sent)]] = (commands, replies)
        reload.deadline = min(reload.deadline, made + self.timeout)
        reload.left -= 1
        if reload.left:
            outcomes = await asyncio.shield(reload.done)
        else:
            try:
                outcomes = await self._reload_scripts(reload)
            except BaseException:  # (closed meanwhile, or a bug): nobody waits for ever
                reload.done.cancel()
                for held in reload.held:
                    if not held.written.done():
                        held.written.set_exception(RedisConnectionError("the store's reload failed", sent=False))
                raise
            finally:
                if self._reload is reload:
                    self._reload = None
            reload.done.set_result(outcomes)
        outcome = outcomes[reload.place[id(sent)]]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def _reload_scripts(self, reload: _Reload) -> list[Any]:
        """Decide ``reload`` (every pipeline answered): load the scripts, send the calls
        after the last one that ran again, write the held pipelines behind them. Each
        pipeline's replies or exception, in order."""
        reported: list = reload.reported  # (every pipeline of it has reported by now)
        outcomes: list[Any] = [list(replies) if isinstance(replies, list) else replies for _c, replies in reported]
        # The calls answered NOSCRIPT after the last one that ran, or may have (a pipeline
        # that failed: its connection lost): (pipeline, call).
        again: list[tuple[int, int]] = []
        for n, (_commands, replies) in enumerate(reported):
            if not isinstance(replies, list):
                again = []
                continue
            for m, reply in enumerate(replies):
                if _noscript(reply):
                    again.append((n, m))
                else:
                    again = []
        failure: BaseException | None = None
        if not (again or reload.held):  # nothing to run now: the next pipeline answered NOSCRIPT loads them
            return outcomes
        # Every pipeline of the reload waits for the load, and each held one too: it must be
        # over by the earliest of their deadlines (_Reload), so that none waits longer.
        left = min([reload.deadline] + [held.made + self.timeout for held in reload.held]) - self._loop.time()
        try:
            if left <= 0:
                raise RedisTimeout(f"the store's timeout ({self.timeout:g} s) passed before the scripts could be "
                                   f"loaded again; not sent", sent=False)
            loaded = await self._client.execute("SCRIPT", "LOAD", lua.BATCH.source, timeout=left)
        except OSError as exc:  # the RESP client's failures (RedisConnectionError, RedisTimeout)
            loaded = failure = RedisConnectionError(f"{exc} (reloading the scripts; the operations did not run)",
                                                    sent=False)
        if isinstance(loaded, RedisError):
            for n, m in again:
                outcomes[n][m] = loaded
            again = []
        now = self._loop.time()
        if again and failure is None and reload.deadline <= now:  # loaded too late to send them in time
            failure = RedisConnectionError(f"the store's timeout ({self.timeout:g} s) passed as the scripts were "
                                           f"loaded again; the operations did not run", sent=False)
        sent_again = self._write([reported[n][0][m] for n, m in again], reload.deadline - now) \
            if again and failure is None else None
        # (Made in order, so the late ones are the first: those behind them are refused
        # too, or they would run ahead of them, which their callers send again later.)
        late = any(held.made + self.timeout <= now for held in reload.held)
        for held in reload.held:  # behind what is sent again, in the order they were made
            if failure is not None:
                held.written.set_exception(RedisConnectionError(
                    f"the operations before these were not run ({failure}): these are not sent, so that they "
                    f"cannot run before them", sent=False))
            elif late:
                held.written.set_exception(RedisTimeout(
                    f"the store's timeout ({self.timeout:g} s) passed while the scripts were loaded again: these "
                    f"operations were not sent", sent=False))
            else:
                held.replies = self._write(held.commands, held.made + self.timeout - now)
                held.written.set_result(None)
        # What is made from now on is written at once, behind these: also while calls of
        # this reload are refused (the load failed or came too late, a call answered
        # NOSCRIPT before one that ran) and their refusals not answered yet, a turn or two
        # (_answer_ready), unlike behind a pipeline that failed (_refusal_behind). Redis may
        # run such work (another node loaded the scripts), ahead of a refused call that its
        # caller sends again only once told. That breaks no promise: a message goes behind
        # its sender's message before it in its conversation while that one's answer is not
        # back (_behind), so Redis stores it only if that one was stored: it is refused
        # BEHIND (and told so) as the refused one did not run, and the relay's hold
        # (server/sendorder.py) takes them again in their order; a resend is recognised by
        # its request id (nothing stored twice). No operation ran after one submitted later:
        # the refused one never ran. Operations without such an order (an edit, a room's
        # change) may then run before the refused one's retry, as they may behind any
        # refusal Redis answers per call (OOM), whatever the scripts. None of them is of
        # the refused message: an edit or a delete names a message id, which Redis gives
        # (INCR) in the step that stores the message and its client learns from the answer,
        # so it cannot be made before the message ran; the change of an earlier message
        # leaves the conversation's order (its ids) as it was, and PROTOCOL.md promises the
        # order of messages, not of changes among them ("Order after a refusal for now").
        # (tests/unit/test_redis_store_unsure.py, ..._go_behind_the_one_answered_noscript.)
        if self._reload is reload:
            self._reload = None
        if failure is not None:  # not run: a pipeline none of whose calls ran fails as not sent
            for n, m in again:
                if all(_noscript(r) for r in reported[n][1]):
                    outcomes[n] = failure
                else:
                    outcomes[n][m] = RedisError("NOSCRIPT", f"not run: {failure}")
            return outcomes
        if sent_again is not None:
            try:
                replies = await sent_again
            except Exception as exc:  # perhaps run: the pipelines sent again fail so
                for n, _m in again:
                    outcomes[n] = exc
            else:
                for (n, m), reply in zip(again, replies):
                    if isinstance(outcomes[n], list):
                        outcomes[n][m] = reply
        return outcomes

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

    def _call_now(self, *command: str) -> Any:
        """Redis's answer to ``command``, on a blocking connection of its own (loading, at start)."""
        conn = self._blocking()
        try:
            return conn.call(*command)
        finally:
            conn.close()

    def _text_hash_now(self, name: str) -> dict[str, str]:
        """The hash ``name`` (under the prefix), its fields and values as text."""
        flat = self._call_now("HGETALL", self.prefix + name)
        return {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}

    def known_users(self) -> dict[str, str]:
        return self._text_hash_now("users")

    def blocks(self) -> list[tuple[str, str]]:
        conn = self._blocking()
        try:
            owners = [owner.decode() for owner in conn.call("SMEMBERS", self.prefix + "blockers")]
            sets = conn.pipeline([("SMEMBERS", self.prefix + "blocks:" + owner) for owner in owners])
        finally:
            conn.close()
        return sorted((owner, blocked.decode()) for owner, members in zip(owners, sets) for blocked in members)

    def accounts(self) -> dict[str, Account]:
        """Every account; each is also filed by its look-alike key (``alook``, lua.FILE_LOOKALIKES),
        which only the registrations of this version write: a cluster's CLAIM reads it."""
        conn = self._blocking()
        try:
            keys = [key.decode() for key in conn.call("SMEMBERS", self.prefix + "accts")]
            rows = conn.pipeline([("HMGET", self.prefix + "acct:" + key, "name", "pw", "salt", "kdf") for key in keys])
            accounts = {key: account for key, row in zip(keys, rows) if (account := _account(row)) is not None}
            pairs = [part for key, account in accounts.items() for part in (key, lookalike_key(account.name))]
            for first in range(0, len(pairs), 2 * FILE_LOOKALIKES_CHUNK):
                chunk = pairs[first:first + 2 * FILE_LOOKALIKES_CHUNK]
                reply = conn.call("EVALSHA", lua.BATCH.sha1, 0, self.prefix, lua.NUMBERS[lua.FILE_LOOKALIKES],
                                  len(chunk), *chunk)
                if isinstance(reply[0], RedisError):  # (the check is then only as good as the nodes' caches)
                    log.warning("Redis did not file the accounts by look-alike key: %s", reply[0])
                    break
        finally:
            conn.close()
        return accounts

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
        flat = self._call_now("HGETALL", self.prefix + "cred")
        live = {}
        for i in range(0, len(flat), 2):
            name_key, expires_at = flat[i + 1].decode().split("\t")
            if float(expires_at) > now:
                live[bytes.fromhex(flat[i].decode())] = Credential(name_key, float(expires_at))
        return live

    def rooms(self) -> dict[str, str]:
        return self._text_hash_now("rooms")

    def receipts_off(self) -> set[str]:
        return {member.decode() for member in self._call_now("SMEMBERS", self.prefix + "rcptoff")}

    # --- Re-reading one record (a cluster node that heard another changed it) ---------------

    def account(self, name_key: str, callback: Callback | None = None,
                on_error: ErrorCallback | None = None) -> None:
        """The account of ``name_key`` as Redis has it now, or None."""
        self._submit(lua.ACCOUNT, (name_key,), _account, callback, on_error)

    def holding(self, name_key: str, now: float, callback: Callback | None = None,
                on_error: ErrorCallback | None = None) -> None:
        """The guest holding of ``name_key`` as Redis has it now, or None; a holder noted
        online left at ``now`` (as in :meth:`guest_holdings`)."""
        self._submit(lua.HOLDING, (name_key,), lambda row: _holding(row, now), callback, on_error)

    def blocked_by(self, owner_key: str, callback: Callback | None = None,
                   on_error: ErrorCallback | None = None) -> None:
        """The set of keys ``owner_key`` blocks, as Redis has it now."""
        self._submit(lua.BLOCKED_BY, (owner_key,), lambda members: {m.decode() for m in members}, callback, on_error)

    def highest_msg_id(self, callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        """The highest message id given out by any node, as Redis has it now (0: none),
        which :meth:`last_msg_id` counts from then on: it only knows the ids this node has
        seen (and the counter each CLAIM of a login reads: :meth:`note_last_id`)."""
        def seen(value: int) -> int:
            self.note_last_id(value)
            return value
        self._submit(lua.LAST_ID, (), lambda reply: seen(int(reply)), callback, on_error)

    def note_last_id(self, value: int) -> None:
        """Redis said its message id counter stood at ``value`` (a cluster node's CLAIM
        reads it as a login claims its name): :meth:`last_msg_id` is at least that."""
        if value > self._last_msg_id:
            self._last_msg_id = value

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
        # Packed (lua.STORE_PACKED): the eight fields that hold no tab, one tab after each.
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
            script, args = ((lua.STORE_PACKED, (head + client_id, text)) if after is None
                            else (lua.STORE_PACKED_AFTER, (head + client_id, after, text)))
        else:  # a field with a tab (no name or key has one): each field an argument of its own
            script, args = lua.STORE, (sender_key, client_id, sender, recipient or "", recipient_key or "", text,
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
            if new == 3:  # its recipient blocks its sender, as Redis holds the block lists now
                return StoredMessage(msg_id, *fields[:7], "blocked", *fields[8:]), NEW
            if len(reply) > 2:  # routed in the same step: the nodes it went to
                self.routed = (msg_id, [node.decode() for node in reply[2]])
                if trace.ON:
                    trace.mark("a_id", (fields[1], fields[6], msg_id))
            return StoredMessage(msg_id, *fields), NEW
        stored, message = as_told(_message(value)), StoredMessage(0, *fields)
        return (stored, RESEND) if same_request(stored, message) else (message, ID_REUSED)

    def sent_under(self, sender_key: str, client_id: str, callback: Callback | None = None,
                   on_error: ErrorCallback | None = None) -> None:
        self._submit(lua.SENT_UNDER, (sender_key, client_id), lambda reply: as_told(_message(reply)) if reply else None,
                     callback, on_error)

    def record_receipt(self, msg_id: int, recipient_key: str, callback: Callback | None = None,
                       on_error: ErrorCallback | None = None, *, sender_key: str | None = None) -> None:
        if sender_key is None:  # read from the message
            self._submit(lua.RECEIPT, (msg_id, recipient_key), None, callback, on_error)
        else:
            self._many(lua.RECEIPTS, 3, (msg_id, recipient_key, sender_key), None, callback, on_error)

    def record_ack(self, msg_id: int, sender_key: str, callback: Callback | None = None,
                   on_error: ErrorCallback | None = None) -> None:
        self._many(lua.ACKS, 2, (msg_id, sender_key), bool, callback, on_error)

    def confirm_late(self, msg_id: int, recipient_key: str, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        self._submit(lua.CONFIRM_LATE, (msg_id, recipient_key),
                     lambda reply: (None if reply[0] is None else _message(reply[0]), _text(reply[1])),
                     callback, on_error)

    def restate(self, msg_id: int, state: str, callback: Callback | None = None,
                on_error: ErrorCallback | None = None) -> None:
        self._submit(lua.RESTATE, (msg_id, state), None, callback, on_error)

    def pending_for(self, recipient_key: str, after: int, limit: int, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None) -> None:
        self._submit(lua.PAGE, ("pend:" + recipient_key, after, limit), _messages, callback, on_error)

    def outcomes_for_sender(self, sender_key: str, after: int, limit: int, callback: Callback | None = None,
                            on_error: ErrorCallback | None = None) -> None:
        self._submit(lua.PAGE, ("untold:" + sender_key, after, limit), _told, callback, on_error)

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
        self._submit(lua.HISTORY, args, page, callback, on_error)

    def since(self, me_key: str, after: int, limit: int, callback: Callback | None = None,
              on_error: ErrorCallback | None = None) -> None:
        def page(reply: list) -> tuple[list[HistoryEntry], int | None]:
            rows, walked_to, top = reply
            entries = [history_entry(int(r[0]), _text(r[1]), _text(r[2]), _text(r[3]), float(r[4]), _text(r[5]),
                                     r[6], r[7] == b"1") for r in rows]
            return since_page(entries, limit, int(walked_to), int(top))

        self._submit(lua.SINCE, (me_key, after, limit, const.SINCE_SCAN), page, callback, on_error)

    def room_history(self, room_key: str, before: int | None, limit: int, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        def page(rows: list) -> tuple[list[HistoryEntry], int | None]:
            more = len(rows) > limit
            entries = [HistoryEntry(int(r[0]), _text(r[1]), _text(r[2]), _text(r[3]), float(r[4]), ROOM_MESSAGE_STATE,
                                    r[6] is not None and r[7] != b"1", r[7] == b"1")
                       for r in reversed(rows[:limit])]
            return entries, (entries[0].msg_id if more and entries else None)

        # lua.HISTORY on the room's set: no message in it is 'blocked', so "my key" is none.
        args = (room_posts_key(self.prefix, room_key), "", "" if before is None else before, 0, limit)
        self._submit(lua.HISTORY, args, page, callback, on_error)

    def expire(self, now: float, callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        self._submit(lua.EXPIRE, (repr(now),), _told, callback, on_error)

    def purge(self, older_than: float, unacknowledged_older_than: float | None,
              callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        args = (repr(older_than), "" if unacknowledged_older_than is None else repr(unacknowledged_older_than))
        self._submit(lua.PURGE, args, int, callback, on_error)

    def hand_over(self, name_key: str, epoch: int, callback: Callback | None = None,
                  on_error: ErrorCallback | None = None) -> None:
        self._submit(lua.HAND_OVER, (epoch, "0", name_key), _told, callback, on_error)

    def referenced(self, name_keys: list[str], callback: Callback | None = None,
                   on_error: ErrorCallback | None = None) -> None:
        self._submit(lua.REFERENCED, tuple(name_keys), lambda keys: [_text(key) for key in keys], callback, on_error)

    def forget_users(self, name_keys: list[str], epoch: int, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        self._submit(lua.HAND_OVER, (epoch, "1", *name_keys), _told, callback, on_error)

    def forget_guests(self, holdings: dict[str, Holding], epoch: int, node_id: str, lease: float, stream: str,
                      length: int, head: str, callback: Callback | None = None,
                      on_error: ErrorCallback | None = None) -> None:
        """A cluster node's :meth:`forget_users` (lua.FORGET_GUESTS: its rules): ``holdings``
        as the node's cache holds them. Result: None if another node holds the lease, else
        (the keys forgotten, what ended for their senders, as :meth:`forget_users`)."""
        args: list[Any] = [epoch, node_id, round(lease * 1000), stream, length, head]
        for key, holding in holdings.items():
            args += (key, holding.epoch, repr(holding.left_at))
        self._submit(lua.FORGET_GUESTS, tuple(args), _forgotten, callback, on_error)

    # --- After delivered: edit, delete, read -------------------------------------------------

    def change_message(self, msg_id: int, sender_key: str, text: str | None, now: float, window: float,
                       quiet_for: frozenset[str], callback: Callback | None = None, on_error: ErrorCallback | None = None,
                       *, may_post_in: frozenset[str] | None = None) -> None:
        self.change_message_announced(msg_id, sender_key, text, now, window, quiet_for, "", 0, "", callback, on_error,
                                      may_post_in=may_post_in)

    def change_message_announced(self, msg_id: int, sender_key: str, text: str | None, now: float, window: float,
                                 quiet_for: frozenset[str], stream: str, stream_length: int, head: str,
                                 callback: Callback | None = None, on_error: ErrorCallback | None = None,
                                 *, may_post_in: frozenset[str] | None = None,
                                 versions: dict[str, int] | None = None, default_room: str = "") -> None:
        """:meth:`change_message`, and a room post's change put on a cluster node's events
        ``stream`` (of about ``stream_length`` entries; "": none) in the same step, as an
        entry that starts with ``head`` (lua.CHANGE, bus.RoomPostChangeStored), so that no
        node misses a change that was stored.

        Redis runs it only until this store's timeout (and the clocks' skew allowed) has
        passed since now: a change answered ``unavailable`` (maybe done: Redis paused, a
        link that stalled after the write) that Redis ran once it resumed was stamped after
        any newer change of the message made meanwhile, and its older text stood. One Redis
        finds too late changes nothing and is answered unavailable, not done (if anyone still
        waits: a clock of Redis ahead of this node's by more than the skew allowed).

        ``versions`` (a cluster node's: room key -> version; None: none) are those of the
        rooms the change was decided on (``default_room``: the default room's key, whose
        posts have no recipient): a room post's edit or a moderator's delete is made only if
        its room is still at that version, else answered (mailbox.STALE, a
        mailbox.StaleRoom), nothing changed (lua.CHANGE)."""
        until = repr(time.time() + self.timeout + CLOCK_SKEW_LIMIT)
        held = "" if not versions else "\n".join(f"{key} {version}" for key, version in versions.items())
        args = (msg_id, "*" if sender_key is None else sender_key, "0" if text is None else "1", "" if text is None else text, repr(now),
                repr(window), "*" if may_post_in is None else "\n".join(sorted(may_post_in)), stream, stream_length,
                head, until, default_room, held, *sorted(quiet_for))

        def answered(result: tuple) -> None:
            if result[0] != "late":
                if callback is not None:
                    callback(result)
            elif on_error is not None:
                on_error(StoreUnavailable("Redis ran the change after its time: nothing was changed"))
        self._submit(lua.CHANGE, args, _change_reply, answered, on_error)

    def dm_changes(self, name_key: str, after_id: int, since: float, limit: int, callback: Callback | None = None,
                   on_error: ErrorCallback | None = None) -> None:
        self._submit(lua.DM_CHANGES, (name_key, after_id, repr(since), limit), _messages, callback, on_error)

    def room_changes(self, name_key: str, room_keys: list[str], limit: int, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None, *, seen: SeenMark | None = None) -> None:
        mark = ("", "") if seen is None else (seen.upto, seen.since_ms)
        self._submit(lua.ROOM_CHANGES, (name_key, limit, *mark, *room_keys),
                     lambda rows: sorted(_messages(rows), key=lambda m: m.msg_id), callback, on_error)

    def changes_for(self, recipient_key: str, after: int, limit: int, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None) -> None:
        self._submit(lua.PAGE, ("chg:" + recipient_key, after, limit), _messages, callback, on_error)

    def confirm_change(self, msg_id: int, recipient_key: str, at: float | None, callback: Callback | None = None,
                       on_error: ErrorCallback | None = None) -> None:
        self._submit(lua.CONFIRM_CHANGE, (msg_id, recipient_key, "" if at is None else repr(at)), bool, callback,
                     on_error)

    def record_read(self, reader_key: str, peer_key: str, msg_id: int, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None) -> None:
        self._submit(lua.RECORD_READ, (reader_key, peer_key, msg_id),
                     lambda reply: (None if reply[0] is None else int(reply[0]), bool(reply[1])), callback, on_error)

    def read_mark(self, reader_key: str, peer_key: str, callback: Callback | None = None,
                  on_error: ErrorCallback | None = None) -> None:
        self._submit(lua.READ_MARK, (reader_key, peer_key), lambda reply: None if reply is None else int(reply),
                     callback, on_error)

    def record_room_read(self, reader_key: str, room_key: str, msg_id: int, callback: Callback | None = None,
                         on_error: ErrorCallback | None = None) -> None:
        self._submit(lua.RECORD_ROOM_READ, (reader_key, room_key, msg_id),
                     lambda reply: (None if reply[0] is None else int(reply[0]), bool(reply[1])), callback, on_error)

    def room_read_marks(self, room_key: str, reader_keys: list[str], callback: Callback | None = None,
                        on_error: ErrorCallback | None = None) -> None:
        keys = list(reader_keys)
        self._submit(lua.ROOM_READ_MARKS, (room_key, *keys),
                     lambda reply: {key: int(mark) for key, mark in zip(keys, reply) if mark is not None},
                     callback, on_error)

    def set_read_receipts(self, name_key: str, on: bool, callback: Callback | None = None,
                          on_error: ErrorCallback | None = None) -> None:
        self._submit(lua.SET_READ_RECEIPTS, (name_key, "1" if on else "0"), None, callback, on_error)

    def set_read_receipts_announced(self, name_key: str, on: bool, stream: str, entry: bytes, stream_length: int,
                                    callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        """:meth:`set_read_receipts`, and a cluster node's ``entry`` on its events
        ``stream`` (of about ``stream_length`` entries) in the same step, so that no node
        misses a switch that was stored."""
        self._submit(lua.SET_READ_RECEIPTS, (name_key, "1" if on else "0", stream, entry, stream_length), None,
                     callback, on_error)

    # --- Users, blocks, guests, accounts ----------------------------------------------------

    def remember_user(self, name_key: str, name: str, now: float, callback: Callback | None = None,
                      on_error: ErrorCallback | None = None) -> None:
        self._submit(lua.REMEMBER_USER, (name_key, name, repr(now)), None, callback, on_error)

    def set_block(self, owner_key: str, blocked_key: str, blocked: bool, callback: Callback | None = None,
                  on_error: ErrorCallback | None = None) -> None:
        self._submit(lua.SET_BLOCK, (owner_key, blocked_key, "1" if blocked else "0"), None, callback, on_error)

    def clear_blocks(self, owner_key: str, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        self._submit(lua.CLEAR_BLOCKS, (owner_key,), None, callback, on_error)

    def save_holding(self, name_key: str, holding: Holding, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        args = (name_key, holding.name, holding.token_hash, holding.epoch,
                "" if holding.left_at is None else repr(holding.left_at))
        self._submit(lua.SAVE_HOLDING, args, bool, callback, on_error)

    def set_left_at(self, name_key: str, left_at: float | None, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None, holding: Holding | None = None) -> None:
        args = (name_key, "" if left_at is None else repr(left_at))
        if holding is not None:
            args += (holding.token_hash, holding.epoch)
        self._submit(lua.SET_LEFT_AT, args, bool, callback, on_error)

    def save_account(self, name_key: str, account: Account, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None, by_holder: bool = False,
                     hold: float | None = None, resumed: bool = False) -> None:
        """As base.py says: GUEST_ONLINE when the cluster's registry (``who``, under this
        store's prefix) has a guest online under the name, LooksLike when ``alook`` files its
        look-alike key under another account or ``glook`` under another guest name online
        (or, with ``hold``, held), GuestHeld when the name's holding (``guest:<key>``) is
        held, by this node's clock (lua.SAVE_ACCOUNT)."""
        now = time.time()
        args = (name_key, account.name, account.pw_hash, account.salt, account.kdf, repr(now),
                "1" if by_holder else "0", lookalike_key(account.name))
        if hold is not None:
            args += (repr(now), repr(hold), "1" if resumed else "0")
        self._submit(lua.SAVE_ACCOUNT, args, _saved, callback, on_error)


    def set_password(self, name_key: str, account: Account, keep: bytes | None, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        args = (name_key, account.pw_hash, account.salt, account.kdf, keep.hex() if keep else "")
        self._submit(lua.SET_PASSWORD, args, bool, callback, on_error)

    def save_account_credential(self, token_hash: bytes, credential: Credential, now: float,
                                callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        args = (token_hash.hex(), credential.name_key, repr(credential.expires_at), repr(now))
        self._submit(lua.SAVE_CREDENTIAL, args, None, callback, on_error)

    def revoke_account_credential(self, token_hash: bytes, callback: Callback | None = None,
                                  on_error: ErrorCallback | None = None) -> None:
        self._submit(lua.REVOKE_CREDENTIAL, (token_hash.hex(),), None, callback, on_error)

    def revoke_account_credentials(self, name_key: str, callback: Callback | None = None,
                                   on_error: ErrorCallback | None = None) -> None:
        self._submit(lua.REVOKE_CREDENTIALS, (name_key,), None, callback, on_error)


    def delete_account(self, name_key: str, epoch: int, holding: Holding, callback: Callback | None = None,
                       on_error: ErrorCallback | None = None) -> None:
        """As base.py says, a store several nodes share (DELETE_ACCOUNT reads the id counter)."""
        def deleted(reply: list) -> list[StoredMessage]:
            epoch, rows = int(reply[0]), reply[1]
            holding.epoch = epoch
            self.note_last_id(epoch)
            return _told(rows)

        args = (epoch, name_key, holding.name, holding.token_hash, repr(holding.left_at))
        self._submit(lua.DELETE_ACCOUNT, args, deleted, callback, on_error)

    def save_room(self, room_key: str, record: str | None, callback: Callback | None = None,
                  on_error: ErrorCallback | None = None) -> None:
        args = (room_key, "0", "") if record is None else (room_key, "1", record)
        self._submit(lua.SAVE_ROOM, args, None, callback, on_error)

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
        self._submit(lua.SAVE_ROOM_VERSIONED, args, _versioned, callback, on_error)

    def rooms_versioned(self, callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        """Every named room's record and version, as ({room key: record}, {room key:
        version}): what a cluster node's desk loads after it joins."""
        def answer(reply: list) -> tuple[dict[str, str], dict[str, int]]:
            records, versions = reply
            return ({_text(records[i]): _text(records[i + 1]) for i in range(0, len(records), 2)},
                    {_text(versions[i]): int(versions[i + 1]) for i in range(0, len(versions), 2)})
        self._submit(lua.ROOMS_VERSIONED, (), answer, callback, on_error)

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
        self._submit(lua.ROOM_POST, args, answer, callback, on_error)

    def store_room_say(self, message: StoredMessage, stream: str, head: str, stream_length: int,
                       callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        """A message of the default room (a ``say``) in a cluster: as :meth:`store_message`,
        and put on ``stream`` (entry ``head`` + its id + "}") in the same step, noted with
        the message (``se``) so that a delete takes it off the stream. Result as
        store_message's; a resend or a reused request id adds nothing to the stream."""
        args = (message.sender_key, message.client_id, message.sender, "", "", message.text, repr(message.sent_at),
                message.state, "", "", "", stream, head, stream_length,
                self._behind(message.sender_key, "", message.client_id) or "")
        self._submit(lua.ROOM_SAY, args, partial(self._stored, message), callback, on_error, True)

    def room_backlog(self, name_key: str, room_keys: list[str], limit: int, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        def answer(reply: list) -> tuple[list[StoredMessage], dict[str, int]]:
            rows, flat = reply
            cursors = {_text(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}
            return sorted(_messages(rows), key=lambda m: m.msg_id), cursors

        self._submit(lua.ROOM_BACKLOG, (name_key, limit, *room_keys), answer, callback, on_error)

    def set_room_cursors(self, name_key: str, cursors: dict[str, int], callback: Callback | None = None,
                         on_error: ErrorCallback | None = None) -> None:
        args = [name_key]
        for room_key, last_id in cursors.items():
            args += (room_key, last_id)
        self._submit(lua.SET_ROOM_CURSORS, tuple(args), None, callback, on_error)

    def room_joined(self, name_key: str, room_key: str, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None) -> None:
        self._submit(lua.ROOM_JOINED, (name_key, room_key), int, callback, on_error)


def _saved(reply: int | list) -> bool | str | LooksLike | GuestHeld:
    """lua.SAVE_ACCOUNT's reply, read (RedisStore.save_account)."""
    if isinstance(reply, list):
        return GuestHeld(float(reply[1])) if reply[0] == 2 else LooksLike(reply[1].decode())
    return GUEST_ONLINE if reply == 2 else bool(reply)


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
