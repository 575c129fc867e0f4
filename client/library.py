"""The threaded chat client: one socket, one receiver thread, one lock around the core.

Modelled on websockets' threaded client. The sans-I/O :class:`client.core.ClientCore`
holds every session rule (request matching, resending, reconciling, acks, throttling,
heartbeats, watch lists, which failures are worth a reconnection) over the sans-I/O
:class:`protocol.Connection`; this module only moves bytes and time into it, waits, and
runs the reconnect loop over the core's pure ``failover``/``backoff`` generators::

    client = ChatClient("Alice", on_event=handle)     # or read client.events (a Queue)
    client.connect()                                  # -> Welcome, or raises
    msg = client.send_direct("Bob", "hi")             # -> OutgoingMessage tracker
    msg.wait({"delivered", "queued"}, timeout=10)
    client.who(timeout=5)                             # -> [Presence, ...]
    client.history("Bob", 20)                         # -> [HistoryEntry, ...] oldest first
    client.close()

Threads. After :meth:`ChatClient.connect` a receiver thread owns ``recv()`` and a writer
thread owns ``send()`` (client/writer.py). Every use of the core, and every hand-over of its
bytes to the writer, happens under one lock (``_lock``), so ``send_*``, ``who``, ``lookup``
and ``close`` may be called from any thread while the receiver runs; the bytes of one frame
are never interleaved with another's. The lock is never held while calling the
application, while waiting for an answer, or while writing to the socket: a server that
stops reading does not freeze a ``send_*`` call (the writer's bounds say when such a
connection is given up). A blocking request (``who``,
``lookup``, ``history``...) made on the receiver thread (from ``on_event``) would stall every
event for its whole timeout, since its answer can only be read by that same thread: it
raises :class:`~client.errors.CalledFromReceiver` at once instead (use ``watch_soon``, or
call it from another thread); so does a tracker's ``OutgoingMessage.wait()`` there (its
progress comes as ``MessageUpdate`` events).

What the application receives, in order, on the receiver thread (``on_event``) or through
``client.events``: every event the core yields (``DirectMessage``, ``RoomMessage``,
``RoomPost`` and ``RoomNotice`` (named rooms, protocol version 2),
``UserJoined``, ``UserLeft``, ``Goodbye``, unmatched ``ErrorReply``, ``FrameRejected``...),
plus :class:`~client.events.Reconnecting` and :class:`~client.events.Reconnected`, EXCEPT
the answers matched to a request of this client. Those are consumed: ``Accepted``,
``Queued``, ``Delivered`` and ``ErrorReply`` for a sent message update its tracker and are
replaced by one :class:`~client.outgoing.MessageUpdate`; ``UserList``, ``LookupResult``,
``HistoryPage``, ``Watching``, ``RoomInfo``, ``RoomList``, ``MemberList``, ``Done`` and
``ErrorReply`` for the blocking requests are
returned (or raised) by that call; the ``Watching`` answers of the watches a reconnection
renews (see :meth:`ChatClient.watch`) are handed on. ``Delivered`` (or an ``expired``
ErrorReply) for a request id this object never sent is passed on as it is: the server
tells the outcome of messages sent by an earlier run right after the welcome. An answer
that comes after its caller gave up waiting (RequestTimeout) is not handed on: what it says
of this client's state is applied (:meth:`ChatClient.register`,
:meth:`ChatClient.change_password`, :meth:`ChatClient.set_read_receipts`, an edit's or a
delete's change), and a change's is said by an :class:`~client.events.AnsweredLate` (those
three, block and unblock, unregister, edit and delete, and the room acts from join to
set_mode, with the request sent, for a front end's own state); a watch's is kept and its
``Watching`` handed on (as :meth:`ChatClient.watch_soon`'s); the late answers to reads
(who, lookup, the lists...) are dropped (client/core.py, ``stop_waiting``).
When the session ends for good, unfinished messages fail (``connection_lost``, one
MessageUpdate each), then exactly one ``ConnectionClosed`` is delivered, then ``closed`` is
set.

Reconnecting (``reconnect=True``, the default). When the connection drops without the
server's ``bye`` (reset, end of stream, heartbeat silence), or with it when
``reconnect_on_goodbye`` is set (interactive front ends: a planned stop or restart of the
server is then survived like a crash), the receiver thread opens a new session by itself:
it waits ``reconnect_delay`` seconds, doubling after each failed round up to
``reconnect_max_delay``, with +-20 % jitter so that many clients cut off together do not
come back in lockstep. With several ``servers`` it tries them in turn, from the one it lost
round the list (failover; see :func:`client.core.failover`). It logs in again with the same
name and the password kept in memory, or for a guest the resume token it was given (client/resume.py). The application
sees ``Reconnecting(attempt, delay, reason)`` before each wait and
``Reconnected(welcome, resent)`` once the session is back (the first login is retried
only when :meth:`ChatClient.connect` is asked to); ``closed`` stays clear and no
``ConnectionClosed`` is delivered in between. Refusals that cannot get better by waiting
(``bad_password``, ``invalid_name``... the ``retry`` column of
:data:`client.core.LOGIN_OUTCOMES`; an unverifiable certificate) end the session for good instead;
so do :meth:`close` and, unless ``reconnect_on_goodbye``, the server's ``bye``.

The session rules the core keeps (exactly once in both directions, receipts only after
hand-off, outcome acks, request ids, reconciling after a reconnection, heartbeats) are
described once, in :mod:`client.core`.

Back-pressure. ``client.events`` holds up to ``EVENT_QUEUE_SIZE`` events; when it is full
the receiver waits for room, which stops it reading the socket, so an application that
stops draining the queue slows the server's sends to it instead of growing memory here.

TLS (``tls=True``), with ``ssl.create_default_context(cafile=...)``: the server's certificate
must chain to the system's trusted CAs (or to ``cafile``) and match ``host``; otherwise
:class:`~client.errors.CertificateError` ("cannot verify the server's certificate: ...").
The socket stays a plain one and TLS runs in memory (client/tlsbio.py), so that the receiver
and the writer never use OpenSSL's connection object at the same time.
"""

from __future__ import annotations

import logging
import queue
import selectors
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress

import const
from protocol import RoomTyping  # typing in rooms (issue 13)
from protocol import SincePage, SinceRequest  # feature since (catching up after a reconnection)
from protocol import (
    Appoint,
    Ban,
    Block,
    Blocking,
    BlockList,
    Connection,
    ConnectionClosed,
    Delete,
    Done,
    Edit,
    ErrorCode,
    ErrorReply,
    Event,
    HistoryEntry,
    HistoryPage,
    HistoryRequest,
    Invite,
    JoinRoom,
    Kick,
    LeaveRoom,
    LookupRequest,
    LookupResult,
    MemberEntry,
    MemberList,
    MembersRequest,
    Mute,
    Presence,
    Read,
    RoomRead,
    Register,
    ChangePassword,
    Unregister,
    RoomEntry,
    RoomInfo,
    RoomList,
    RoomsRequest,
    SetRoomMode,
    SetTopic,
    Settings,
    Typing,
    Unban,
    Unblock,
    Unmute,
    Unwatch,
    UserList,
    Watch,
    Watching,
    Welcome,
    WhoRequest,
)
from protocol.codec import FIELDS, MAX_HISTORY_PAGE, MAX_NAMES_PER_REQUEST, WATCH_PART, FieldError
from i18n import _
from registry import InvalidName, canonical, validate_name
from registry.names import explain as explain_refusal

from .clock import WaitsClock, next_wait
from .core import (
    LOGIN_PATIENCE,
    MAX_WAITING,
    RECONNECT_DELAY,
    RECONNECT_MAX_DELAY,
    REFUSED_FOR_NOW,
    SEEN_LIMIT,
    FIRST_LOGIN_FAIL,
    FIRST_LOGIN_NEXT,
    ClientCore,
    LoginAttempt,
    backoff,
    failover,
    is_default_room,
    first_login_verdict,
    login_wait,
    reconnection_failed,
)
from .errors import (
    AnswerLost,
    CalledFromReceiver,
    ClientError,
    LoginRefused,
    NotConnected,
    RequestFailed,
    RequestTimeout,
    ServerUnreachable,
)
from .display import CONNECTION_ERROR
from .events import AnsweredLate, Reconnected, Reconnecting
from .tlsbio import MemoryTLS
from .transport import Link, connect_host, login_failure, open_socket, reached_host, start_tls, tls_context
from .onevent import on_event_errors, on_event_raised
from .outgoing import OutgoingMessage
from .resume import ResumeTokens
from .writer import SocketWriter
from .servers import addresses_from, format_address, spread_start

_log = logging.getLogger(__name__)

# Events the queue holds before the receiver waits for the application to take some.
EVENT_QUEUE_SIZE = 10_000
# Bytes asked of one recv(); the core reassembles frames across reads of any size.
RECV_BYTES = 64 * 1024
# After sending its Goodbye, close() waits this long for the server to end the stream
# (so nothing the server sent is cut off by a reset), then cuts it itself.
CLOSE_TIMEOUT = 2.0
# Messages per history request (the protocol allows at most MAX_HISTORY_PAGE).
HISTORY_PAGE_SIZE = MAX_HISTORY_PAGE
# A catch-up after a reconnection (since's ``patience``): how long, in all, its pages refused
# for now (``unavailable``, ``rate_limited``) are asked again after the server's wait. A
# reconnection comes when the servers have trouble, and a catch-up given up on shows none of
# what another device of the user took meanwhile until the next one.
CATCH_UP_PATIENCE = 60.0
# Signals the receiver thread blocks, so that the kernel delivers them to the main thread.
_MAIN_THREAD_SIGNALS = {getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)}
# Outcomes of one read by the receiver.
_MORE, _EOF, _STOP = "more", "eof", "stop"
# How the receiver waits for bytes (see _pump).
_Selector = getattr(selectors, "PollSelector", selectors.SelectSelector)
# How often a receiver blocked on a full queue looks whether the client is closing.
_QUEUE_POLL = 0.1


