"""One chat connection, either end, as a state machine that never touches a socket.

Use it like this::

    conn = Connection(Role.CLIENT)
    sock.sendall(conn.send(Hello("1", "Alice", PROTOCOL_VERSION)))
    while True:
        conn.receive_data(sock.recv(65536))       # b"" when the peer closed
        for event in conn.events():
            ...                                    # Welcome, DirectMessage, ConnectionClosed...
        sock.sendall(conn.data_to_send())          # pongs the core wrote by itself

The rules of the session, both roles, in one table (``_SENDABLE``)::

    state      client may send                      server may send
    ---------  -----------------------------------  ------------------------------------
    HANDSHAKE  hello, ping, pong, bye               welcome (-> OPEN), error, ping, pong,
                                                    bye
    OPEN       send, say, receipt, ack, who,        everything a server sends except
               whois, watch, unwatch, ping, pong,   welcome
               bye, and (features) read, typing,
               edit, delete, edit_receipt, settings,
               since
    CLOSING    nothing                              the answers (events with a request
                                                    id, and pong) it could send before
    CLOSED     nothing                              nothing

A side moves to OPEN when the welcome passes (sent by the server, received by the client).
A client's ``bye`` moves both sides to CLOSING, as the end of the client's stream moves the
server: the server still answers the requests it read before (a ``send``'s ``accepted``
comes once the message is stored), then closes. A server's ``bye`` moves both to CLOSED,
as the end of the server's stream moves the client. What one side
may send is what the other may receive: a frame that breaks the table, or is malformed, is
yielded as :class:`FrameRejected` and the connection goes on; sending one raises
:class:`LocalProtocolError`. Every buffer is bounded by ``max_frame_bytes``, and in time:
fed with ``receive_data(data, now)``, the core says since when its unfinished frame has
been waiting (:attr:`Connection.unfinished_since`), so the shell can bound how long a peer
may keep one open (``const.FRAME_TIMEOUT``).

Versions: the welcome's ``version`` is the one the session speaks. In OPEN, an event newer
than that (its class's ``SINCE``) is not sendable, and one received is ``unknown_type``, as
it was for a peer of that version: so an older client never sees a room frame.
:func:`negotiate` is the rule by which a server picks the version.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from enum import Enum
from typing import Any

import const

from . import codec
from .errors import ErrorCode, LocalProtocolError
from .events import (
    WIRE_EVENTS,
    ConnectionClosed,
    Event,
    FrameRejected,
    Goodbye,
    Hello,
    Ping,
    Pong,
    Welcome,
)


class Role(Enum):
    CLIENT = "client"
    SERVER = "server"

    # Enum's own __hash__ is a Python function (hash of the member's name): each table
    # lookup below by (role, state) paid two Python calls, seven per login (issue 9). A
    # member is the only object equal to itself, so the identity hash is as good.
    __hash__ = object.__hash__


class State(Enum):
    HANDSHAKE = "handshake"
    OPEN = "open"
    CLOSING = "closing"  # the client said bye (or ended its stream): answers only
    CLOSED = "closed"

    __hash__ = object.__hash__  # as Role's


def _sent_by(role: str) -> frozenset[type[Event]]:
    return frozenset(cls for cls in WIRE_EVENTS if cls.SENDER in (role, "both"))


_CLIENT_EVENTS = _sent_by("client")
_SERVER_EVENTS = _sent_by("server")
_CONTROL = frozenset({Ping, Pong, Goodbye})

# (role of the sender, state) -> event classes it may send then.
_SENDABLE: dict[tuple[Role, State], frozenset[type[Event]]] = {
    (Role.CLIENT, State.HANDSHAKE): _CONTROL | {Hello},
    (Role.CLIENT, State.OPEN): _CLIENT_EVENTS - {Hello},
    (Role.SERVER, State.HANDSHAKE): _CONTROL | {Welcome, codec.TYPES["error"]},
    (Role.SERVER, State.OPEN): _SERVER_EVENTS - {Welcome},
    (Role.CLIENT, State.CLOSED): frozenset(),
    (Role.SERVER, State.CLOSED): frozenset(),
}
# The newest protocol version this core speaks, and what each role may send in OPEN at each
# version: the table above, less the events newer than the session (their SINCE).
LATEST_VERSION = max(cls.SINCE for cls in WIRE_EVENTS)
_OPEN_SENDABLE: dict[tuple[Role, int], frozenset[type[Event]]] = {
    (role, version): frozenset(cls for cls in _SENDABLE[(role, State.OPEN)] if cls.SINCE <= version)
    for role in Role for version in range(1, LATEST_VERSION + 1)}


def negotiate(offered: int, lowest: int = 1, highest: int = LATEST_VERSION) -> int | None:
    """The version a server that speaks ``lowest`` to ``highest`` opens a session at, for
    a hello that offers ``offered``: that one, if it speaks it; None: it cannot
    (``unsupported_version``, and the client may try an older version)."""
    return offered if lowest <= offered <= highest else None


# Events that move the session on, by (kind, role of the side that sends it): the same
# move whichever end the core is. A client's bye leaves the server its answers (CLOSING).
_TRANSITIONS: dict[tuple[type[Event], Role], State] = {
    (Welcome, Role.SERVER): State.OPEN,
    (Goodbye, Role.CLIENT): State.CLOSING,
    (Goodbye, Role.SERVER): State.CLOSED,
}
_MOVING = frozenset(kind for kind, _sender in _TRANSITIONS)
# Where the end of the peer's stream leaves this side: a server may still answer a client
# that closed its writing side; a client has nobody left to talk to.
_AT_END: dict[Role, State] = {Role.SERVER: State.CLOSING, Role.CLIENT: State.CLOSED}
# What a server may still send in CLOSING, among what it could send before: the answers to
# requests (every server event that carries the request's id, but the welcome) and pongs.
_ANSWERS = frozenset(cls for cls in _SERVER_EVENTS
                     if "request_id" in getattr(cls, "__dataclass_fields__", ()) and cls is not Welcome) | {Pong}


_FAST = codec._FAST  # the message path's encoders (see Connection.send)

_NO_FRAMES: tuple[()] = ()  # what Connection._frames is while it is empty (see there)

# The other end's role: looked up, not kept per connection (a slot fewer puts the core in
# pymalloc's 160-byte class rather than 176: 16 bytes of every idle connection; issue 9).
_PEER: dict[Role, Role] = {Role.CLIENT: Role.SERVER, Role.SERVER: Role.CLIENT}


def _wire_types(classes: frozenset[type[Event]]) -> dict[str, type[Event]]:
    # A variant (events.VARIANTS) is found through the older event of its type.
    return {cls.TYPE: cls for cls in classes if codec.TYPES.get(cls.TYPE) is cls}


# Every type a peer in this role can ever send, by its wire name: one table per role,
# shared by every connection (one per connection was a seventh of an idle one's memory).
_PEER_TYPES: dict[Role, dict[str, type[Event]]] = {
    Role.CLIENT: _wire_types(_CLIENT_EVENTS), Role.SERVER: _wire_types(_SERVER_EVENTS)}

# A send table's value for an event that moves the session on (_TRANSITIONS): encoded
# by codec.encode, then the state changes. Any other value is the kind's encoder.
_MOVES = object()


def _send_table(sendable: frozenset[type[Event]]) -> dict[type[Event], Any]:
    """``sendable`` as Connection.send uses it: each kind this side may send, mapped to its
    encoder (the message path's fast one, else the generic one), or to :data:`_MOVES`.
    Derived from the sendable set, never written by hand: one lookup per frame instead of
    three (the set, codec._FAST, _TRANSITIONS; issue 9, round twelve)."""
    return {kind: _MOVES if kind in _MOVING else _FAST.get(kind, codec.encode) for kind in sendable}


# What each (role, state), and in OPEN each (role, version), lets the two sides send: the
# triple (this side's sendable, the peer's, this side's send table), one slot of the core
# rather than three (issue 9).
_RULES: dict[tuple[Role, State], tuple[frozenset, frozenset, dict]] = {
    (role, state): (_SENDABLE[(role, state)], _SENDABLE[(_PEER[role], state)], _send_table(_SENDABLE[(role, state)]))
    for role, state in _SENDABLE}
_OPEN_RULES: dict[tuple[Role, int], tuple[frozenset, frozenset, dict]] = {
    (role, version): (_OPEN_SENDABLE[(role, version)], _OPEN_SENDABLE[(_PEER[role], version)],
                      _send_table(_OPEN_SENDABLE[(role, version)]))
    for role, version in _OPEN_SENDABLE}


@functools.lru_cache(maxsize=32)  # one per role and state left (a handful)
def _closing_rules(role: Role, own: frozenset, peer: frozenset) -> tuple[frozenset, frozenset, dict]:
    """The rules of CLOSING, from those of the state left (``own``, ``peer``: what each side
    could send then): the server keeps its answers among what it could send (so a session
    of version 1 is never sent a room's answer), the client sends nothing."""
    if role is Role.SERVER:
        own, peer = own & _ANSWERS, frozenset()
    else:
        own, peer = frozenset(), peer & _ANSWERS
    return own, peer, _send_table(own)


class _Fixed:
    """What a connection is given at its start and never changes: its role, the peer's
    types, the two limits and the clock its pongs say. One object shared by every
    connection made alike (see :func:`_fixed`), so a connection keeps one slot for them
    instead of five: the core is 128 bytes, not 160, of every idle connection (issue 9).
    ``max_frame`` is the frame limit now; ``opened`` is what the connection keeps from the
    welcome on (itself, unless the limit before the welcome is smaller)."""

    __slots__ = ("role", "peer_types", "max_frame", "max_text", "clock", "opened")

    def __init__(self, role: Role, max_frame: int, max_text: int, clock: Callable[[], int] | None,
                 opened: _Fixed | None = None) -> None:
        self.role = role
        # Every type the peer can ever send: anything else is "unknown" rather than
        # "not now", so a client cannot even name a system notice.
        self.peer_types = _PEER_TYPES[_PEER[role]]
        self.max_frame = max_frame
        self.max_text = max_text
        self.clock = clock
        self.opened = self if opened is None else opened


@functools.lru_cache(maxsize=32)  # bounded; a connection made after an eviction gets an equal one
def _fixed(role: Role, max_frame: int, max_text: int, clock: Callable[[], int] | None,
           max_login_frame: int) -> _Fixed:
    if max_login_frame >= max_frame:
        return _Fixed(role, max_frame, max_text, clock)
    return _Fixed(role, max_login_frame, max_text, clock, _fixed(role, max_frame, max_text, clock, max_frame))


class Connection:
    """The protocol state of one connection, seen from ``role``.

    ``max_frame_bytes`` bounds a frame (and so the receive buffer); ``max_text_chars``
    bounds message text. Both default to the limits in ``const.py``. ``max_login_frame_bytes``
    (None: ``max_frame_bytes``), if smaller, bounds them instead until the welcome, so that a
    peer not logged in cannot have a buffer of ``max_frame_bytes`` kept (a server's, at
    const.MAX_LOGIN_FRAME_BYTES). A frame is judged by the limit of the state it is taken
    in: one that came whole behind the hello, before the welcome, has the whole limit. ``clock`` (a server's:
    its wall clock in ms since the epoch, PROTOCOL.md "Either direction") is said as ``now``
    in every pong this connection answers a ping with; None: no ``now`` (a client's).
    """

    # Twelve slots: 128 bytes, pymalloc's class below 144 (see _Fixed and _RULES).
    __slots__ = ("_fixed", "state", "_buffer", "_discarding", "_eof", "_outbox",
                 "_frames", "_close_pending", "_rules", "_eof_seen", "_next_frame", "unfinished_since")

    def __init__(self, role: Role, max_frame_bytes: int = const.MAX_FRAME_BYTES,
                 max_text_chars: int = const.MAX_TEXT_CHARS, clock: Callable[[], int] | None = None,
                 max_login_frame_bytes: int | None = None) -> None:
        self._fixed = _fixed(role, max_frame_bytes, max_text_chars, clock,
                             max_frame_bytes if max_login_frame_bytes is None else max_login_frame_bytes)
        self._enter(State.HANDSHAKE)
        # Bytes of the frame(s) not yet split off. Empty, it is the shared b"" (an idle
        # connection keeps no buffer); a read that follows an empty buffer is kept as it
        # came (bytes, no copy); only bytes that must be added to go in a bytearray.
        self._buffer: bytes | bytearray = b""
        # True while skipping the rest of an oversized frame, up to its newline.
        self._discarding = False
        self._eof = False
        self._eof_seen = False
        self._close_pending = False
        self._outbox = b""  # pongs to send; rare, so an immutable b"" until there is one
        # Complete frames split off the buffer but not yet turned into events, consumed
        # from index _next_frame. A list, not a deque: an empty deque costs 600 bytes, a
        # fifth of what an idle connection is allowed (see the benchmark). Empty, it is
        # the shared _NO_FRAMES, like the buffer: a list only while it holds some.
        self._frames: list[bytes | None] | tuple[()] = _NO_FRAMES
        self._next_frame = 0
        # When the frame now being received began (its first byte arrived), or None when
        # the bytes so far end on a frame boundary. Kept only when receive_data gets a time.
        self.unfinished_since: float | None = None

    @property
    def role(self) -> Role:
        """Which end of the connection this core is."""
        return self._fixed.role

    def _enter(self, state: State, version: int = 1) -> None:
        # The table is looked up on state changes only, not per frame: hashing enum keys
        # showed up in the server's profile.
        self.state = state
        if state is State.OPEN:
            self._fixed = self._fixed.opened  # the whole frame limit from the welcome on
            version = min(max(version, 1), LATEST_VERSION)
            self._rules = _OPEN_RULES[(self._fixed.role, version)]
            return
        if state is State.CLOSING:
            own, peer, _table = self._rules
            self._rules = _closing_rules(self._fixed.role, own, peer)
            return
        self._rules = _RULES[(self._fixed.role, state)]

    # --- Outgoing -----------------------------------------------------------------------

    def send(self, event: Event) -> bytes:
        """Return the bytes that put ``event`` on the wire, and advance the state.

        Raises :class:`LocalProtocolError` if this role may not send ``event`` now.
        """
        kind = type(event)
        # One lookup: whether this side may send it now, and how it is encoded (see
        # _send_table). The message path's frames have fast encoders (codec._FAST), called
        # here directly, one call fewer per frame.
        encoder = self._rules[2].get(kind)
        if encoder is None:
            raise LocalProtocolError(
                f"a {self.role.value} cannot send {kind.__name__} in state {self.state.name}")
        if encoder is not _MOVES:
            return encoder(event)
        # First: an event that cannot be encoded changes nothing.
        frame = codec.encode(event)
        self._enter(_TRANSITIONS[(kind, self._fixed.role)], getattr(event, "version", 1))
        return frame

    def may_send(self, kind: type[Event]) -> bool:
        """True if :meth:`send` would take an event of ``kind`` now: the state and the
        session's version allow it (for a shell that writes encoded frames itself)."""
        return kind in self._rules[0]

    def data_to_send(self) -> bytes:
        """Bytes the core decided to send by itself (pongs); empties the outbox."""
        out, self._outbox = self._outbox, b""
        return out

    # --- Incoming -----------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float | None = None) -> None:
        """Feed bytes that arrived from the peer; ``b""`` means the peer closed.

        ``now`` (any clock, in seconds) is when they arrived: with it, the core keeps
        :attr:`unfinished_since`, the arrival time of the first byte of the frame still
        unfinished after these bytes (None if they end on a newline). Only a newline ends
        a frame, so a peer that trickles bytes of one frame does not move it.
        """
        if now is not None and data:
            # (Its last byte and ``in``, not rfind: see next_event.)
            if data[-1:] == b"\n":
                self.unfinished_since = None
            elif b"\n" in data:
                self.unfinished_since = now
            elif self.unfinished_since is None:
                self.unfinished_since = now
        if not data:
            # Only the first end of stream counts: it yields the one ConnectionClosed.
            if not self._eof_seen:
                self._eof = self._eof_seen = True
            return
        if self._discarding:
            end = data.find(b"\n")
            if end < 0:
                return
            self._discarding = False
            data = data[end + 1:]
        buffer = self._buffer
        if not buffer:
            # Usually whole frames: split from the bytes as they came. A caller's
            # bytearray or memoryview is copied, since it may change after this call.
            buffer = self._buffer = data if type(data) is bytes else bytes(data)
        elif type(buffer) is bytes:  # a second piece of an unfinished frame: now a bytearray
            buffer = self._buffer = bytearray(buffer)
            buffer += data
        else:
            buffer += data
        if len(buffer) >= self._fixed.max_frame:
            # Split now rather than in next_event(), so the buffer stays within the limit
            # even if the caller feeds several reads before asking for events.
            self._split_frames()

    def events(self) -> Iterator[Event]:
        """Yield every event that the bytes received so far complete (see next_event).

        Safe to abandon part-way: what was not yielded stays for the next call.
        """
        while (event := self.next_event()) is not None:
            yield event

    def next_event(self) -> Event | None:
        """Return the next complete event, or None when more data is needed.

        After EOF it returns, once, a ``truncated_frame`` rejection if a partial frame was
        left, then :class:`ConnectionClosed`, then None.
        """
        while True:
            if self._next_frame < len(self._frames):
                frame = self._frames[self._next_frame]
                self._next_frame += 1
                if frame is None:
                    return self._too_large()
                # The frame's event, here rather than in a method of its own: the one
                # caller, once a frame (issue 9, round eighteen: a Python call fewer).
                # (A slice's comparison, not endswith: a method that CPython calls with a
                # tuple of its arguments, parsed, for every frame; round fourteen.)
                fixed = self._fixed
                if len(frame) >= fixed.max_frame:
                    # Split off whole under the limit after the welcome (see _split_frames)
                    # but taken before it: judged by the smaller limit, its newline counted.
                    return self._too_large()
                if frame[-1:] == b"\r":  # tolerate CRLF from line-oriented tools (telnet, nc -C)
                    frame = frame[:-1]
                if not frame or frame.isspace():
                    continue  # blank lines are keep-alives, not errors
                event = codec.decode(frame, fixed.peer_types, fixed.max_text)
                if type(event) is FrameRejected:
                    return event
                kind = type(event)
                if kind not in self._rules[1]:
                    return self._out_of_order(event)
                if kind in _MOVING:
                    self._enter(_TRANSITIONS[(kind, _PEER[fixed.role])], getattr(event, "version", 1))
                if kind is Ping:
                    clock = fixed.clock
                    self._outbox += codec.encode(Pong(event.token, None if clock is None else clock()))
                return event
            if not self._buffer:
                # All taken and nothing left to split (what _split_frames would find, without
                # the call: every read ends here once; issue 9).
                if self._next_frame:
                    self._frames, self._next_frame = _NO_FRAMES, 0
                break
            if not self._split_frames():
                break
        if self._eof:
            self._eof = False
            self._close_pending = True
            if self.state is not State.CLOSED:
                self._enter(_AT_END[self._fixed.role])
            leftover, self._buffer = self._buffer, b""
            if leftover and not leftover.isspace():
                return FrameRejected(ErrorCode.TRUNCATED_FRAME, "the stream ended inside a frame")
        if self._close_pending:
            self._close_pending = False
            return ConnectionClosed()
        return None

    def _split_frames(self) -> bool:
        """Move complete frames from the buffer to the queue; False if there were none.

        An oversized frame is queued as None so it is reported in its place in order.
        """
        buffer = self._buffer
        frames = self._frames
        if self._next_frame:
            if self._next_frame < len(frames):
                del frames[:self._next_frame]
            else:
                frames = self._frames = _NO_FRAMES  # all taken
            self._next_frame = 0
        if not buffer:
            return bool(frames)
        if frames is _NO_FRAMES:
            frames = self._frames = []
        kept = type(buffer) is bytes  # slices of bytes are bytes already: one copy, not two
        if kept and len(buffer) <= self._fixed.max_frame:
            # The usual read: bytes as they came, too short to hold an oversized frame, so
            # one split() does what the loop below does a frame at a time.
            *whole, rest = buffer.split(b"\n")
            if not whole:  # no newline yet
                if not frames:
                    self._frames = _NO_FRAMES
                    return False
                return True
            frames += whole
            self._buffer = rest
            return True
        start = 0
        # A whole frame is kept if within the limit after the welcome (next_event judges it
        # by the limit when it is taken: a frame behind the hello waits for its outcome);
        # what is unfinished is held to the limit now (below).
        whole_limit = self._fixed.opened.max_frame
        while (end := buffer.find(b"\n", start)) >= 0:
            if end + 1 - start > whole_limit:
                frames.append(None)
            else:
                frames.append(buffer[start:end] if kept else bytes(buffer[start:end]))
            start = end + 1
        if start:
            if start == len(buffer):
                buffer = self._buffer = b""  # all split: let the buffer go
            elif kept:
                buffer = self._buffer = buffer[start:]
            else:
                del buffer[:start]
        if len(buffer) >= self._fixed.max_frame:
            # No newline within the limit: drop what we have and the rest of the frame.
            self._buffer = b""
            self._discarding = True
            frames.append(None)
        if not frames:
            self._frames = _NO_FRAMES
            return False
        return True

    def _too_large(self) -> FrameRejected:
        return FrameRejected(ErrorCode.FRAME_TOO_LARGE, f"frame exceeds {self._fixed.max_frame} bytes")

    def _out_of_order(self, event: Event) -> FrameRejected:
        request_id = getattr(event, "request_id", None)
        if self.state is State.HANDSHAKE:
            return FrameRejected(ErrorCode.NOT_LOGGED_IN, f"'{event.TYPE}' is not allowed before logging in",
                                 request_id)
        if (self.state is State.OPEN and event.SINCE > 1
                and event.__class__ in _SENDABLE[(_PEER[self.role], State.OPEN)]):
            return FrameRejected(ErrorCode.UNKNOWN_TYPE, f"'{event.TYPE}' of protocol version {event.SINCE} "
                                 "is not part of the version this session speaks", request_id)
        if self.state is State.OPEN:
            return FrameRejected(ErrorCode.ALREADY_LOGGED_IN, f"'{event.TYPE}' is only allowed once, to log in",
                                 request_id)
        return FrameRejected(ErrorCode.NOT_LOGGED_IN, f"'{event.TYPE}' arrived after the session ended",
                             request_id)
