"""One client connection on the server: an asyncio BufferedProtocol around a protocol.Connection.

The session only moves bytes: what arrives goes through the sans-I/O core, and each event
it yields goes to the relay, which decides what happens. Whatever the relay wants to say to
this client it hands to :meth:`ClientSession.send` (or :meth:`write_frame` for a frame
encoded once for many recipients).

Outgoing bytes wait in the transport's buffer, with two marks (``max_outgoing_bytes``
of the config, ``const.MAX_OUTGOING_BYTES``):

- the soft mark, half of it, is the transport's high-water mark: above it asyncio calls
  :meth:`pause_writing` and the session is :attr:`lagging` until the buffer has drained
  (:meth:`resume_writing`). Meanwhile the relay skips room messages to it and holds its
  direct messages back in the store, and once it drains the relay is told
  (``relay.drained``) so it can say what was skipped and send what waited;
- the hard mark, all of it: a client whose queue still passes it (it stopped reading,
  but its own requests' answers and notices keep coming) is dropped as a slow consumer,
  so one stuck client can never make the server's memory grow without bound. Before
  login the hard mark is const.MAX_OUTGOING_BYTES_BEFORE_LOGIN (:meth:`outgoing_limit`).

Under both, the others' mark (``max_outgoing_bytes // const.OTHERS_SHARE``): what other
users' acts make the server send (their edits and deletes, typing, comings and goings,
room notices and changes of posts) is written only while less than that waits
(:meth:`ClientSession.crowded`); past it, it is held, coalesced, dropped or counted as for
a lagging session, and follows once the queue is back under the mark (``relay.drained``).
So a crowd of others can keep at most that much queued ahead of a slow reader's own
direct messages and room posts, which still go up to the soft mark.

Reading can be held too (:meth:`hold_reading`): while a request whose answer can be
large (a history page, a ``who`` page...) waits for the ones before it or for the queue to
drain (server/intake.py), no further frame is handled
and the transport stops reading, so the client's own burst of requests cannot push its
queue past the hard mark; the frames already read wait, in order, until
:meth:`release_reading`. The same holds while a hello is decided off the loop (a
password's hash, a cluster's claim: Relay._hello), or a ``register`` or ``password``
(AccountDesk.in_order, server/accountdesk.py), so that the frames sent behind it are judged after its outcome; and
after a client's bye, while its last answers are awaited (:meth:`close_when_answered`).

Reading has a budget too, of bytes a second (``read_budget`` of the config,
const.READ_BYTES_*): frames that no rate counts (ping, pong, receipt, ack) still cost their
parsing, and one client writing them as fast as the server read held everyone's messages
back by 100 ms. Each read spends its bytes, or ``read_bytes_min_per_frame`` of the config for
each frame it ends if that is more (const.READ_BYTES_MIN_PER_FRAME: a tiny frame costs its
parsing too; :meth:`ClientSession.data_received`): one subtraction and one comparison, the clock
is looked at only once it is spent. Over it, the transport stops reading until the budget
refills, and TCP holds that client alone back (:meth:`ClientSession._read_budget_spent`).

Reads go into one buffer per thread (so per event loop), not a fresh one per read: see
:class:`_ReadBuffer`.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import socket
import sys
import threading
import time
from asyncio.trsock import TransportSocket
from collections.abc import Callable
from typing import TYPE_CHECKING

import const
from protocol import Connection, ErrorCode, ErrorReply, Event, LocalProtocolError, Role, State

from .addresses import endpoint
from .clocksteps import wall_ms
from .outbox import WriteBatcher

if TYPE_CHECKING:
    from .relay import Relay

log = logging.getLogger("chat.server")

# Bytes a read may take at most. A frame longer than this simply takes several reads.
READ_BUFFER_BYTES = 64 * 1024
# Seconds a closing connection has to take what was queued for it (its last frames, the
# reason it is closed): then it is cut, so that a peer that stopped reading cannot keep
# its connection, and the queue's memory, for ever.
CLOSE_GRACE = 2.0
# Seconds at most that a client's bye (or the end of its stream) waits for the answers to
# the requests read before it (a send's accepted comes once the message is stored): then
# the connection closes all the same (close_when_answered).
ANSWERS_WAIT = 2.0
# Bytes a read takes from a connection over its read budget (see _read_budget_spent): the
# frames of one read are handled in one go, and 64 KiB of pings held the loop 40 ms.
OVER_BUDGET_READ_BYTES = 4 * 1024
# What ClientSession.read_budget holds, less the bytes read since, while the connection is
# over its read budget: far below anything else it holds (at least minus one read), so
# that every read is counted, and get_buffer lends it the short buffer.
_OVER_BUDGET = -(1 << 40)
# Seconds the read budget's timer may come before the time it waits for and still read
# again (the loop runs timers early by its clock's resolution).
_READ_RESUME_SLACK = 0.001
# The leave reason of a client dropped as a slow consumer. Its one log line is the
# session's, written when it is found (with the bytes that waited and the mark they
# passed; the first per address and interval, then a count: _log_slow); the relay's
# logout line, which would say it again, is not written for it.
SLOW_CONSUMER = "slow consumer"
# The leave reason (in the log) of a connection that made way for a newer one from its full
# address (server/admission.py): one that had not logged in, or a session of the user who
# held the most there.
GAVE_WAY = "gave way to a newer connection from its address"


class _ReadBuffer(threading.local):
    """The buffer every session of this thread's event loop reads into.

    asyncio's plain ``Protocol`` path allocates 256 KiB for each ``recv``, which is mapped
    and unmapped for every small read (about 15 µs, a sixth of the server's CPU under
    load). A per-connection buffer would cost 64 KiB per idle connection. But asyncio calls
    ``get_buffer``, reads, and calls ``buffer_updated`` in one go, in the loop's thread,
    and the session copies the bytes out before it acts on them, so one buffer per
    thread can serve every connection of that loop (``threading.local``: servers started
    in several threads, as the tests do, each get their own).
    """

    def __init__(self) -> None:
        self.data = bytearray(READ_BUFFER_BYTES)
        self.view = memoryview(self.data)
        self.bite = self.view[:OVER_BUDGET_READ_BYTES]  # its start, for a connection over budget


_reads = _ReadBuffer()


@functools.lru_cache(maxsize=8)
def _write_marks(max_outgoing_bytes: int) -> tuple[int, int]:
    """The transport's (high, low) water marks: the soft mark and asyncio's default low
    one. Computed once, so that every transport refers to the same two int objects rather
    than keeping two of its own (64 bytes of each idle connection)."""
    high = max_outgoing_bytes // 2
    return high, high // 4


# The local address of the last connection accepted (see compact_extra).
_last_sockname: tuple | None = None
_ABSENT = object()


class _TransportExtra:
    """A socket transport's extra info, as asyncio's dict of it held it: ``socket``,
    ``sockname`` and ``peername``, in 64 bytes where the dict of three took 184, its
    wrapper of the socket 48 more, and the peer's address tuple 56 (see compact_extra).
    Read as asyncio reads its dict: ``get`` (``get_extra_info``), an item, ``in``;
    nothing is added to it after the transport is made. The socket is asyncio's wrapper
    of it (``TransportSocket``, which keeps a transport's user from reading or closing it
    under the transport), made when asked for: rarely (a send buffer set, a test), and
    each wrapper answers alike. An IPv4 peer's ``(host, port)`` is kept as its two parts
    (``_port`` None: any other ``peername``, kept whole in ``_peer``), and made when asked
    for, equal to the one asyncio kept."""

    __slots__ = ("_sock", "sockname", "_peer", "_port")

    def __init__(self, sock: socket.socket, sockname: object, peer: object, port: int | None) -> None:
        self._sock, self.sockname, self._peer, self._port = sock, sockname, peer, port

    def get(self, name: str, default: object = None) -> object:
        if name == "peername":
            return self._peer if self._port is None else (self._peer, self._port)
        if name == "sockname":
            return self.sockname
        return TransportSocket(self._sock) if name == "socket" else default

    def __getitem__(self, name: str) -> object:
        value = self.get(name, _ABSENT)
        if value is _ABSENT:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return name in ("socket", "sockname", "peername")


def compact_extra(transport: asyncio.BaseTransport, port: int | None = None) -> None:
    """Let the transport keep its extra info in a small object of shared parts.

    asyncio's socket transport keeps ``socket``, ``peername`` and ``sockname`` (from
    ``accept`` and ``getsockname``) for ``get_extra_info`` in a dict: 184 bytes, its
    wrapper of the socket 48, and two tuples, two strings and two ints, 290 bytes more,
    of an idle connection's 2.5 KiB budget (issue 9). The three are kept in a
    :class:`_TransportExtra` instead, which answers as the dict did. Every connection to
    one listener has the same ``sockname``, and all those from one machine the same
    peer address: the same values, kept once. The tuple of the last connection's
    ``sockname`` is reused when equal (bounded: one tuple), the peer's address is
    interned (``sys.intern``: freed with its last user), and the peer's port is ``port``
    (the session's, as the listener took it from ``accept``) when equal, not an int of
    its own. The ``_extra`` dict is asyncio's own attribute, read only by
    ``get_extra_info`` once the transport is made (CPython 3.11 to 3.13), so this is done
    only where it is a dict of exactly those three keys; elsewhere nothing changes.
    """
    global _last_sockname
    extra = getattr(transport, "_extra", None)
    if type(extra) is not dict or len(extra) != 3 or type(extra.get("socket")) is not TransportSocket:
        return
    sockname, peer = extra.get("sockname", _ABSENT), extra.get("peername", _ABSENT)
    if sockname is _ABSENT or peer is _ABSENT:
        return
    if type(sockname) is tuple:
        if sockname == _last_sockname:
            sockname = _last_sockname
        else:
            _last_sockname = sockname
    peer_port = None
    if type(peer) is tuple and len(peer) == 2 and type(peer[0]) is str and type(peer[1]) is int:
        peer, peer_port = sys.intern(peer[0]), port if port == peer[1] else peer[1]
    elif type(peer) is tuple and peer and type(peer[0]) is str:
        peer = (sys.intern(peer[0]), *peer[1:])
    transport._extra = _TransportExtra(extra["socket"]._sock, sockname, peer, peer_port)  # type: ignore[attr-defined]


# One empty context per thread (so per event loop) that welcomed connections read in (see
# slim_reader).
_empty_contexts = threading.local()


def slim_reader(session: object) -> None:
    """Let the reader of ``session``'s transport keep two objects fewer: its context and
    a bound method.

    asyncio's selector loop makes a ``Handle`` for each socket it reads, and a handle
    copies the context it is made in (``contextvars.copy_context``): a ``Context`` of 64
    bytes kept by every idle connection (issue 9), and empty, as this server sets no
    context variable. An empty context runs a callback as any other empty one does, so
    the handle of a connection just welcomed gets the one of its thread (of its loop:
    one callback runs at a time there, so the shared context is never entered twice).
    The handle calls the transport's ``_read_ready``, a bound method (64 bytes) whose
    only work is to call ``_read_ready_cb``, the transport's own read callback for its
    protocol, which it keeps anyway: the handle calls that one itself now (a call less
    per read, too). Only where asyncio's selector holds the transport's own reader
    handle with an empty context, calling its ``_read_ready``. Called on login, not on
    connect (asyncio adds the reader a loop turn after ``connection_made``), and each
    time reading resumes (asyncio adds its reader again: a password's hello is decided
    while reading is held). (This server never changes a transport's protocol, which
    would change ``_read_ready_cb``.)
    """
    transport = getattr(session, "transport", None)  # (none: a session made by hand, as in tests)
    keys = getattr(getattr(getattr(transport, "_loop", None), "_selector", None), "_fd_to_key", None)
    key = keys.get(getattr(transport, "_sock_fd", None)) if type(keys) is dict else None
    data = getattr(key, "data", None)
    handle = data[0] if type(data) is tuple and data else None
    if type(handle) is not asyncio.Handle or type(handle._context) is not contextvars.Context or len(handle._context):
        return
    callback, read = handle._callback, getattr(transport, "_read_ready_cb", None)
    if (getattr(callback, "__self__", None) is not transport or getattr(read, "__self__", None) is not transport
            or getattr(callback, "__func__", None) is not getattr(type(transport), "_read_ready", None)):
        return
    shared = getattr(_empty_contexts, "context", None)
    if shared is None or len(shared):  # (a variable set in it: a fresh one from then on)
        shared = _empty_contexts.context = contextvars.Context()
    handle._context, handle._callback = shared, read


def unlink_own_callbacks(transport: asyncio.BaseTransport | None) -> None:
    """Break the reference cycles a closed asyncio socket transport keeps with itself.

    asyncio's selector socket transport keeps ``_read_ready_cb``, a bound method of its
    own, from ``set_protocol`` on (CPython 3.11 to 3.13), and never clears it: every
    connection, once lost, is a cycle (the transport, its extra-info dict, its socket
    objects: about 700 bytes) that reference counting cannot free. From 3.12 on it keeps
    ``_write_ready`` too (``_write_sendmsg``), cleared by ``close()`` but not when the
    connection is lost otherwise (a reset, a failed TLS handshake, ``abort``). The real
    server tames the collector (app._tame_gc): such cycles wait for the full collection, up
    to _FULL_GC_LATEST under steady traffic, so memory grew in a straight line with the
    logins (a soak's 130 kB a minute). Called from ``connection_lost``: asyncio has removed
    the reader and the writer by then (close and abort do it first), so nothing calls them
    any more. Only these attributes of asyncio's, and only when they are the transport's
    own bound methods; any other transport (a test's fake; TLS's own: see unlink_tls) is
    left as it is.
    """
    for attribute in ("_read_ready_cb", "_write_ready"):
        callback = getattr(transport, attribute, None)
        if callback is not None and getattr(callback, "__self__", None) is transport:
            setattr(transport, attribute, None)


def socket_transport_under(transport: asyncio.BaseTransport) -> asyncio.BaseTransport | None:
    """The socket transport that carries asyncio's TLS transport ``transport``, or None
    (a plain transport, a test's fake). Asked at ``connection_made``: asyncio's TLS
    protocol forgets it when the connection is lost, before the session hears of it."""
    tls = getattr(transport, "_ssl_protocol", None)
    return getattr(tls, "_transport", None) if tls is not None else None


def unlink_tls(transport: asyncio.BaseTransport | None, socket_transport: asyncio.BaseTransport | None,
               protocol: asyncio.BaseProtocol) -> None:
    """Break the reference cycles a closed TLS connection keeps (seen in CPython 3.11).

    Over TLS the session's transport is asyncio's ``_SSLProtocolTransport``, which keeps
    its ``SSLProtocol``, which keeps the session's ``get_buffer`` and ``buffer_updated``
    as bound methods and never lets them go (its ``connection_lost`` drops the app protocol
    but not these two): the session, both of them and the TLS state (buffers, memory BIOs,
    the SSL object), about 23 objects, are a cycle. asyncio breaks it only when the TLS
    transport is closed a second time (CPython gh-98539), which this server never does.
    Beneath it, ``socket_transport`` is a cycle of its own (see unlink_own_callbacks).
    Called from ``connection_lost``: the TLS protocol is unwrapped by then and never reads
    again (its ``_do_read`` returns at once), so nothing calls the two methods any more.
    Only those attributes of asyncio's, and only when they are ``protocol``'s methods.
    """
    unlink_own_callbacks(socket_transport)
    tls = getattr(transport, "_ssl_protocol", None)
    if tls is None:
        return
    for attribute in ("_app_protocol_get_buffer", "_app_protocol_buffer_updated"):
        if getattr(getattr(tls, attribute, None), "__self__", None) is protocol:
            setattr(tls, attribute, None)


class ClientSession(asyncio.BufferedProtocol):
    """The server's end of one client connection."""

    __slots__ = ("relay", "conn", "transport", "address", "port", "name", "key", "registered",
                 "connected_at", "last_seen", "pinged", "inflight", "backlog", "backlog_cursor", "backlog_loading",
                 "logging_in", "bucket", "bad_frames", "closing", "leave_reason", "batcher", "_unsent",
                 "byte_bucket", "write_paused", "skipped", "held", "_unsent_bytes", "_buffered", "epoch",
                 "direct_stored", "holds", "reading_held_since", "socket_transport", "read_budget", "read_full_at",
                 "_resuming")

    def __init__(self, relay: Relay, batcher: WriteBatcher) -> None:
        self.relay = relay
        self.batcher = batcher
        # Frames waiting for the end of this loop turn (see outbox.py); None when empty.
        self._unsent: list[bytes] | None = None
        self._unsent_bytes = 0  # their total size
        # What the transport held after the last flush: it only shrinks until the next one,
        # so with _unsent_bytes it bounds the queue from above (see _write).
        self._buffered = 0
        # True from pause_writing to the loop turn after resume_writing: the transport holds
        # more than the soft mark (see the module docstring).
        self.write_paused = False
        # Kept by the relay while the session lags: room messages skipped (to be told), and
        # whether something was held back until it drains (direct messages, a large
        # request: server/intake.py), so that relay.drained is called then.
        self.skipped = 0
        self.held = False
        # Its pongs say the server's time; until the welcome, frames of the login limit only.
        self.conn = Connection(Role.SERVER, clock=wall_ms, max_login_frame_bytes=const.MAX_LOGIN_FRAME_BYTES)
        self.transport: asyncio.Transport | None = None
        self.address = "?"
        self.port = 0
        # Set by the relay once the hello is accepted; None while logging in.
        self.name: str | None = None
        self.key: str | None = None  # the canonical form of name
        self.registered = False  # logged in to an account (with its password)
        # Message ids up to this belong to earlier holders of this guest name (see guests.py):
        # this session gets none of them, nor news of them. Set by the relay at login.
        self.epoch = 0
        self.logging_in = False  # a hello is being checked (password hashing takes a while)
        # When the connection was made, for the login timeout; None once welcomed (the relay
        # lets it go then: nothing else reads it).
        self.connected_at: float | None
        self.connected_at = self.last_seen = time.monotonic()
        # The read budget (see the module docstring, _read_budget_spent): the bytes that
        # may still be read before they are counted, and when the budget will be full
        # again had nothing more been read (any time past: full; 0.0, one float for all
        # sessions, where the connection's start kept its own alive, 24 bytes of each
        # idle connection, once connected_at and last_seen had moved on).
        self.read_budget = relay.config.read_check_bytes
        self.read_full_at = 0.0
        # True once a heartbeat ping went out unanswered; any frame from the client clears it.
        self.pinged = False
        # msg_ids of direct messages sent to this client and not yet confirmed; created on
        # first use to keep idle sessions small. Bounded by config.max_pending_receipts.
        self.inflight: set[int] | None = None
        # True when the store may hold messages for this user that were not sent to this
        # session yet (the in-flight set was full); backlog_cursor is the last msg_id fetched.
        self.backlog = False
        self.backlog_cursor = 0
        self.backlog_loading = False  # a fetch of waiting messages is under way
        self.bucket = None  # this connection's rate limit (limits.TokenBucket), on first request
        self.byte_bucket = None  # its budget of message bytes (limits.TokenBucket), on first message
        # The relay's callbacks for the store's answer to this session's direct messages
        # and for its failure (a pair), made on its first one and kept (not one closure per
        # message; issue 9, rounds twelve and seventeen); the relay drops them when the
        # session ends. (The object's size: see socket_transport.)
        self.direct_stored = None
        # Conversations held behind a message refused for now (server/sendorder.py); None: none.
        self.holds = None
        self.bad_frames = 0
        self.closing = False
        # When the server stopped reading this client (hold_reading), or None: frames
        # behind a request that must wait are not handled meanwhile (server/intake.py).
        self.reading_held_since: float | None = None
        # Why the session ended, for the log and the "left" notice; set by whoever ends it.
        self.leave_reason = "disconnected"
        # Over TLS, the socket transport beneath ``transport`` (socket_transport_under),
        # else None: connection_lost unlinks both (unlink_tls).
        self.socket_transport: asyncio.BaseTransport | None = None
        # The call that resumes writing at the next loop turn (see resume_writing), or None.
        # With it the object is 320 bytes (sys.getsizeof, CPython 3.11), 312 before: the
        # same 320-byte class of pymalloc's (16 bytes apart), so the slot costs nothing.
        self._resuming: asyncio.Handle | None = None

    def __repr__(self) -> str:
        return f"{self.name or '(login)'}@{endpoint(self.address, self.port)}"

    # --- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        # socket_transport_under's two steps, without its call: a guest login is counted in
        # Python calls (tests/integration/test_login_cost.py; issue 9's 10,000 logins).
        tls = getattr(transport, "_ssl_protocol", None)
        self.socket_transport = None if tls is None else getattr(tls, "_transport", None)
        compact_extra(transport, self.port)
        # The listener set the address as it admitted it (an IPv4-mapped one as IPv4:
        # server/addresses.py); a session made without one (tests, a bench) takes the peer's.
        if self.address == "?":
            peer = transport.get_extra_info("peername")
            if peer:
                self.address, self.port = peer[0], peer[1]
        self.set_chat_write_limits()
        self.relay.connected(self)

    def set_chat_write_limits(self) -> None:
        """Make the transport's high-water mark the soft mark (see the module docstring),
        and set the socket's kernel send buffer if the config says so."""
        config = self.relay.config
        high, low = _write_marks(config.max_outgoing_bytes)
        self.transport.set_write_buffer_limits(high=high, low=low)  # type: ignore[attr-defined]
        if config.socket_send_buffer is not None:  # (else no get_extra_info: a call per login)
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, config.socket_send_buffer)

    def get_buffer(self, sizehint: int) -> memoryview:
        # The shared buffer: whatever is read is copied out by buffer_updated at once. Its
        # start only for a connection over its read budget (see _read_budget_spent); and
        # for one read of another when the bytes it reads before they are counted are used
        # up to the byte (harmless: the next read is the whole buffer again).
        return _reads.view if self.read_budget > 0 else _reads.bite

    def buffer_updated(self, nbytes: int) -> None:
        # Copied before anything else runs: handling these bytes may write, close or
        # call into other sessions, never read, but the buffer is not ours to keep.
        self.data_received(_reads.view[:nbytes].tobytes())
        # The read budget, per read and not per frame: one subtraction, one comparison
        # (the bytes are counted against it once per config.read_check_bytes).
        left = self.read_budget = self.read_budget - nbytes
        if left < 0:
            self._read_budget_spent()

    def _read_budget_spent(self) -> None:
        """Count the bytes read since the clock was last looked at (``read_check_bytes`` of
        the config, or a read more) against the read budget (const.READ_BYTES_*): if they
        took it below nothing, stop reading until it is back to nothing (TCP then holds
        this client back, and no one else); a timer reads again then
        (:meth:`_read_budget_refilled`). The frames already read are handled as usual;
        nothing is refused.

        The budget is a token bucket kept as the time it will be full again, had nothing
        more been read (``read_full_at``; GCRA's "theoretical arrival time"): reading n
        bytes moves that time on by n / rate from now or from itself, whichever is later,
        and the budget is spent when it is more than burst / rate ahead. Counted once per
        ``read_check_bytes``, so in any T seconds a connection is read at most rate x T,
        the burst, ``read_check_bytes`` and one read.

        Once over it, until a read finds it back under, the connection is counted at
        every read and read in bites of OVER_BUDGET_READ_BYTES (``read_budget`` holds
        _OVER_BUDGET less the bytes read since): what one read hands the loop at once is
        then a millisecond or two of frames, not the 40 ms of a whole buffer of pings."""
        config = self.relay.config
        rate, burst = config.read_budget
        left = self.read_budget
        spent = (_OVER_BUDGET if left < _OVER_BUDGET // 2 else config.read_check_bytes) - left
        now = time.monotonic()
        full_at = self.read_full_at
        full_at = self.read_full_at = (full_at if full_at > now else now) + spent / rate
        wait = full_at - now - burst / rate  # until the budget is back to nothing
        if wait <= 0.0:
            self.read_budget = config.read_check_bytes
            return
        self.read_budget = _OVER_BUDGET
        if self.closing or self.transport is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # a session driven by hand, outside a loop (tests): nothing would resume it
        self.transport.pause_reading()
        # One timer per stop: one set by an earlier stop that reads under way (TLS, a
        # WebSocket's) made longer finds the budget still spent, and leaves it to this one.
        loop.call_later(wait, self._read_budget_refilled)

    def _read_budget_refilled(self) -> None:
        """The read budget's timer: read again, unless reading is still stopped."""
        if not self.closing:
            self._resume_reading()

    def _resume_reading(self) -> None:
        """Read from the transport again, unless something still stops it: a request that
        waits (:meth:`hold_reading`) or the read budget (spent: see _read_budget_spent)."""
        if self.reading_held_since is not None or self.closing or self.transport.is_closing():
            return
        rate, burst = self.relay.config.read_budget
        if self.read_full_at - time.monotonic() - burst / rate <= _READ_RESUME_SLACK:
            self.transport.resume_reading()
            slim_reader(self)  # asyncio made its reader afresh, with what slim_reader lets go

    def data_received(self, data: bytes) -> None:
        """What arrived from the client (subclasses for other transports override this)."""
        # Each frame costs the read budget the least a frame costs (const.READ_BYTES_MIN_PER_FRAME):
        # a read counts as its bytes, or that much for each newline it holds if more. Per
        # read, as the bytes are (one count in C, not a step per frame): a big frame's bytes
        # may pay for the small ones of its read, but a read of n frames costs n times the
        # least at least, so no more frames than that pass the budget.
        owed = data.count(b"\n") * self.relay.config.read_bytes_min_per_frame - len(data)
        if owed > 0:
            self.read_budget -= owed  # (buffer_updated takes the bytes and looks at the budget)
        self.receive_chat(data)

    def receive_chat(self, data: bytes) -> None:
        """Feed chat-protocol bytes from the client and act on the events they complete.

        Subclasses for other transports (WebSocket) call this with the unwrapped bytes.
        """
        now = self.last_seen = time.monotonic()
        self.pinged = False
        conn = self.conn
        if data:  # (none: release_reading handles the frames that waited)
            conn.receive_data(data, now)  # with the time: the sweeper bounds unfinished frames
            if self.reading_held_since is not None:
                return  # they wait behind the request that holds reading, in order
        handle, next_event = self.relay.handle, conn.next_event
        # What conn.events() yields, without resuming a generator for every frame.
        while (event := next_event()) is not None:
            handle(self, event)
            if self.closing:
                return
            if self.reading_held_since is not None:
                break  # the rest waits for release_reading
        pongs = conn.data_to_send()
        if pongs:
            self._write(pongs)

    def eof_received(self) -> bool:
        self.conn.receive_data(b"")
        for event in self.conn.events():
            self.relay.handle(self, event)
            if self.reading_held_since is not None:
                break  # nothing after a request that waits is handled out of its order
        # True keeps the writing side open while the relay waits for the last answers
        # (close_when_answered closes it); over TLS asyncio cannot half-close: it closes.
        return not self.closing and self.socket_transport is None and self.conn.state is State.CLOSING

    def connection_lost(self, exc: Exception | None) -> None:
        # Whether the client said goodbye, vanished (reset, closed laptop) or was dropped,
        # this is the one place the relay forgets the session.
        self.closing = True
        self.unlink_transports()
        self.relay.admission.release(self.address, self)  # admitted at accept (server/listener.py)
        self.relay.disconnected(self, exc)

    def unlink_transports(self) -> None:
        """Break the cycles the lost connection's asyncio transports keep, so that reference
        counting frees them (plain: unlink_own_callbacks; TLS: unlink_tls)."""
        if self.socket_transport is None:
            unlink_own_callbacks(self.transport)
        else:
            unlink_tls(self.transport, self.socket_transport, self)
            self.socket_transport = None

    def pause_writing(self) -> None:
        # The client's outgoing buffer passed the soft mark: it reads slower than we write.
        if self._resuming is not None:
            self._resuming.cancel()  # it never stopped being paused
            self._resuming = None
        self.write_paused = True

    def resume_writing(self) -> None:
        # The buffer is back under the low-water mark. asyncio calls this from inside its
        # write handler, which then ends a closing transport whose buffer it has emptied,
        # without counting the connection lost: a close or abort made from here (what
        # follows a drain may end the session: the last answer to pipelined requests, a
        # bye's) has the connection lost twice (CPython 3.11 to 3.13's selector transport;
        # tests/integration/test_transport_endings.py). So it is done at the next loop turn;
        # until then the session still counts as paused, so nothing overtakes what was held.
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._writing_resumed()  # a session driven by hand, outside a loop (tests)
            return
        self._resuming = loop.call_soon(self._resume_now)

    def _resume_now(self) -> None:
        self._resuming = None
        self._writing_resumed()

    def _writing_resumed(self) -> None:
        """What was held back while the buffer was over the soft mark may follow
        (subclasses for other kinds of connection do their own)."""
        self.write_paused = False
        if not self.closing:
            self.relay.drained(self)

    # --- Held reading (server/intake.py) ------------------------------------------------

    def hold_reading(self) -> None:
        """Handle no further frame from this client, and stop reading from its transport,
        until :meth:`release_reading`."""
        if self.reading_held_since is None:
            self.reading_held_since = time.monotonic()
            if self.transport is not None:
                self.transport.pause_reading()

    def release_reading(self, first: Callable[[], None] | None = None) -> None:
        """At the next loop turn: call ``first`` (the request that waited, if any), then handle the
        frames that waited behind it and read again, unless ``first`` held reading anew.
        The time reading was held does not count against the client's heartbeat or
        unfinished frame: we were not listening."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._release(first)  # a session driven by hand, outside a loop (tests)
            return
        loop.call_soon(self._release, first)

    def _release(self, first: Callable[[], None] | None) -> None:
        held = self.reading_held_since
        if held is None or self.closing:
            return
        now = time.monotonic()
        self.reading_held_since = None
        self.last_seen = now
        self._unheld(now - held)
        if first is not None:
            first()
        if self.reading_held_since is None and not self.closing:
            self._handle_waiting()
        self._resume_reading()

    def _unheld(self, held: float) -> None:
        """Move the start of an unfinished frame on by the ``held`` seconds we did not read."""
        if self.conn.unfinished_since is not None:
            self.conn.unfinished_since += held

    def _handle_waiting(self) -> None:
        """Handle the frames that waited while reading was held (subclasses for other
        transports hand over what their own layer kept)."""
        self.receive_chat(b"")

    def stalled(self, held: float) -> None:
        """Reading has been held for ``held`` seconds, waiting for this client to read what
        it was sent (its queue over the soft mark): it is a slow consumer (one log line:
        see SLOW_CONSUMER)."""
        waiting = self._unsent_bytes + (self.transport.get_write_buffer_size() if self.transport else 0)
        self._log_slow("disconnect %r: slow consumer (%d bytes waiting, over the soft mark for %.0f s)",
                       self, waiting, held)
        self.end(ErrorCode.SLOW_CONSUMER, f"what was sent to this client was not read within {held:.0f} s; "
                 "closing the connection", SLOW_CONSUMER, drop_queued=True)

    def _log_slow(self, msg: str, *args: object) -> None:
        """The one line of a slow consumer's leaving (see SLOW_CONSUMER), summarised per
        address like the other lines a client can cause at will (server/logsummary.py):
        a client can make itself one as often as it can connect, and a class behind one
        address can stall at once on a bad link."""
        self.relay.log_lines.log("slow consumer{s}", self.address, logging.WARNING, msg, *args)

    # --- Used by the relay --------------------------------------------------------------

    def outgoing_limit(self) -> int:
        """The hard mark (see the module docstring): ``max_outgoing_bytes`` of the config
        once logged in; before, no more than const.MAX_OUTGOING_BYTES_BEFORE_LOGIN, since all
        the server sends then is pongs, errors and refusals, and a peer that reads none of
        them may hold many connections."""
        limit = self.relay.config.max_outgoing_bytes
        return limit if self.name is not None else min(limit, const.MAX_OUTGOING_BYTES_BEFORE_LOGIN)

    @property
    def unfinished_since(self) -> float | None:
        """When the first byte of a frame still unfinished arrived (time.monotonic()), or
        None; the sweeper closes the connection when that is older than frame_timeout."""
        return self.conn.unfinished_since

    @property
    def lagging(self) -> bool:
        """True while the transport holds more than the soft mark for this client, or more
        than a quarter of the hard one was written to it during this loop turn: so what
        one turn adds to a transport just under the soft mark stays under the hard one."""
        return self.write_paused or self._unsent_bytes > self.relay.config.max_outgoing_bytes // 4

    def crowded(self) -> bool:
        """True if what another user's act makes the server send this client is not to be
        written now: more than the others' mark waits for it (see the module docstring).
        A lagging session is crowded too, with no check of its own: over the soft mark its
        transport holds more than the low-water mark (a quarter of it) until
        ``resume_writing``, and a turn's writes past a quarter of the hard mark are more
        than the others' mark. Not lagging, the relay looks again every
        const.OTHERS_RECHECK seconds and calls ``drained`` once it is not crowded
        (``relay.recheck_later``): asyncio tells of the soft mark only. Asked where such a
        frame is sent, never on a direct message's or a room post's way: the bound of the
        queue first (no call; a presence batch asks every session), the transport's
        figure only past it."""
        mark = self.relay.config.max_outgoing_bytes // const.OTHERS_SHARE
        if self._buffered + self._unsent_bytes <= mark:
            return False
        self._buffered = self.transport.get_write_buffer_size()  # the bound's real figure (see _write)
        if self._buffered + self._unsent_bytes <= mark:
            return False
        if not self.write_paused:
            self.relay.recheck_later(self)
        return True

    @property
    def is_open(self) -> bool:
        """True while the session is logged in and not being closed."""
        return not self.closing and self.conn.state is State.OPEN

    def send(self, event: Event) -> None:
        """Send ``event`` to this client; skipped once the session is closing (there is
        nobody left to read it). A transport that asyncio closed under the session (a
        reset or an end of stream; connection_lost comes at a next loop turn) gets nothing
        either, but is asked where that matters rather than for every event (issue 9,
        round eleven: 0.6% of a message's instructions): :meth:`flush` writes nothing to
        it (asyncio would log every such write), and :meth:`_write` does not take it for
        a slow consumer."""
        if self.closing:
            return
        try:
            data = self.conn.send(event)
        except LocalProtocolError as exc:
            # The client's stream has ended (eof_received) and connection_lost, which marks
            # the session closing, comes at a next loop turn: another session's leaving in
            # this turn may still send here (a Queued). Nobody is left to read it. Otherwise
            # it is a relay bug, not the client's fault: log it.
            # CLOSING: the client said bye; only the answers it waits for still go to it.
            if self.conn.state is not State.CLOSED and self.conn.state is not State.CLOSING:
                log.error("not sent to %r: %s", self, exc)
            return
        # _write's usual case, here: three frames a direct message come this way (issue
        # 9, round perfpy: a Python call fewer each); a frame that may pass the hard mark
        # is _write's to weigh.
        unsent_bytes = self._unsent_bytes + len(data)
        unsent = self._unsent
        if unsent is None or unsent_bytes + self._buffered > self.relay.config.max_outgoing_bytes:
            self._write(data)
            return
        self._unsent_bytes = unsent_bytes
        unsent.append(data)

    def write_pongs(self) -> None:
        """Write the pongs the core queued for the pings read so far (its outbox), now: in
        their place among this turn's answers, not after those read behind them."""
        pongs = self.conn.data_to_send()
        if pongs:
            self._write(pongs)

    def write_frame(self, frame: bytes) -> None:
        """Write frames already encoded for many recipients (room messages, notices)."""
        if self.is_open and not self.transport.is_closing():
            self._write(frame)

    def _write(self, data: bytes) -> None:
        self._unsent_bytes += len(data)
        # (outgoing_limit, without its call for a session logged in: room messages come this way)
        limit = self.relay.config.max_outgoing_bytes if self.name is not None else self.outgoing_limit()
        if self._unsent_bytes + self._buffered > limit:
            if self.transport.is_closing():
                # Closed under the session (see send): what it still holds are our last
                # frames, flushed before it closes, or nothing; this frame would never be
                # written (flush drops it), so drop it now, not the connection.
                self._unsent_bytes -= len(data)
                return
            # The queue may pass the hard mark with this frame: check the transport's real
            # figure (the bound above may be stale), and drop the client before this turn
            # adds more, rather than after it (one turn can queue a great deal).
            self._buffered = self.transport.get_write_buffer_size()
            waiting = self._unsent_bytes + self._buffered
            if waiting > limit:
                self._slow_consumer(waiting, limit)
                return
        if self._unsent is None:
            self._unsent = [data]
            self.batcher.add(self)
        else:
            self._unsent.append(data)

    def flush(self) -> None:
        """Hand the frames waiting in this turn to the transport (called by the batcher);
        drop the client if its queue is now over the hard mark."""
        unsent, self._unsent = self._unsent, None
        self._unsent_bytes = 0
        if not unsent or self.transport.is_closing():
            return
        self._transmit(unsent)
        waiting = self._buffered = self.transport.get_write_buffer_size()
        limit = self.relay.config.max_outgoing_bytes if self.name is not None else self.outgoing_limit()
        if waiting > limit:
            self._slow_consumer(waiting, limit)
        elif (self.skipped or self.held) and not self.write_paused:
            # Something was held back while this turn's frames were over the soft mark,
            # and the transport took them without pausing: nothing will call
            # resume_writing, so this is the moment it drained.
            self.relay.drained(self)

    def _slow_consumer(self, waiting: int, limit: int) -> None:
        """Drop the client, whose queue passed the hard mark: the one log line of its
        leaving (see SLOW_CONSUMER), then its ``slow_consumer`` error."""
        self._log_slow("disconnect %r: slow consumer (%d bytes waiting, over the limit of %d)", self, waiting, limit)
        # What this turn queued is dropped; the reason goes behind what the transport
        # holds: one small frame past the limit, and CLOSE_GRACE bounds how long it waits.
        self.end(ErrorCode.SLOW_CONSUMER, f"more than {limit} bytes were waiting for this client to read them; "
                 "closing the connection", SLOW_CONSUMER, drop_queued=True)

    def _transmit(self, chunks: list[bytes]) -> None:
        """Write chat frames to the transport. Each chunk holds one or more whole frames,
        each ending in a newline; subclasses for other transports re-wrap them."""
        self.transport.write(chunks[0] if len(chunks) == 1 else b"".join(chunks))

    def close_when_answered(self, reason: str, answered: Callable[[Callable[..., None]], None]) -> None:
        """The client said bye or ended its stream (its core is CLOSING): handle nothing more
        from it, and close as :meth:`close` does once the answers to the requests read
        before are out: when ``answered`` calls the function it is given (with any
        arguments), or after ANSWERS_WAIT seconds at most."""
        self.leave_reason = reason
        self.hold_reading()  # (the sweeper leaves a held session alone: the wait is bounded here)

        def done(*_result: object) -> None:
            self.close()
        answered(done)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # a session driven by hand, outside a loop (tests)
        loop.call_later(ANSWERS_WAIT, done)

    def close(self, reason: str | None = None, error: str | None = None) -> None:
        """Close after what is queued has been written (goodbyes, final errors), or cut
        the connection if the peer has not taken it all within CLOSE_GRACE seconds.
        ``error``: the code of the chat error just sent, that the client is closed for
        (a WebSocket's close code says it: server/web.py); nothing to TCP."""
        if reason is not None:
            self.leave_reason = reason
        if not self.closing:
            self.closing = True
            self.flush()
            self.transport.close()
            self._cut_later()

    def give_way(self, message: str) -> None:
        """Its address is full and it has not logged in (or its user holds the most sessions
        there): it makes way for a newcomer (server/admission.py), told why; logged once,
        summarised, as it goes (relay.disconnected)."""
        self.end(ErrorCode.TOO_MANY_CONNECTIONS, message, GAVE_WAY)

    def end(self, code: str, message: str, reason: str, drop_queued: bool = False) -> None:
        """Disconnect the client and tell it why: the ``error`` frame ``code`` with
        ``message`` after what is queued (nothing of it with ``drop_queued``), then close
        as :meth:`close` does. The frame goes out even past the outgoing limit (a slow
        consumer): one small frame more, for at most CLOSE_GRACE seconds. ``reason`` is
        the leave reason (the log, the ``left`` notice). Nothing if already closing."""
        if self.closing:
            return
        self.leave_reason = reason
        self.closing = True
        unsent = None if drop_queued else self._unsent
        self._unsent, self._unsent_bytes = None, 0
        transport = self.transport
        if transport is None or transport.is_closing():
            return  # closed under the session: nobody left to tell
        try:
            unsent = [*(unsent or ()), self.conn.send(ErrorReply(code, message))]
        except LocalProtocolError:
            pass  # the client's stream has ended (see send): the frame could not be read
        if unsent:
            self._transmit(unsent)
        self._close_transport(code)

    def _close_transport(self, code: str) -> None:
        """Close the transport after what it holds, once :meth:`end` wrote the reason
        (subclasses for other transports close their own way, naming ``code``)."""
        self.transport.close()
        self._cut_later()

    def _cut_later(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # a session driven by hand, outside a loop (tests): nothing to wait for
        loop.call_later(CLOSE_GRACE, self._cut)

    def _cut(self) -> None:
        # Only while the connection lasts: asyncio's transports forget their protocol once
        # the connection is lost, and a socket transport that ended it on its own (the peer
        # took what close() left) would end it again on abort, and raise (see resume_writing).
        if self.transport.get_protocol() is not None:
            self.transport.abort()

    def abort(self, reason: str) -> None:
        """Drop the connection at once, discarding what is queued for it."""
        self.leave_reason = reason
        self.closing = True
        self._unsent = None
        self._unsent_bytes = 0
        if self.transport is not None:
            self.transport.abort()