def _answered_late(request: str, answer: Event, asked: Event | None = None) -> list[Event]:
    """What a late answer to a change hands on: an AnsweredLate (``asked``: the request, when
    its frame holds no password), unless the answer is uncertain too (nothing more is known
    than the caller was told) and the change is not a leave: the front ends hold a room
    being left until its answer (no read marks nor typing notices for it), so an uncertain
    one is handed on too (``uncertain``), and the room stays theirs unless a "left" comes.
    The answer to a join is the room (RoomInfo): done."""
    if isinstance(answer, ErrorReply):
        if answer.uncertain and request != LeaveRoom.TYPE:
            return []
        return [AnsweredLate(request, False, answer.code, answer.message, asked, uncertain=bool(answer.uncertain))]
    return [AnsweredLate(request, True, asked=asked, at=answer.at if isinstance(answer, Done) else None)]


def _said_late(asked: Event) -> Callable[[Event], list[Event]]:
    """The ``late`` of a change the library keeps nothing of (or whose answer the core takes
    in itself: an edit's or a delete's ``ok``): it is only told (an AnsweredLate)."""
    return lambda answer: _answered_late(asked.TYPE, answer, asked)


def _shutdown(sock: socket.socket, how: int) -> None:
    with suppress(OSError):
        sock.shutdown(how)


def _check_field(attr: str, value: str) -> None:
    """Refuse ``value`` for the request's field ``attr`` as the server's codec would (one
    too long: its key on the wire and limit, for the user's words), before it is sent."""
    key, check = FIELDS[attr]
    try:
        check(key, value, const.MAX_TEXT_CHARS)
    except FieldError as exc:
        raise RequestFailed(exc.code, str(exc), field=exc.field, max_chars=exc.max_chars,
                            max_bytes=exc.max_bytes) from None


class ChatClient:
    """A chat session as user ``name`` with the server at ``host``:``port``.

    ``on_event(event)``, if given, is called on the receiver thread for every event (see
    the module docstring for which); it must not block for long, and exceptions it raises
    are logged (each kind's first with its traceback, then a count: client/onevent.py) and
    otherwise ignored. Without it, events go to ``self.events``, a
    ``queue.Queue``. ``heartbeat_interval`` (default: the server's, from the Welcome) and
    ``heartbeat_timeout`` set the client-side liveness check.

    Accounts: ``password`` is sent with every hello (needed for a registered name; kept in
    memory for reconnections); ``register=True`` claims the name with it at the first
    login. Both are also attributes (``password``, ``register_on_login``) that a front end
    may set before calling :meth:`connect` again, e.g. after ``auth_required``.

    Guests: the resume token a server gives a guest name is kept in ``resume_tokens``
    (a :class:`~client.resume.ResumeTokens`; default: the user's file, see client/resume.py)
    and sent with every hello for that name and server, so that a reconnection or a later
    run gets the guest's waiting messages and history back (PROTOCOL.md, "Guest names").
    With several ``servers`` it is kept under each of them: they serve one chat.

    Transport: ``tls`` wraps the connection in TLS, trusting ``cafile`` (a PEM file of
    CA certificates or the server's own) or else the system's store; ``ssl_context``
    replaces the default context altogether.

    Servers: ``servers``, a list of ``(host, port)``, replaces ``host`` and ``port``: the
    first login tries them in order until one answers, and reconnections go round the list
    (failover). ``host`` and ``port`` then name the server in use (or being tried).

    Reconnection: ``reconnect`` (default True), ``reconnect_delay`` and
    ``reconnect_max_delay`` (the backoff), ``max_reconnect_attempts`` (None: until
    :meth:`close`), ``connect_timeout`` (for each attempt), ``reconnect_on_goodbye``
    (default False: the server's goodbye ends the session; interactive front ends set it,
    so that a planned stop or restart of the server is survived like a crash).
    ``max_waiting`` bounds the messages typed while disconnected; ``seen_limit`` the
    msg_ids remembered.

    Public attributes: ``name``, ``host``, ``port``, ``servers``, ``events``, ``closed`` (a
    ``threading.Event`` set when the session has ended for good and ConnectionClosed was
    delivered), ``welcome`` (the last Welcome), ``registered`` (logged in to an account),
    ``reconnects`` (how many times the session was restored), ``close_reason`` (why the
    last connection ended, in words: the server's goodbye reason, "the server closed the
    connection"...), ``login_error`` (the :class:`LoginRefused` that stopped the
    reconnections, if one did), ``core`` (the :class:`~client.core.ClientCore`; touch it
    only under the client's lock, i.e. not at all from an application).

    One object may connect again after its session ended; request ids stay unique across
    its connections.
    """

    def __init__(self, name: str, host: str = const.SERVER_HOST, port: int = const.SERVER_PORT,
                 on_event: Callable[[Event], object] | None = None, *,
                 heartbeat_interval: float | None = None,
                 heartbeat_timeout: float = const.HEARTBEAT_TIMEOUT,
                 password: str | None = None, register: bool = False,
                 resume_tokens: ResumeTokens | None = None,
                 tls: bool = False, cafile: str | None = None, ssl_context: ssl.SSLContext | None = None,
                 reconnect: bool = True, reconnect_delay: float = RECONNECT_DELAY,
                 reconnect_max_delay: float = RECONNECT_MAX_DELAY, max_reconnect_attempts: int | None = None,
                 connect_timeout: float = const.CONNECT_TIMEOUT, max_waiting: int = MAX_WAITING,
                 seen_limit: int = SEEN_LIMIT, reconnect_on_goodbye: bool = False,
                 servers: Sequence[tuple[str, int]] | None = None) -> None:
        self.name = name
        self.servers: list[tuple[str, int]] = [(h, int(p)) for h, p in servers] if servers else [(host, port)]
        self.host, self.port = self.servers[0]
        self._reached: tuple[str, str] | None = None  # (a host given, the address it reached), once connected
        self.events: queue.Queue[Event] = queue.Queue(EVENT_QUEUE_SIZE)
        self.closed = threading.Event()
        self.welcome: Welcome | None = None
        self.password = password
        self.register_on_login = register
        self.registered = False
        self.resume_tokens = resume_tokens if resume_tokens is not None else ResumeTokens.default()
        self.reconnects = 0
        self.login_error: LoginRefused | None = None
        self.core = ClientCore(reconnect=reconnect, reconnect_on_goodbye=reconnect_on_goodbye,
                               heartbeat_interval=heartbeat_interval, heartbeat_timeout=heartbeat_timeout,
                               max_waiting=max_waiting, seen_limit=seen_limit)
        # The core's times: a sleep of the computer counts (client/clock.py), so a connection
        # that died while the lid was closed is given up when it opens, not a timeout later.
        self._clock = WaitsClock()
        self._on_event = on_event
        self._tls = tls or cafile is not None or ssl_context is not None
        self._cafile = cafile
        self._ssl_context = ssl_context
        self._reconnect = reconnect
        self._reconnect_delay = reconnect_delay
        self._reconnect_max_delay = max(reconnect_delay, reconnect_max_delay)
        self._max_reconnect_attempts = max_reconnect_attempts
        self._connect_timeout = connect_timeout
        # Guards the core, the socket's write side and the attributes below.
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._writer: SocketWriter | None = None  # writes to _sock (client/writer.py)
        self._sock_tls: MemoryTLS | None = None  # _sock's TLS, in memory (client/tlsbio.py)
        self._server_index = 0       # which of self.servers the session is (or was) on
        self._offered_token: str | None = None  # the guest token sent in the last hello
        self._receiver: threading.Thread | None = None
        self._connecting = False     # connect() is under way
        self._attempt_sock: socket.socket | None = None  # a login under way, for close() to cut
        self._wake = threading.Event()  # set by close() to end a backoff wait at once
        # The password of a register() whose answer was lost with its connection: the next
        # hello carries it, and its welcome tells whether the account was made (register()).
        # None: no such claim open. Notified (with the lock) when one is settled.
        self._claiming: str | None = None
        self._claim_settled = threading.Condition(self._lock)
        # (the password kept then, the new one) of a change_password() whose outcome is not
        # known (no answer in time, its answer lost with the connection, or "unavailable"
        # uncertain): while ``password`` is still the one kept then, a hello with a password
        # carries the new one, and its answer settles it (_password_refused, _open_session_once).
        # None: no such change open.
        self._password_change: tuple[str | None, str] | None = None
        self._hello_new_password = False  # the last hello carried that new password
        # The timer that writes read marks due while the receiver sleeps (see _mark), and when.
        self._reads_timer: threading.Timer | None = None
        self._reads_timer_at = 0.0
        # Events dropped because client.events was full while closing (_deliver), said once.
        self._dropped = 0
        # What on_event raised: each kind's first traceback, then a count (_deliver, _finish).
        self._event_errors = on_event_errors(_log)

    # --- Connecting ---------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``host:port`` of the server, for messages: for a listen-on-every-address host ("", "::"),
        this machine's address it reached (client/transport.py)."""
        given, reached = self._reached or (None, None)
        return format_address(reached if given == self.host and reached else connect_host(self.host), self.port)

    @property
    def tls(self) -> bool:
        """True if connections are made over TLS."""
        return self._tls

    @property
    def close_reason(self) -> str:
        """Why the last connection ended, in words ("" while it is open)."""
        return self.core.close_reason

    @close_reason.setter
    def close_reason(self, reason: str) -> None:
        self.core.close_reason = reason

    @property
    def connected(self) -> bool:
        """True while the session is open and the client is not closing it."""
        with self._lock:
            return self._sock is not None and self.core.usable() is None

    @property
    def reconnecting(self) -> bool:
        """True while the connection is lost and the client is trying to restore it."""
        with self._lock:
            return self.core.alive and self._sock is None and not self.core.closing and not self.core.ending

    def connect(self, timeout: float = const.CONNECT_TIMEOUT, *, retry_until: float | None = None,
                on_retry: Callable[[Reconnecting], object] | None = None) -> Welcome:
        """Open the TCP connection (and TLS), log in, start the receiver thread; return the
        Welcome.

        ``timeout`` bounds the TCP connect and the wait for the server's answer to the
        hello, each. Raises :class:`LoginRefused` if the server (or the local name check)
        refuses the login, :class:`ServerUnreachable` (:class:`CertificateError` for TLS
        verification) if no session could be opened, and RuntimeError if this client is
        already connected. With several ``servers``, one that cannot be reached is
        followed by the next, each once; the last error is raised if none answers.

        A short ``rate_limited`` refusal (the server's password-check budget when a class
        logs in at once behind one address, or its throttle after a wrong password) is
        waited out and the login asked again, each wait up to ``MAX_LOGIN_WAIT`` seconds
        and all of them ending before ``retry_until`` (without it, within
        ``LOGIN_PATIENCE`` seconds; ``retry_until=0``: no wait, the refusal is raised).

        Else, by default, one attempt is made. With ``retry_until`` (a ``time.monotonic()``
        deadline, or ``math.inf``) and reconnection allowed (``reconnect=True``), a login
        whose connection is reset before the server answers (:class:`LoginInterrupted`)
        is tried again with the reconnection backoff, until
        ``max_reconnect_attempts``, :meth:`close`, or a wait that would end after the
        deadline; then the last error is raised. ``on_retry(Reconnecting)`` is called (on
        the calling thread) before each wait. A refused TCP connect, a clean end of the
        stream and every answer of the server (refusals, ``bye``) are not retried: they
        are answers, not faults on the way.
        """
        with self._lock:
            if self.core.alive or self._sock is not None or self._connecting:
                raise RuntimeError("this client is already connected (or connecting)")
            self._connecting = True
            previous = self._receiver
        try:
            return self._connect(previous, timeout, retry_until, on_retry)
        finally:
            with self._lock:
                self._connecting = False

    def _connect(self, previous: threading.Thread | None, timeout: float, retry_until: float | None,
                 on_retry: Callable[[Reconnecting], object] | None) -> Welcome:
        if previous is not None and previous.is_alive():
            if previous is threading.current_thread():
                raise RuntimeError("connect() cannot be called from the receiver thread of the old connection")
            # The old receiver is finishing (delivering ConnectionClosed): let it end first
            # so it cannot set `closed` after the new connection cleared it.
            previous.join(2 * CLOSE_TIMEOUT)
            if previous.is_alive():
                raise RuntimeError("the previous connection is still handing events to the application "
                                   "(is on_event blocked, or is nobody draining client.events?)")
        try:
            validate_name(self.name)
        except InvalidName as exc:
            # Checked here too so a typo costs no round trip; the server checks again.
            raise LoginRefused(ErrorCode.INVALID_NAME, _("invalid name {name!r}: {why}").format(
                name=self.name, why=explain_refusal(exc, _)), local=True) from None
        with self._lock:
            self.core.closing = False
            self._wake.clear()  # close() sets it to end a retry wait at once
        link, conn, welcome, index = self._open_first_session(timeout, retry_until, on_retry)
        with self._lock:
            if self.core.closing:  # close() was called while we were logging in
                link.close()
                raise ServerUnreachable("the client was closed while connecting")
            self._attach(link)
            self._server_index = index
            self.core.open(conn, welcome, self._clock(), reconnected=False)
            self._set_timeout(link.sock)
            self._wake.clear()
            self.login_error = None
            self.welcome = welcome
            self.closed.clear()
            self._flush()
            self._receiver = threading.Thread(target=self._receive_loop, name=f"chat-receiver-{self.name}",
                                              daemon=True)
            self._receiver.start()
        return welcome

    def _open_first_session(self, timeout: float, retry_until: float | None,
                            on_retry: Callable[[Reconnecting], object] | None
                            ) -> tuple[Link, Connection, Welcome, int]:
        """:meth:`_open_session` on each server in turn until one answers, and tried again
        after a :class:`LoginInterrupted` as :meth:`connect` describes; returns what it
        returns and the index of the server."""
        attempt = 0
        index = 0
        unanswered = 0  # servers in a row that could not be reached
        delays = backoff(self._reconnect_delay, self._reconnect_max_delay)
        patience = time.monotonic() + LOGIN_PATIENCE if retry_until is None else retry_until
        while True:
            try:
                # A retry may not outlast the deadline (the first attempt keeps its timeout).
                return self._open_session(timeout if attempt == 0 or retry_until is None
                                          else max(0.05, min(timeout, retry_until - time.monotonic())),
                                          index) + (index,)
            except (LoginRefused, ServerUnreachable) as exc:
                wait = login_wait(exc, time.monotonic(), patience)
                if wait is not None:  # an answer: "a moment", from this server
                    unanswered = 0
                    if self._wake.wait(wait):
                        raise ServerUnreachable("the client was closed while connecting") from exc
                    continue
                unanswered += 1
                verdict = first_login_verdict(exc, len(self.servers) - unanswered)
                if verdict == FIRST_LOGIN_FAIL:
                    raise
                index = (index + 1) % len(self.servers)  # failover: the next server
                if verdict == FIRST_LOGIN_NEXT:
                    if self._wake.is_set():  # close() meanwhile
                        raise
                    continue  # at once
                unanswered = 0
                attempt += 1
                if retry_until is None or not self._reconnect or (
                        self._max_reconnect_attempts is not None and attempt > self._max_reconnect_attempts):
                    raise
                delay = next(delays)
                if time.monotonic() + delay >= retry_until:
                    raise
                if on_retry is not None:
                    on_retry(Reconnecting(attempt, round(delay, 2), str(exc)))
                if self._wake.wait(delay):
                    raise ServerUnreachable("the client was closed while connecting") from exc

    def _open_session(self, timeout: float, index: int) -> tuple[Link, Connection, Welcome]:
        """Connect to server ``index`` and log in; return the connection, the protocol state
        and the Welcome. A server that refuses the version offered is asked again, on a
        new connection, with the next older one (:meth:`ClientCore.fall_back`). Raises
        like :meth:`connect`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._open_session_once(max(0.05, deadline - time.monotonic()), index)
            except LoginRefused as exc:
                with self._lock:
                    if not (self.core.fall_back(exc.code) or self._password_refused(exc.code)):
                        raise

    def _open_session_once(self, timeout: float, index: int) -> tuple[Link, Connection, Welcome]:
        self.host, self.port = self.servers[index]
        deadline = time.monotonic() + timeout
        try:
            link = self._open_link(timeout)
            try:
                conn, welcome = self._log_in(link, deadline, timeout)
            except BaseException:
                link.close()
                raise
        finally:
            with self._lock:
                self._attempt_sock = None
        self.registered = welcome.registered
        # A guest's token: the one that took the name (sent back in the welcome) or proved it
        # (no new one). Kept for every server of the list, over any stale one kept there. An
        # account's welcome brings its resume credential instead: the core keeps that, in
        # memory only (client/credential.py).
        token = None if welcome.registered else welcome.resume or self._offered_token
        self.resume_tokens.proven(self._token_servers(), welcome.name, token)
        if welcome.registered:
            self.register_on_login = False  # claimed: from now on it is a plain login
        with self._lock:
            change = self._password_change
            if self._hello_new_password and change is not None:
                # The new password of a change in doubt logged in: it was made (or, for a
                # guest's welcome, the account is gone: nothing to settle either way).
                if welcome.registered:
                    self.password = change[1]
                self._password_change = None
            self._hello_new_password = False
            if self._claiming is not None:
                # The hello carried the password of a register() cut before its answer: for
                # a name with no account the server ignores it and logs in the guest.
                if welcome.registered:
                    self.password = self._claiming
                self._claiming = None
                self._claim_settled.notify_all()
        return link, conn, welcome

    def _password_refused(self, code: str) -> bool:
        """(Lock held.) A hello was refused with ``code``. True if it carried the new password
        of a change in doubt and was told ``bad_password``: the change was not made, and the
        next hello, at once, carries ``password`` (the old one; the server may first ask for
        its short wait after a wrong password, rate_limited, which the login loops wait)."""
        tried, self._hello_new_password = self._hello_new_password, False
        if not (tried and code == ErrorCode.BAD_PASSWORD):
            return False
        _log.info("the new password of a change whose answer never came was refused: it was not made")
        self._password_change = None
        return True

    def _set_timeout(self, sock: socket.socket) -> None:
        # The writer gives up a write without progress after this long (a server that stops
        # reading for that long is treated as gone); the receiver waits for its deadlines
        # with select() instead.
        sock.settimeout(max(0.05, min(self.core.ping_after, self.core.heartbeat_timeout)))

    def _open_link(self, timeout: float) -> Link:
        """The TCP connection (and its TLS handshake) for a login. The socket is the attempt's
        (``_attempt_sock``, which the caller clears) as soon as it is connected, so that
        close() ends a handshake the server never answers at once, not after ``timeout``."""
        context = self._tls_context() if self._tls else None  # first: CertificateError for a bad CA file
        sock = open_socket(self.host, self.port, timeout)
        self._reached = (self.host, reached_host(self.host, sock))
        with self._lock:
            if self.core.closing:  # close() came while we were connecting
                sock.close()
                raise ServerUnreachable("the client is closing")
            self._attempt_sock = sock
        if context is None:
            return Link(sock)
        try:
            return Link(sock, start_tls(sock, context, self._reached[1], self.port, timeout))
        except ServerUnreachable:
            with self._lock:
                if self.core.closing:  # close() shut the socket: not the server's failure
                    raise ServerUnreachable("the client was closed during the TLS handshake") from None
            raise

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = tls_context(self._cafile)
        return self._ssl_context

    def _resume_token(self) -> str | None:
        """The guest token for this name at the servers of the list (:meth:`_token_servers`;
        the rule is :meth:`ResumeTokens.for_hello`'s), remembered to keep it once proven."""
        token = self.resume_tokens.for_hello(self._token_servers(), self.name, self.password)
        self._offered_token = token
        return token

    def _token_servers(self) -> list[str]:
        """Where a guest's token is kept and looked for: the server in use, then the rest of
        the list (:func:`client.servers.addresses_from` says why)."""
        return addresses_from((self.host, self.port), self.servers)

    def _log_in(self, link: Link, deadline: float, timeout: float) -> tuple[Connection, Welcome]:
        """Send the hello and read until the Welcome (returned with the protocol state) or
        a refusal (raised).

        Anything the server sent after the Welcome stays in the protocol state for the
        receiver thread, which drains it before its first recv().
        """
        where = self.address
        try:
            password = self.password if self.password is not None else self._claiming
            change = self._password_change
            if change is not None and change[0] == self.password:  # tried first: it was likely made
                password = change[1]
            attempt = LoginAttempt(self.core.hello(self.name, password, self.register_on_login,
                                                   self._resume_token(), self._clock()), self._tls)
            self._hello_new_password = change is not None and password == change[1] \
                and not self.core.credential.in_use
            link.sendall(attempt.data_to_send())
            while True:
                welcome = attempt.step(where)
                if welcome is not None:
                    return attempt.conn, welcome
                pongs = attempt.data_to_send()
                if pongs:
                    link.sendall(pongs)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                link.sock.settimeout(remaining)
                attempt.receive_data(link.recv(RECV_BYTES))
        except (ServerUnreachable, LoginRefused):
            raise
        except ValueError:  # a password with lone surrogates cannot be encoded
            raise LoginRefused(ErrorCode.BAD_FIELD, "the password contains characters that cannot be sent") from None
        except OSError as exc:
            # A reset is a fault on the way (LoginInterrupted); a clean end of the stream
            # (above) is the server's choice (a TLS server that got plain text closes so).
            raise login_failure(exc, where, timeout) from exc

    # --- Sending ------------------------------------------------------------------------

    def send_direct(self, to: str, text: str) -> OutgoingMessage:
        """Send ``text`` to user ``to``; return its tracker at once (state ``sending``).

        Never raises for connection problems: if the message cannot be sent (not
        connected, text too long) the tracker comes back ``failed`` with ``submitted``
        False. While the client is reconnecting it comes back ``sending`` with
        ``submitted`` False and goes out once the session is back. Thread-safe.
        """
        message = OutgoingMessage(self.core.new_request_id(), to, text)
        self._submit(message)
        return message

    def send_room(self, text: str) -> OutgoingMessage:
        """Send ``text`` to the broadcast room; like :meth:`send_direct` (final at ``sent``)."""
        message = OutgoingMessage(self.core.new_request_id(), None, text)
        self._submit(message)
        return message

    def send_to_room(self, room: str, text: str) -> OutgoingMessage:
        """Send ``text`` to the members of ``room`` (``#name``, protocol version 2); like
        :meth:`send_room` (final at ``sent``; resent with its id after a reconnection).
        The default room is a plain :meth:`send_room`. In a session without rooms the
        tracker comes back ``failed`` with ``unsupported_version``."""
        if is_default_room(room):
            return self.send_room(text)
        message = OutgoingMessage(self.core.new_request_id(), None, text, room=room)
        self._submit(message)
        return message

    @property
    def pending(self) -> list[OutgoingMessage]:
        """Messages not in a final state yet, in the order they were sent."""
        with self._lock:
            return list(self.core.outgoing.values())

    # --- Requests -----------------------------------------------------------------------

    def who(self, timeout: float = const.SEND_TIMEOUT) -> list[Presence]:
        """Ask who is online; return the users (sorted by name by the server).

        The server answers in pages that each fit in one frame; this follows them all,
        within ``timeout`` in all. Someone who comes or goes meanwhile may be missing or
        still listed; everyone online throughout is listed once.

        Raises :class:`NotConnected`, :class:`RequestTimeout` or :class:`RequestFailed`,
        and :class:`CalledFromReceiver` when called from ``on_event`` (this applies to every
        blocking request below too).
        """
        deadline = time.monotonic() + timeout
        users: list[Presence] = []
        after: str | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RequestTimeout(_("the list of users did not arrive within {seconds} s").format(
                    seconds=f"{timeout:g}"))
            answer = self._request(WhoRequest(self.core.new_request_id(), after), UserList, remaining)
            assert isinstance(answer, UserList)
            users += answer.users
            if answer.next is None or not answer.users:
                return users
            after = answer.next

    def lookup(self, name: str, timeout: float = const.SEND_TIMEOUT) -> LookupResult:
        """Ask the registry where ``name`` is: status ``"online"``, ``"offline"`` (a known
        user; messages to them wait for their next login) or ``"unknown"``."""
        answer = self._request(LookupRequest(self.core.new_request_id(), name), LookupResult, timeout)
        assert isinstance(answer, LookupResult)
        return answer

    def history_page(self, peer: str, limit: int = 50, before: int | None = None,
                     timeout: float = const.SEND_TIMEOUT) -> HistoryPage:
        """One page of the conversation with ``peer``: up to ``limit`` (1 to 500) messages
        older than msg_id ``before`` (None: the newest), oldest first; ``page.before`` is
        the cursor for the next older page, None when there is none."""
        answer = self._request(HistoryRequest(self.core.new_request_id(), peer, limit, before), HistoryPage, timeout)
        assert isinstance(answer, HistoryPage)
        return answer

    def history(self, peer: str, limit: int = 20, timeout: float = const.SEND_TIMEOUT,
                page_size: int | None = None) -> list[HistoryEntry]:
        """The last ``limit`` messages between this user and ``peer``, both directions,
        oldest first, each with its state (``sent``, ``queued``, ``delivered``,
        ``expired``). Asks as many pages of ``page_size`` (at most 500) as needed, all
        within ``timeout``."""
        return self.history_read(peer, limit, timeout, page_size)[0]

    def history_read(self, peer: str, limit: int = 20, timeout: float = const.SEND_TIMEOUT,
                     page_size: int | None = None) -> tuple[list[HistoryEntry], int | None]:
        """:meth:`history`, and how far ``peer`` has read this user's messages (the pages'
        ``read_up_to``: feature read, both with receipts on; None when not told): those of
        ours at or below it that were delivered have been read."""
        size = max(1, min(page_size or HISTORY_PAGE_SIZE, MAX_HISTORY_PAGE))
        deadline = time.monotonic() + timeout
        entries: list[HistoryEntry] = []
        before: int | None = None
        read_up_to: int | None = None
        while len(entries) < limit:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RequestTimeout(_("the history did not arrive within {seconds} s").format(seconds=f"{timeout:g}"))
            page = self.history_page(peer, min(size, limit - len(entries)), before, remaining)
            entries[:0] = page.messages
            if page.read_up_to is not None:
                read_up_to = max(read_up_to or 0, page.read_up_to)
            if page.before is None or not page.messages:
                break
            before = page.before
        return (entries[-limit:] if limit > 0 else []), read_up_to

    @property
    def since_supported(self) -> bool:
        """True if the server turned on the feature since for this session (its welcome
        said so): :meth:`since_page` works."""
        with self._lock:
            return self.core.since

    def since_page(self, after: int, limit: int = 50, timeout: float = const.SEND_TIMEOUT) -> SincePage:
        """Feature since: one page of this user's direct messages, sent and received, in
        every conversation, with a msg_id above ``after``, oldest first, at most ``limit``
        (1 to 500); ``page.next_id`` is the ``after`` of the next page, None when there is
        no more. Raises as :meth:`who`; ``unknown_type`` from a server without the feature
        (see :attr:`since_supported`)."""
        answer = self._request(SinceRequest(self.core.new_request_id(), after, limit), SincePage, timeout)
        assert isinstance(answer, SincePage)
        return answer

    def since(self, after: int, timeout: float = const.SEND_TIMEOUT, page_size: int = HISTORY_PAGE_SIZE,
              max_pages: int = 40, patience: float = 0.0) -> list[HistoryEntry]:
        """Feature since, for a catch-up after a reconnection: this user's direct messages
        in every conversation after msg_id ``after``, oldest first, each once, asked page by
        page (at most ``max_pages`` of ``page_size``, all within ``timeout``: whatever came
        by then). Left out: the messages to this user still waiting for its receipt
        (``sent``, ``queued``): the server sends them at the login, as ``dm`` frames.
        A page refused for now (``unavailable``, ``rate_limited``) is asked again after the
        server's wait, for up to ``patience`` seconds of such waits in all (which
        ``timeout`` does not count; CATCH_UP_PATIENCE for a catch-up). Raises as
        :meth:`since_page`."""
        me = canonical(self.name)
        deadline = time.monotonic() + timeout
        patient_until = time.monotonic() + patience
        found: dict[int, HistoryEntry] = {}
        pages = 0
        while pages < max_pages:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                page = self.since_page(after, page_size, remaining)
            except RequestFailed as exc:
                wait = max(exc.retry_after or 1.0, 0.1)
                if exc.code not in REFUSED_FOR_NOW or time.monotonic() + wait > patient_until:
                    raise
                time.sleep(wait)  # (on the caller's thread: a catch-up's own)
                deadline += wait
                continue
            pages += 1
            for entry in page.messages:
                if canonical(entry.sender) == me or entry.state not in ("sent", "queued"):
                    found[entry.msg_id] = entry
            if page.next_id is None or page.next_id <= after:
                break
            after = page.next_id
        return [found[msg_id] for msg_id in sorted(found)]

    # --- After delivered (issue 13): Read, Typing, Edited and Deleted come as events ---

    # Reads and typing are not sent while this user's read receipts are off (the server
    # would refuse them): ``read_receipts`` says which, as the server last told.

    @property
    def read_receipts(self) -> bool | None:
        """This user's read receipts switch (None: the session has none): the welcome's,
        then what :meth:`set_read_receipts` set or another session of the user did (a
        Settings event says so)."""
        return self.core.read_receipts

    def mark_read(self, peer: str, msg_id: int) -> None:
        """Tell the server this user has seen ``peer``'s messages up to ``msg_id`` (no answer).
        Marks are cumulative: they go coalesced, at most one per conversation per
        ``client.core.READ_INTERVAL`` s with the newest id, and one not written while
        disconnected goes once connected again (client/core.py, "Read marks")."""
        self._mark(Read(peer, msg_id))

    def typing(self, to: str) -> None:
        """Say this user is typing to ``to``; repeat every ``const.TYPING_INTERVAL`` s while so."""
        self._tell(Typing(to), receipt=True)

    def mark_read_in_room(self, room: str, msg_id: int) -> None:
        """Tell the server this member has seen ``room``'s posts up to ``msg_id`` (protocol
        version 2, feature ``read``; no answer), coalesced as :meth:`mark_read`. Small
        rooms' marks come back as RoomRead events with ``marks``."""
        self._mark(RoomRead(room, msg_id))

    def typing_in_room(self, room: str) -> None:
        """Say this user is typing in ``room`` (protocol version 2, issue 13); repeat as
        :meth:`typing`."""
        self._tell(RoomTyping(room), receipt=True)

    def edit(self, msg_id: int, text: str, timeout: float = const.SEND_TIMEOUT) -> float | None:
        """Replace the text of this user's direct message or room post ``msg_id``; raises RequestFailed
        (``forbidden``, ``too_late``, ``unknown_message``...) if refused. Returns when the
        change was stamped (the server's ``ok``; None from an older server)."""
        return self._change(Edit(self.core.new_request_id(), msg_id, text), timeout)

    def delete(self, msg_id: int, timeout: float = const.SEND_TIMEOUT) -> float | None:
        """Delete this user's direct message or room post ``msg_id`` (as :meth:`edit`); a
        room's moderator or an administrator may delete others' too."""
        return self._change(Delete(self.core.new_request_id(), msg_id), timeout)

    def _change(self, request: Edit | Delete, timeout: float) -> float | None:
        """Send edit or delete ``request``; when its change was stamped (its ``ok``'s ``at``)."""
        done = self._request(request, Done, timeout, late=_said_late(request))
        return done.at if isinstance(done, Done) else None

    def set_read_receipts(self, on: bool, timeout: float = const.SEND_TIMEOUT) -> None:
        """Turn this user's read receipts (and typing) on or off, on every device."""
        def set_late(answer: Event) -> list[Event]:  # lock held: the receiver
            if isinstance(answer, Done) and self.core.read_receipts is not None:
                self.core.read_receipts = on
            return _answered_late(Settings.TYPE, answer)
        self._request(Settings(self.core.new_request_id(), on), Done, timeout, late=set_late)
        with self._lock:
            if self.core.read_receipts is not None:
                self.core.read_receipts = on

    def _mark(self, event: Read | RoomRead) -> None:
        """A read mark, through the core's coalescing. One left waiting for its interval
        while the receiver may sleep on an older deadline (asked from another thread: the
        window's, a catch-up's) gets a timer that writes it when due."""
        with self._lock:
            if self.core.read_receipts is False:
                return
            self.core.mark_read(event, self._clock())
            self._flush()
            self._reads_timer_for(self.core.reads_deadline())

    def _reads_timer_for(self, due: float | None) -> None:
        """(Lock held.) Arm the read marks' timer for ``due``, unless nothing is due, the
        receiver itself asked (it computes its wait from the core afterwards), or an
        earlier timer is armed."""
        if due is None or threading.current_thread() is self._receiver \
                or (self._reads_timer is not None and self._reads_timer_at <= due):
            return
        timer = threading.Timer(max(0.0, due - self._clock()), self._reads_due)
        timer.daemon = True
        self._reads_timer, self._reads_timer_at = timer, due
        timer.start()

    def _reads_due(self) -> None:
        """The timer's turn: write the read marks due now (one still not due: again later)."""
        with self._lock:
            self._reads_timer = None
            self.core.write_reads(self._clock())
            self._flush()
            self._reads_timer_for(self.core.reads_deadline())

    def _tell(self, event: Event, receipt: bool = False) -> None:
        """Send ``event``, which has no answer, if connected now (else it is dropped: the
        callers' frames are superseded by the next one); a ``receipt`` (a read or typing)
        only while read receipts are not off."""
        with self._lock:
            if receipt and self.core.read_receipts is False:
                return
            if self.core.usable() is None and self.core.tell(event):
                self._flush()

    # --- Rooms (protocol version 2) -----------------------------------------------------
    # Each raises like who(), and RequestFailed("unsupported_version") at once when the
    # session speaks a version without rooms (see `rooms`). Their errors are the server's
    # (PROTOCOL.md, "Rooms and moderation"): forbidden, not_member, banned, invite_only...

    @property
    def version(self) -> int:
        """The protocol version the session speaks (the welcome's; 1 before connecting)."""
        with self._lock:
            return self.core.version

    @property
    def rooms_supported(self) -> bool:
        """True if the session speaks a version with named rooms."""
        with self._lock:
            return self.core.rooms

    def _room_request(self, event: Event, expect: type[Event], timeout: float, change: bool = True) -> Event:
        """Send room request ``event`` as :meth:`_request`; a ``change`` (an act, not a list)
        answered after ``timeout`` is told (AnsweredLate)."""
        with self._lock:
            problem = self.core.rooms_problem()
        if problem is not None:
            raise RequestFailed(ErrorCode.UNSUPPORTED_VERSION, problem)
        return self._request(event, expect, timeout, late=_said_late(event) if change else None)

    def join(self, room: str, *, create: bool = False, invite_only: bool = False,
             timeout: float = const.SEND_TIMEOUT) -> RoomInfo:
        """Join ``room``, creating it if it does not exist (``invite_only`` then applies);
        with ``create``, only create it (``room_exists`` if it exists). Returns the room
        as it is now."""
        answer = self._room_request(JoinRoom(self.core.new_request_id(), room, create, invite_only), RoomInfo,
                                    timeout)
        assert isinstance(answer, RoomInfo)
        return answer

    def leave(self, room: str, timeout: float = const.SEND_TIMEOUT) -> None:
        """Leave ``room`` (its owner hands it on; the last member ends it)."""
        self._room_request(LeaveRoom(self.core.new_request_id(), room), Done, timeout)

    def rooms(self, timeout: float = const.SEND_TIMEOUT, *, mine: bool = False) -> list[RoomEntry]:
        """The rooms this user may see, with member counts, topics and whether invite-only
        (``invite_only``: False from a server older than the key), sorted by name;
        follows the pages within ``timeout`` in all. With ``mine``, only the named rooms
        this user is a member of (invite-only ones too, never the default room): what the
        server kept since an earlier login. A server older than that (its answer does
        not say ``mine``: it listed every room one may see) raises RequestFailed with
        ``unknown_type``, and no more pages are asked."""
        return self._pages(lambda after: RoomsRequest(self.core.new_request_id(), after, mine), RoomList, "rooms",
                           timeout, mine)

    def members(self, room: str, timeout: float = const.SEND_TIMEOUT) -> list[MemberEntry]:
        """The members of ``room`` with their roles and presence, sorted by name; follows
        the pages within ``timeout`` in all."""
        return self._pages(lambda after: MembersRequest(self.core.new_request_id(), room, after), MemberList,
                           "members", timeout)

    def _pages(self, ask: Callable[[str | None], Event], expect: type[Event], field: str,
               timeout: float, mine: bool = False) -> list:
        deadline = time.monotonic() + timeout
        found: list = []
        after: str | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RequestTimeout(f"the list of {field} did not arrive within {timeout:g} s")
            answer = self._room_request(ask(after), expect, remaining, change=False)
            if mine and getattr(answer, "mine", None) is not True:
                raise RequestFailed(ErrorCode.UNKNOWN_TYPE, "this server does not list one's own rooms (it is older)")
            items = getattr(answer, field)
            found += items
            if answer.next is None or not items:  # type: ignore[attr-defined]
                return found
            after = answer.next  # type: ignore[attr-defined]

    def invite(self, room: str, name: str, timeout: float = const.SEND_TIMEOUT) -> None:
        """Let ``name`` join invite-only ``room`` once (owner and moderators)."""
        self._room_request(Invite(self.core.new_request_id(), room, name), Done, timeout)

    def set_topic(self, room: str, topic: str, timeout: float = const.SEND_TIMEOUT) -> None:
        """Set the topic of ``room`` (owner and moderators; at most const.MAX_TOPIC_CHARS)."""
        self._room_request(SetTopic(self.core.new_request_id(), room, topic), Done, timeout)

    def kick(self, room: str, name: str, reason: str | None = None, timeout: float = const.SEND_TIMEOUT) -> None:
        """Put member ``name`` out of ``room``; they may join again."""
        self._room_request(Kick(self.core.new_request_id(), room, name, reason), Done, timeout)

    def ban(self, room: str, name: str, reason: str | None = None, timeout: float = const.SEND_TIMEOUT) -> None:
        """Put ``name`` out of ``room`` and keep them out until :meth:`unban`."""
        self._room_request(Ban(self.core.new_request_id(), room, name, reason), Done, timeout)

    def unban(self, room: str, name: str, timeout: float = const.SEND_TIMEOUT) -> None:
        """Let ``name`` into ``room`` again."""
        self._room_request(Unban(self.core.new_request_id(), room, name), Done, timeout)

    def mute(self, room: str, name: str, seconds: float | None = None, reason: str | None = None,
             timeout: float = const.SEND_TIMEOUT) -> None:
        """Refuse ``name``'s messages to ``room`` for ``seconds`` (None: until :meth:`unmute`)."""
        self._room_request(Mute(self.core.new_request_id(), room, name, reason, seconds), Done, timeout)

    def unmute(self, room: str, name: str, timeout: float = const.SEND_TIMEOUT) -> None:
        """Let ``name`` write in ``room`` again."""
        self._room_request(Unmute(self.core.new_request_id(), room, name), Done, timeout)

    def appoint(self, room: str, name: str, role: str = "moderator", timeout: float = const.SEND_TIMEOUT) -> None:
        """Make member ``name`` of ``room`` a ``"moderator"``, or a ``"member"`` again (owner)."""
        self._room_request(Appoint(self.core.new_request_id(), room, name, role), Done, timeout)

    def set_mode(self, room: str, invite_only: bool, timeout: float = const.SEND_TIMEOUT) -> None:
        """Make ``room`` invite-only (True) or public again (its owner, or an administrator)."""
        self._room_request(SetRoomMode(self.core.new_request_id(), room, invite_only), Done, timeout)

    def block(self, name: str, timeout: float = const.SEND_TIMEOUT) -> None:
        """Stop receiving messages (direct and room) from ``name``; they are not told."""
        block = Block(self.core.new_request_id(), name)
        self._request(block, Done, timeout, late=_said_late(block))

    def unblock(self, name: str, timeout: float = const.SEND_TIMEOUT) -> None:
        """Receive messages from ``name`` again."""
        unblock = Unblock(self.core.new_request_id(), name)
        self._request(unblock, Done, timeout, late=_said_late(unblock))

    def blocked(self, timeout: float = const.SEND_TIMEOUT) -> list[str]:
        """Whom this user blocks, as the server keeps it for every session of the user
        (sorted case-insensitively; each name as registered). Follows the server's pages
        within ``timeout`` in all; raises as :meth:`who` does (``RequestFailed`` with
        ``unknown_type`` from a server older than the ``blocks`` request)."""
        deadline = time.monotonic() + timeout
        names: list[str] = []
        after: str | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RequestTimeout(_("the list of blocked users did not arrive within {seconds} s").format(
                    seconds=f"{timeout:g}"))
            answer = self._request(BlockList(self.core.new_request_id(), after), Blocking, remaining)
            assert isinstance(answer, Blocking)
            names += answer.blocked
            if answer.next is None or not answer.blocked:
                return names
            after = answer.next

    def watch(self, names: Iterable[str], timeout: float = const.SEND_TIMEOUT) -> list[Presence]:
        """Watch the presence of ``names``: their ``UserJoined`` and ``UserLeft`` reach
        this client even when the room is too large for the server to announce them to
        everyone (PROTOCOL.md, "Presence"). Returns those of them online now, each with
        since when; the others are not online (a :class:`~protocol.Watching` answer also
        says which of them nobody has: ``unknown``). The names stay watched across reconnections:
        each new session watches them again and hands the application its
        :class:`~protocol.Watching` answer (the state may have changed meanwhile); so
        does a watch whose answer came after ``timeout`` (RequestTimeout was raised).
        Sent in requests of at most ``WATCH_PART`` names (whose answer always fits in a
        frame, whatever the names), within ``timeout`` in all; raises like :meth:`who`
        (``too_many_watched`` past ``const.MAX_WATCHED``)."""
        wanted = list({canonical(name): name for name in names}.values())
        deadline = time.monotonic() + timeout
        online: list[Presence] = []
        for start in range(0, len(wanted), WATCH_PART):
            part = wanted[start:start + WATCH_PART]
            answer = self._request(Watch(self.core.new_request_id(), tuple(part)), Watching,
                                   max(0.0, deadline - time.monotonic()), late=lambda late, part=part:
                                   self._watched_late(late, part))
            assert isinstance(answer, Watching)
            online += answer.users
            with self._lock:
                self.core.watched.update((canonical(name), name) for name in part)
        return online

    def _watched_late(self, answer: Event, names: list[str]) -> list[Event]:
        """(Lock held; the receiver.) The answer to a watch() that timed out came after all:
        the server watches ``names`` now, so the reconnections watch them again, and the
        answer is handed on as :meth:`watch_soon`'s (a refusal: nothing is watched)."""
        if not isinstance(answer, Watching):
            return []
        self.core.watched.update((canonical(name), name) for name in names)
        return [answer]

    def watch_soon(self, names: Iterable[str]) -> None:
        """Like :meth:`watch`, without waiting, for names not watched yet: the
        :class:`~protocol.Watching` answer is handed to the application as an event (an
        error is logged, and those names are not kept). While disconnected the names are
        kept and watched once the session is back. Callable from ``on_event``."""
        with self._lock:
            self.core.watch_soon(names)
            self._flush()

    def unwatch(self, names: Iterable[str], timeout: float = const.SEND_TIMEOUT) -> None:
        """Stop watching ``names`` (names not watched are ignored)."""
        self._refuse_on_receiver("unwatch()")  # before the names are forgotten here
        gone = list({canonical(name): name for name in names}.values())
        with self._lock:
            for name in gone:
                self.core.watched.pop(canonical(name), None)
        deadline = time.monotonic() + timeout
        for start in range(0, len(gone), MAX_NAMES_PER_REQUEST):
            self._request(Unwatch(self.core.new_request_id(), tuple(gone[start:start + MAX_NAMES_PER_REQUEST])), Done,
                          max(0.0, deadline - time.monotonic()))

    @property
    def watched(self) -> list[str]:
        """The names this client watches, as given to :meth:`watch`."""
        with self._lock:
            return list(self.core.watched.values())

    def register(self, password: str, timeout: float = const.SEND_TIMEOUT) -> None:
        """Claim the name this guest session uses, protected by ``password`` (at least
        ``const.MIN_PASSWORD_LENGTH`` characters). From then on the name needs the
        password; this client keeps it (in memory) for its reconnections.

        A connection lost after the request went out and before the server's answer leaves
        the outcome open: the account may have been made. The reconnection's hello then
        carries ``password``, which logs in to the account if it was made and is ignored
        for a guest name if not (PROTOCOL.md, ``hello``), and its welcome settles it:
        within ``timeout`` (in all) this returns as after the server's ``ok``, or raises
        :class:`NotConnected` saying the name was not registered. Without a login by then it
        raises :class:`AnswerLost` (``uncertain``), and the next login settles it all the
        same (``registered``, ``password``).

        No answer within ``timeout`` on a connection that stays open: :class:`RequestTimeout`
        (``uncertain``), saying the account may have been made. The server's answer, if it
        comes later, settles the claim (an ``ok``: ``registered`` and ``password`` as after
        one in time; a refusal: nothing was made), and is not handed on; else the next
        login does, as above."""
        if len(password) < const.MIN_PASSWORD_LENGTH:
            raise RequestFailed(ErrorCode.WEAK_PASSWORD,
                                f"a password needs at least {const.MIN_PASSWORD_LENGTH} characters")
        _check_field("password", password)
        deadline = time.monotonic() + timeout
        with self._lock:
            # Set before the request goes out: a reconnection may log in before this thread
            # sees the loss. (An account's session has nothing to claim: the server refuses.)
            claim = self._claiming = password if self.password is None else None
        try:
            self._request(Register(self.core.new_request_id(), password), Done, timeout,
                          late=lambda answer: self._claim_answered(password, answer))
        except AnswerLost:
            if claim is None:
                raise
            with self._lock:
                settled = self._claim_settled.wait_for(lambda: self._claiming is None or not self.core.alive,
                                                       max(0.0, deadline - time.monotonic()))
                if not settled or self._claiming is not None:
                    raise AnswerLost(_("the connection was lost before the server answered: whether the name was "
                                       "registered is not known yet (the next login finds out)")) from None
                if not (self.registered and self.password == password):
                    raise NotConnected(_("the name was not registered: the connection was lost before the server "
                                         "got the request; register again")) from None
        except RequestTimeout:
            if claim is None:
                raise
            # The answer may still come (_claim_answered), or not: the next login settles the claim.
            raise RequestTimeout(_("no answer from the server within {seconds} s: whether the name was registered "
                                   "is not known yet (its answer, if it still comes, or the next login finds "
                                   "out)").format(seconds=f"{timeout:g}")) from None
        except ClientError:  # an answer (an error), or never sent: nothing was made
            with self._lock:
                self._claiming = None
            raise
        with self._lock:
            self._claiming = None
            self.password = password
            self.registered = True
            self.register_on_login = False

    def _claim_answered(self, password: str, answer: Event) -> list[Event]:
        """(Lock held; the receiver.) The answer to a register() that timed out came after
        all: an ``ok`` made the account (kept as after one in time), a refusal made nothing
        (unless ``uncertain``: then the next login settles the claim). Handed on: nothing."""
        if isinstance(answer, Done):
            self.password = password
            self.registered = True
            self.register_on_login = False
            if self._claiming == password:
                self._claiming = None
        elif not getattr(answer, "uncertain", False) and self._claiming == password:
            self._claiming = None
        self._claim_settled.notify_all()
        return _answered_late(Register.TYPE, answer)

    def unregister(self, password: str, timeout: float = const.SEND_TIMEOUT) -> None:
        """Delete this account, proving its ``password`` (PROTOCOL.md, "unregister"); returns
        once the server deleted it (the session then ends: ``account_deleted``, then
        ``bye``), else RequestFailed (``bad_password``, ``rate_limited``, ``unavailable``,
        ``forbidden`` for a guest) and nothing changed."""
        self._request(Unregister(self.core.new_request_id(), password), Done, timeout,
                      late=lambda answer: _answered_late(Unregister.TYPE, answer))  # (not the password)

    def change_password(self, old: str, new: str, timeout: float = const.SEND_TIMEOUT) -> None:
        """Change this account's password from ``old`` to ``new`` (PROTOCOL.md, "password");
        returns once the server stored it, else RequestFailed (``bad_password``,
        ``weak_password``, ``rate_limited``, ``unavailable``, ``forbidden`` for a guest) and
        nothing changed. This client keeps the new one (in memory) for its reconnections,
        also when the server's ``ok`` comes after ``timeout`` (RequestTimeout was raised).

        When the outcome is not known (RequestTimeout, AnswerLost, or RequestFailed
        ``unavailable`` with ``uncertain``), the change may have been made: a late answer
        settles it, and else the next login with a password does, as for :meth:`register`:
        its hello carries ``new`` (a welcome: it was made, and is kept), and after
        ``bad_password`` the old one (it was not). A login with the resume credential, which
        the change keeps working, settles nothing."""
        if len(new) < const.MIN_PASSWORD_LENGTH:
            raise RequestFailed(ErrorCode.WEAK_PASSWORD,
                                f"a password needs at least {const.MIN_PASSWORD_LENGTH} characters")
        _check_field("old_password", old)
        _check_field("new_password", new)
        with self._lock:
            kept = self.core.credential.secret  # keeps working; the account's others stop
            # In doubt from before the request goes out: a reconnection may log in before
            # this thread sees the loss. (Not connected: nothing goes out, nothing in doubt.)
            change = (self.password, new)
            if self.core.usable() is None:
                self._password_change = change

        def settled(made: bool) -> None:  # lock held
            if made:
                self.password = new
            if self._password_change is change:
                self._password_change = None

        def changed_late(answer: Event) -> list[Event]:  # lock held: the receiver
            if isinstance(answer, Done) or not getattr(answer, "uncertain", False):
                settled(isinstance(answer, Done))
            return _answered_late(ChangePassword.TYPE, answer)
        try:
            self._request(ChangePassword(self.core.new_request_id(), old, new, kept), Done, timeout,
                          late=changed_late)
        except (RequestTimeout, AnswerLost):
            raise  # in doubt: a late answer, or the next login with a password, settles it
        except RequestFailed as exc:
            if not exc.uncertain:
                with self._lock:
                    settled(False)
            raise
        except ClientError:  # never written: nothing was changed
            with self._lock:
                settled(False)
            raise
        with self._lock:
            settled(True)

    def close(self, reason: str = "") -> None:
        """End the session: send Goodbye(reason) if it is open, close the socket (or stop
        reconnecting), and wait (bounded, about 2 * CLOSE_TIMEOUT) for the receiver
        thread to finish.

        Idempotent, callable from any thread (from ``on_event`` too, without the wait).
        Messages still unfinished fail with ``connection_lost``; the receiver delivers
        ConnectionClosed and sets ``closed`` as for any other end of the session.
        """
        in_receiver = threading.current_thread() is self._receiver
        with self._lock:
            sock, receiver = self._sock, self._receiver
            if (self.core.alive or self._connecting) and not self.core.closing:
                if sock is None:
                    self.core.close_reason = _("closed by this client")
                self.core.close(reason)
                self._wake.set()
                if self._attempt_sock is not None:
                    _shutdown(self._attempt_sock, socket.SHUT_RDWR)
                if sock is not None and self._writer is not None:
                    self._flush()  # the acks due and the Goodbye
                    # Half-close, once the writer wrote them: the server sees the end of our
                    # stream after the Goodbye and closes its side, which ends the receiver's
                    # reads cleanly. (Over TLS a half-close is not possible: the server closes
                    # after the Goodbye.)
                    if in_receiver:
                        self._writer.shut_after(socket.SHUT_RDWR)
                    elif not self._tls:
                        self._writer.shut_after(socket.SHUT_WR)
        if receiver is None or in_receiver:
            return
        receiver.join(CLOSE_TIMEOUT)
        if receiver.is_alive():
            # The server did not close its side: stop reading ourselves.
            self._cut()
            receiver.join(CLOSE_TIMEOUT)

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- Internals: requests ------------------------------------------------------------

    def _submit(self, message: OutgoingMessage) -> None:
        message._guard = self._refuse_on_receiver
        with self._lock:
            self.core.submit(message)
            if message.submitted and not self._flush() and not self.core.may_reconnect():
                self.core.withdraw(message)

    def _request(self, event: Event, expect: type[Event], timeout: float,
                 late: Callable[[Event], list[Event]] | None = None) -> Event:
        """Send request ``event`` and return its answer (``expect``) within ``timeout``;
        raises NotConnected (AnswerLost once written), RequestTimeout or RequestFailed.
        ``late(answer)``: what an answer that comes after the timeout does (under the lock,
        on the receiver thread: ClientCore.stop_waiting); without it, it is dropped."""
        self._refuse_on_receiver(type(event).__name__)
        answered = threading.Event()
        with self._lock:
            problem = self.core.usable()
            if problem is not None:
                raise NotConnected(problem)
            try:
                pending = self.core.request(event, expect)
            except ValueError:  # a name with lone surrogates cannot be encoded
                raise RequestFailed(ErrorCode.BAD_FIELD, "the request contains characters that cannot be sent") from None
            pending.wake = answered.set
            if not self._flush():
                self.core.forget(pending)
                raise NotConnected(f"could not send: {self.core.close_reason}")
        if not answered.wait(timeout):
            with self._lock:
                # The answer may have been matched between the wait and this lock.
                self.core.stop_waiting(pending, late)
            if not pending.answered:
                raise RequestTimeout(_("no answer from the server within {seconds} s").format(seconds=f"{timeout:g}"))
        if pending.error is not None:  # written, and the connection ended before the answer
            raise AnswerLost(pending.error)
        answer = pending.answer
        if isinstance(answer, ErrorReply):
            raise RequestFailed.of(answer)
        assert answer is not None
        return answer

    def _refuse_on_receiver(self, what: str) -> None:
        """Raise CalledFromReceiver if called on the receiver thread: ``what`` waits for an
        answer of the server, which only this very thread can read, so waiting would stall
        every event (and the answer itself) for the whole timeout. The one check of every
        call that waits for an answer: the requests, and a tracker's wait()."""
        if threading.current_thread() is self._receiver:
            raise CalledFromReceiver(f"{what} waits for the server's answer, which only the receiver thread can "
                                     "read: do not call it from on_event (use another thread; watch_soon() for "
                                     "watching; the MessageUpdate events for a message's progress)")

    # --- Internals: the socket ----------------------------------------------------------

    def _flush(self) -> bool:
        """Hand what the core has to send to the writer (lock held; never waits for the
        socket: client/writer.py); False if the connection is broken (then or already).

        A broken connection is shut down (by the writer) so the receiver's wait returns and
        it ends the connection (and reconnects, or runs the one end-of-session path).
        """
        data = self.core.data_to_send()
        if not data:
            return not self.core.broken
        if self._writer is None:
            return False
        why = self._writer.put(data)
        if why is not None:
            self.core.write_failed(why)
            return False
        return not self.core.broken

    def _attach(self, link: Link) -> None:
        """(Lock held.) Make ``link`` the session's connection, written by a writer of its own."""
        def failed(why: str) -> None:  # on the writer's thread, lock held
            if self._writer is writer:
                self.core.write_failed(why)
        self._sock, self._sock_tls = link
        writer = self._writer = SocketWriter(link.sock, self._lock, failed, name=f"chat-writer-{self.name}",
                                             tls=link.tls)

    def _detach(self) -> socket.socket | None:
        """(Lock NOT held; the receiver thread.) Stop the session's writer, then take its
        socket away (returned, to be closed under the lock): the writer has left any write
        by then, so none can land on a socket that reuses the descriptor. Over TLS the
        server is then told close_notify, if the writer left the stream whole (a try that
        does not wait: the connection is ending anyway)."""
        with self._lock:
            writer = self._writer
        if writer is not None:
            writer.stop()
        with self._lock:
            sock, tls = self._sock, self._sock_tls
            self._sock, self._sock_tls, self._writer = None, None, None
        if sock is not None and tls is not None and writer is not None and not writer.failed:
            with suppress(OSError):
                sock.settimeout(0)
                sock.send(tls.close_notify())
        return sock

    def _cut(self) -> None:
        with self._lock:
            if self._sock is not None:
                _shutdown(self._sock, socket.SHUT_RDWR)

    # --- Internals: the receiver thread -------------------------------------------------

    def _receive_loop(self) -> None:
        if hasattr(signal, "pthread_sigmask"):
            # Python runs signal handlers in the main thread only. A process-wide signal
            # (Ctrl-C) that the kernel hands to this thread would not interrupt the main
            # thread's blocking read, so leave these signals to the main thread.
            signal.pthread_sigmask(signal.SIG_BLOCK, _MAIN_THREAD_SIGNALS)
        try:
            while True:
                with self._lock:
                    sock, tls = self._sock, self._sock_tls
                assert sock is not None
                self._pump(sock, tls)
                if not self._recover():
                    break
        except Exception:  # a bug here must still end the session properly
            _log.exception("chat client receiver failed")
            with self._lock:
                self.core.set_reason(_("internal error in the client (see the log)"))
        finally:
            self._finish()

    def _pump(self, sock: socket.socket, tls: MemoryTLS | None) -> None:
        """Turn bytes into events and hand them on until the connection ends.

        The end is decided here, from the socket: after recv() returned b"" the events
        still in the core are handed on and the loop stops, whether or not the protocol
        yields ConnectionClosed (it does not after a Goodbye has passed).
        """
        # poll(), not select.select(): that one refuses a descriptor of 1024 or more
        # (FD_SETSIZE), which a process with many connections or files open gets, and the
        # client then reconnected for ever, each new socket refused the same way. (poll
        # needs no descriptor of its own, as epoll would; Windows has none, and its select
        # has no such limit.)
        with _Selector() as readable:
            readable.register(sock, selectors.EVENT_READ)
            self._pump_with(sock, tls, readable)

    def _pump_with(self, sock: socket.socket, tls: MemoryTLS | None, readable: selectors.BaseSelector) -> None:
        at_eof = False
        while True:
            with self._lock:
                items = self.core.next_events()
                self._flush()
                broken = self.core.broken
            if items is None:
                if broken or at_eof:
                    return
                outcome = self._read(sock, tls, readable)
                if outcome is _STOP:
                    return
                at_eof = outcome is _EOF
                continue
            for item in items:
                self._deliver(item)
            with self._lock:
                self.core.handed_on()  # the receipt of a direct message, owed acks
                self._flush()

    def _read(self, sock: socket.socket, tls: MemoryTLS | None, readable: selectors.BaseSelector) -> str:
        """Wait for bytes (``readable`` has ``sock`` registered) until the core's next
        deadline, and feed them (or the timeout) to it: _MORE (go on), _EOF (the stream
        ended; events may remain in the core) or _STOP (give up at once). Over TLS, the
        plaintext (:meth:`_unseal`)."""
        with self._lock:
            deadline = self.core.next_deadline()
        # Never longer than WAKE_CHECK: select() sleeps on the monotonic clock, which
        # stood still if the computer slept; reading the clock again sees the sleep.
        wait = next_wait(deadline, self._clock())
        try:
            if not readable.select(wait):
                return self._timed_out()
            data = sock.recv(RECV_BYTES)
            if tls is not None:
                unsealed = self._unseal(tls, data)
                if unsealed is None:
                    return _MORE  # a record's first piece, or one with no chat bytes
                data = unsealed
        except TimeoutError:
            return self._timed_out()
        except (OSError, ValueError) as exc:  # ValueError: select() on a closed socket
            with self._lock:
                self.core.set_reason(_(CONNECTION_ERROR).format(
                    why=getattr(exc, 'strerror', None) or exc or type(exc).__name__))
            return _STOP
        with self._lock:
            self.core.receive_data(data, self._clock())  # b"" lets the core report a cut frame
        return _MORE if data else _EOF

    def _unseal(self, tls: MemoryTLS, data: bytes) -> bytes | None:
        """(Receiver.) ``data`` read over TLS -> its plaintext; ``b""`` at the end of the stream
        (close_notify, or the socket's end), once the plaintext before it is fed to the core;
        None if no plaintext came yet. Decrypted all at once, nothing stays where select()
        cannot see it; records the read made go to the writer, which alone writes, so that
        they leave in order (client/tlsbio.py). Raises ssl.SSLError for a bad record."""
        plain = tls.receive(data)
        if tls.owed():
            with self._lock:
                if self._writer is not None:
                    self._writer.nudge()
        if not tls.ended:
            return plain or None
        if plain:
            with self._lock:
                self.core.receive_data(plain, self._clock())
        return b""

    def _timed_out(self) -> str:
        with self._lock:
            self.core.handle_timeout(self._clock())
            self._flush()
            return _STOP if self.core.broken else _MORE

    # --- Internals: reconnecting --------------------------------------------------------

    def _recover(self) -> bool:
        """The connection ended: reconnect if allowed, over the core's failover and
        backoff generators. Returns True once a session is open again, False when the
        session ends for good."""
        sock = self._detach()
        with self._lock:
            if sock is not None:
                sock.close()
            self.core.connection_lost()  # wakes the callers waiting for an answer
            if not self.core.may_reconnect():
                return False
            reason = self.core.close_reason or _("the connection ended")
            leaving = self.core.goodbye is not None
            start = self.core.backoff_start(self._clock())  # after a short session, from further on
        floor = 0.0
        attempts = failover(self.servers, self._server_index,
                            backoff(self._reconnect_delay, self._reconnect_max_delay, start=start), leaving,
                            spread_start(self.name))
        for attempt, (index, nominal) in enumerate(attempts, 1):
            with self._lock:
                if self.core.closing:
                    return False
            if self._max_reconnect_attempts is not None and attempt > self._max_reconnect_attempts:
                with self._lock:
                    self.core.give_up(f"gave up reconnecting after {attempt - 1} attempts ({reason})")
                return False
            delay = max(floor, nominal)
            self._deliver(Reconnecting(attempt, round(delay, 2), reason))
            if self._pause(delay):
                return False  # close()
            try:
                link, conn, welcome = self._open_session(self._connect_timeout, index)
            except (LoginRefused, ServerUnreachable) as exc:
                again, floor, said = reconnection_failed(exc, self.name, self.servers, index)
                if again:
                    reason = said
                    continue
                with self._lock:
                    if isinstance(exc, LoginRefused):
                        self.login_error = exc
                    self.core.give_up(said)
                return False
            with self._lock:
                if self.core.closing:
                    link.close()
                    return False
                self._attach(link)
                moved = index != self._server_index
                self._server_index = index
                resent = self.core.open(conn, welcome, self._clock(), reconnected=True)
                self._set_timeout(link.sock)
                self.welcome = welcome
                self._flush()
            self.reconnects += 1
            host, port = self.servers[index]
            self._deliver(Reconnected(welcome, resent, format_address(host, port) if moved else ""))
            return True
        return False  # not reached: the attempts are endless

    def _pause(self, delay: float) -> bool:
        """Wait ``delay`` seconds on the clock of waits, so that a sleep of the computer
        counts: a wait of the backoff (up to half a minute) begun before the lid closed
        ends within WAKE_CHECK of waking, not after its rest. True if close() ended it."""
        until = self._clock() + delay
        while (wait := next_wait(until, self._clock())):
            if self._wake.wait(wait):
                return True
        return self._wake.is_set()

    # --- Internals: events --------------------------------------------------------------

    def _deliver(self, event: Event) -> None:
        """Hand one event to the application (never with the lock held)."""
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                on_event_raised(self._event_errors, self.name, event)
            return
        while True:
            try:
                if self._dropped:  # closing, and nobody takes events: no wait for each of the rest
                    self.events.put_nowait(event)
                else:
                    self.events.put(event, timeout=_QUEUE_POLL)
                return
            except queue.Full:
                if self.core.closing:
                    self._dropped += 1  # said once, at the end (_finish)
                    return

    def _finish(self) -> None:
        """The one end-of-session path: release the socket, fail what is unfinished,
        deliver ConnectionClosed once, set ``closed``."""
        sock = self._detach()
        with self._lock:
            if sock is not None:
                sock.close()
            updates, _waiting = self.core.end()  # wakes the callers waiting for an answer
            self._claim_settled.notify_all()  # a register() waiting for the next login: none comes
        for update in updates:
            self._deliver(update)
        before = self._dropped
        self._deliver(ConnectionClosed())
        if self._dropped:
            _log.warning("%d events dropped while closing%s: client.events was full, nobody took them",
                         self._dropped, ", ConnectionClosed too" if self._dropped > before else "")
            self._dropped = 0
        self._event_errors.flush()  # how many more on_event raised, if it did
        self.closed.set()
