"""The threaded chat client: one socket, one receiver thread, one lock around the core.

Modelled on websockets' threaded client. The sans-I/O :class:`protocol.Connection` does
the framing and the session rules; this module only moves bytes, matches answers to
requests, and keeps the session going across lost connections::

    client = ChatClient("Alice", on_event=handle)     # or read client.events (a Queue)
    client.connect()                                  # -> Welcome, or raises
    msg = client.send_direct("Bob", "hi")             # -> OutgoingMessage tracker
    msg.wait({"delivered", "queued"}, timeout=10)
    client.who(timeout=5)                             # -> [Presence, ...]
    client.history("Bob", 20)                         # -> [HistoryEntry, ...] oldest first
    client.close()

Threads. After :meth:`ChatClient.connect` a receiver thread owns ``recv()``. Every use of
the core and every write to the socket happens under one lock (``_lock``), so ``send_*``,
``who``, ``lookup`` and ``close`` may be called from any thread while the receiver runs;
the bytes of one frame are never interleaved with another's. The lock is never held while
calling the application or while waiting for an answer.

What the application receives, in order, on the receiver thread (``on_event``) or through
``client.events``: every event the core yields (``DirectMessage``, ``RoomMessage``,
``UserJoined``, ``UserLeft``, ``Goodbye``, unmatched ``ErrorReply``, ``FrameRejected``...),
plus :class:`~client.events.Reconnecting` and :class:`~client.events.Reconnected`, EXCEPT
the answers matched to a request of this client. Those are consumed: ``Accepted``,
``Queued``, ``Delivered`` and ``ErrorReply`` for a sent message update its tracker and are
replaced by one :class:`~client.outgoing.MessageUpdate`; ``UserList``, ``LookupResult``,
``HistoryPage``, ``Watching``, ``Done`` and ``ErrorReply`` for the blocking requests are
returned (or raised) by that call; the ``Watching`` answers of the watches a reconnection
renews (see :meth:`ChatClient.watch`) are handed on. ``Delivered`` (or an ``expired``
ErrorReply) for a request id this object never sent is passed on as it is: the server
tells the outcome of messages sent by an earlier run right after the welcome. An answer that comes after its caller gave up
waiting is passed on as it is. When the session ends for good, unfinished messages fail
(``connection_lost``, one MessageUpdate each), then exactly one ``ConnectionClosed`` is
delivered, then ``closed`` is set.

Reconnecting (``reconnect=True``, the default). When the connection drops without the
server's ``bye`` (reset, end of stream, heartbeat silence), the receiver thread opens a new
session by itself: it waits ``reconnect_delay`` seconds, doubling after each failed attempt
up to ``reconnect_max_delay``, with +-20 % jitter so that many clients cut off together do
not come back in lockstep; it logs in again with the same name and the password kept in
memory, or for a guest the resume token it was given (client/resume.py). The application
sees ``Reconnecting(attempt, delay, reason)`` before each wait and
``Reconnected(welcome, resent)`` once the session is back (the first login is retried
only when :meth:`ChatClient.connect` is asked to); ``closed`` stays clear and no
``ConnectionClosed`` is delivered in between. Refusals that cannot get better by waiting
(``bad_password``, ``auth_required``, ``accounts_required``, ``invalid_name``,
``unsupported_version``, an unverifiable certificate) end the session for good instead;
so do :meth:`close` and the server's ``bye`` (a deliberate shutdown).

Exactly once, sending side. Every message the server has not acknowledged yet (state
``sending``) stays in ``_outgoing``, in the order it was sent. After a reconnection they
are written again, in that order and with the SAME request ids: the server recognises a
resend and answers with the message's current state, so nothing is stored or delivered
twice. Messages typed while disconnected wait in the same order (at most
``max_waiting``; beyond that ``send_*`` fails with ``queue_full``) and go out right after.
A message the server acknowledged (``sent``, ``queued``) is never written again; its
tracker stays open for ``delivered`` or ``expired``. The server tells that outcome again
at every login until the client acknowledges it (``OutcomeAck``): the client does so once
the outcome is in the tracker and its MessageUpdate was handed to the application (or, for
a message this object never sent, once the event itself was), with the other acks of the
same read, or at the latest in :meth:`close` before its Goodbye; a repeat of an outcome it
already has is acknowledged again but not handed on twice. After
a reconnection the client also asks the conversation history of each peer with such
messages and settles the trackers whose messages it shows ``delivered`` or ``expired``
(a fallback for servers that tell an outcome only once).

Request ids. Each object draws 128 random bits once and numbers its requests after them,
so ids never repeat across objects, runs or machines in practice: the server refuses a
different message under a used id (``id_reused``) and would take a repeat for a resend.

Exactly once, receiving side. The msg_ids of the last ``seen_limit`` direct messages
handed to the application are remembered: a message the server sends again (because our
receipt was lost with a connection) is confirmed again but not handed on a second time.

Receipts. A ``DirectMessage`` is acknowledged with a ``Receipt`` only after it was handed
to the application (``on_event`` returned, or the event is in the queue): a client that
crashes before that leaves the message unconfirmed, as it should.

Back-pressure. ``client.events`` holds up to ``EVENT_QUEUE_SIZE`` events; when it is full
the receiver waits for room, which stops it reading the socket, so an application that
stops draining the queue slows the server's sends to it instead of growing memory here.

Liveness. The server pings a silent client, and the core answers by itself. In the other
direction, if nothing arrives for ``heartbeat_interval`` seconds the client pings the
server, and after ``heartbeat_timeout`` seconds of silence it declares the connection lost
(a server host that vanished without closing the connection would otherwise leave
``recv()`` blocked forever); with ``reconnect`` it then tries to reconnect.

TLS (``tls=True``). The socket is wrapped with ``ssl.create_default_context(cafile=...)``:
the server's certificate must chain to the system's trusted CAs (or to ``cafile``) and
match ``host``; otherwise :class:`~client.errors.CertificateError` ("cannot verify the
server's certificate: ...").
"""

from __future__ import annotations

import itertools
import logging
import queue
import random
import secrets
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import suppress

import const
from protocol import (
    EDITS,
    READ,
    TYPING,
    Delete,
    Deleted,
    Edit,
    Edited,
    EditReceipt,
    Read,
    Settings,
    Typing,
    CARBONS,
    Accepted,
    Block,
    Connection,
    ConnectionClosed,
    Delivered,
    DirectMessage,
    Done,
    ErrorCode,
    ErrorReply,
    Event,
    FrameRejected,
    Goodbye,
    Hello,
    HistoryEntry,
    HistoryPage,
    HistoryRequest,
    LookupRequest,
    LookupResult,
    OutcomeAck,
    Ping,
    Presence,
    Queued,
    Receipt,
    Register,
    Role,
    SendDirect,
    SendRoom,
    State,
    Unblock,
    Unwatch,
    UserList,
    Watch,
    Watching,
    Welcome,
    WhoRequest,
)
from protocol.codec import MAX_HISTORY_PAGE, MAX_NAMES_PER_REQUEST, encode
from i18n import _
from registry import InvalidName, canonical, validate_name
from registry.names import explain as explain_refusal

from .errors import (
    CertificateError,
    LocalError,
    LoginInterrupted,
    LoginRefused,
    NotConnected,
    RequestFailed,
    RequestTimeout,
    ServerUnreachable,
)
from .events import Reconnected, Reconnecting
from .transport import open_socket, tls_context
from .outgoing import DELIVERED, FAILED, QUEUED, SENDING, SENT, MessageUpdate, OutgoingMessage
from .resume import ResumeTokens

_log = logging.getLogger(__name__)

# Events the queue holds before the receiver waits for the application to take some.
EVENT_QUEUE_SIZE = 10_000
# Bytes asked of one recv(); the core reassembles frames across reads of any size.
RECV_BYTES = 64 * 1024
# After sending its Goodbye, close() waits this long for the server to end the stream
# (so nothing the server sent is cut off by a reset), then cuts it itself.
CLOSE_TIMEOUT = 2.0
# Reconnection backoff: the first wait, and the longest (seconds).
RECONNECT_DELAY = 0.5
RECONNECT_MAX_DELAY = 30.0
# Each wait is the nominal one times a random factor in this range.
_JITTER = (0.8, 1.2)
# Messages that may wait in the client for the connection to come back.
MAX_WAITING = 1000
# Incoming direct messages whose msg_id is remembered, to show each one only once.
SEEN_LIMIT = 10_000
# Request ids of finished messages remembered, so late or repeated answers stay quiet.
_FINISHED_LIMIT = 10_000
# Messages per history request (the protocol allows at most MAX_HISTORY_PAGE).
HISTORY_PAGE_SIZE = MAX_HISTORY_PAGE
# History asked per peer when settling trackers after a reconnection: this many full
# pages worth of messages (a page of long messages holds fewer).
_RECONCILE_PAGES = 4
# Login refusals that waiting may cure: try again with backoff while reconnecting.
_RETRY_LOGIN = frozenset({ErrorCode.NAME_TAKEN, ErrorCode.SERVER_FULL, ErrorCode.TOO_MANY_CONNECTIONS,
                          ErrorCode.RATE_LIMITED})
# The server checks reason fields against this many characters (codec._MAX_SHORT_TEXT).
_MAX_REASON_CHARS = 256
# Signals the receiver thread blocks, so that the kernel delivers them to the main thread.
_MAIN_THREAD_SIGNALS = {getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)}
# Outcomes of one read by the receiver.
_MORE, _EOF, _STOP = "more", "eof", "stop"
# How often a receiver blocked on a full queue looks whether the client is closing.
_QUEUE_POLL = 0.1


def _outcome_of(event: Event | None) -> int | None:
    """The msg_id whose outcome ``event`` tells (``delivered``, or the ``expired`` error),
    else None."""
    if isinstance(event, Delivered):
        return event.msg_id
    if isinstance(event, ErrorReply) and event.code == ErrorCode.EXPIRED:
        return event.msg_id
    return None


class _PendingReply:
    """A request waiting for the answer with its request id: a blocked caller (who,
    lookup, history...) or, with ``callback``, the library itself (called under the lock,
    it returns the events to hand on)."""

    __slots__ = ("expect", "answered", "answer", "error", "callback")

    def __init__(self, expect: type[Event], callback: Callable[[Event], list[Event]] | None = None) -> None:
        self.expect = expect
        self.answered = threading.Event()
        self.answer: Event | None = None
        self.error: Exception | None = None
        self.callback = callback


def _shutdown(sock: socket.socket, how: int) -> None:
    # socket.socket's own shutdown: SSLSocket.shutdown() also drops the TLS layer, after
    # which a recv() in the receiver thread would return raw TLS records.
    with suppress(OSError):
        socket.socket.shutdown(sock, how)


class ChatClient:
    """A chat session as user ``name`` with the server at ``host``:``port``.

    ``on_event(event)``, if given, is called on the receiver thread for every event (see
    the module docstring for which); it must not block for long, and exceptions it raises
    are logged and otherwise ignored. Without it, events go to ``self.events``, a
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

    Transport: ``tls`` wraps the connection in TLS, trusting ``cafile`` (a PEM file of
    CA certificates or the server's own) or else the system's store; ``ssl_context``
    replaces the default context altogether.

    Reconnection: ``reconnect`` (default True), ``reconnect_delay`` and
    ``reconnect_max_delay`` (the backoff), ``max_reconnect_attempts`` (None: until
    :meth:`close`), ``connect_timeout`` (for each attempt). ``max_waiting`` bounds the
    messages typed while disconnected; ``seen_limit`` the msg_ids remembered.

    Public attributes: ``name``, ``host``, ``port``, ``events``, ``closed`` (a
    ``threading.Event`` set when the session has ended for good and ConnectionClosed was
    delivered), ``welcome`` (the last Welcome), ``registered`` (logged in to an account),
    ``reconnects`` (how many times the session was restored), ``close_reason`` (why the
    last connection ended, in words: the server's goodbye reason, "the server closed the
    connection"...), ``login_error`` (the :class:`LoginRefused` that stopped the
    reconnections, if one did).

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
                 seen_limit: int = SEEN_LIMIT) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.events: queue.Queue[Event] = queue.Queue(EVENT_QUEUE_SIZE)
        self.closed = threading.Event()
        self.welcome: Welcome | None = None
        self.close_reason = ""
        self.password = password
        self.register_on_login = register
        self.registered = False
        self.resume_tokens = resume_tokens if resume_tokens is not None else ResumeTokens.default()
        self.reconnects = 0
        self.login_error: LoginRefused | None = None
        self._on_event = on_event
        self._heartbeat_interval = heartbeat_interval
        self._heartbeat_timeout = heartbeat_timeout
        self._tls = tls or cafile is not None or ssl_context is not None
        self._cafile = cafile
        self._ssl_context = ssl_context
        self._reconnect = reconnect
        self._reconnect_delay = reconnect_delay
        self._reconnect_max_delay = max(reconnect_delay, reconnect_max_delay)
        self._max_reconnect_attempts = max_reconnect_attempts
        self._connect_timeout = connect_timeout
        self._max_waiting = max_waiting
        self._seen_limit = seen_limit
        # Guards the core, the socket's write side, the trackers and the flags below.
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._sock: socket.socket | None = None
        self._receiver: threading.Thread | None = None
        self._alive = False          # a session is running (from connect() to the final end)
        self._closing = False        # close() was called
        self._ending = False         # the server said goodbye, or a login failed for good
        self._connecting = False     # connect() is under way
        self._attempt_sock: socket.socket | None = None  # a login under way, for close() to cut
        self._wake = threading.Event()  # set by close() to end a backoff wait at once
        self._retry_timer: threading.Timer | None = None
        # request_id -> tracker, for messages not yet in a final state, in sending order.
        self._outgoing: dict[str, OutgoingMessage] = {}
        # request_id -> pending request (blocked call, or the library's own).
        self._replies: dict[str, _PendingReply] = {}
        # Request ids of recently finished messages (a dict used as an ordered set).
        self._finished: dict[str, None] = {}
        # msg_ids of direct messages handed to the application, oldest first.
        self._seen: dict[int, None] = {}
        # msg_ids of outcomes held by trackers, to acknowledge (see _acknowledge).
        self._acks_due: list[int] = []
        # msg_ids of outcomes handed on for messages this object did not send, oldest first.
        self._outcomes_seen: dict[int, None] = {}
        # 128 random bits keep ids apart between client objects and runs (the server keeps
        # ids for months, and a --send script makes a new object every run); the counter
        # keeps them apart within this object.
        self._id_prefix = secrets.token_hex(16)
        self._ids = itertools.count(1)
        self._last_received = 0.0
        # Names this client watches (canonical -> as given): watched again on every new
        # session, since the server ends a session's subscriptions with it.
        self._watched: dict[str, str] = {}

    # --- Connecting ---------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``host:port`` of the server, for messages."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def tls(self) -> bool:
        """True if connections are made over TLS."""
        return self._tls

    @property
    def connected(self) -> bool:
        """True while the session is open and the client is not closing it."""
        with self._lock:
            return self._usable() is None

    @property
    def reconnecting(self) -> bool:
        """True while the connection is lost and the client is trying to restore it."""
        with self._lock:
            return self._alive and self._sock is None and not self._closing and not self._ending

    def connect(self, timeout: float = const.CONNECT_TIMEOUT, *, retry_until: float | None = None,
                on_retry: Callable[[Reconnecting], object] | None = None) -> Welcome:
        """Open the TCP connection (and TLS), log in, start the receiver thread; return the
        Welcome.

        ``timeout`` bounds the TCP connect and the wait for the server's answer to the
        hello, each. Raises :class:`LoginRefused` if the server (or the local name check)
        refuses the login, :class:`ServerUnreachable` (:class:`CertificateError` for TLS
        verification) if no session could be opened, and RuntimeError if this client is
        already connected.

        By default one attempt is made. With ``retry_until`` (a ``time.monotonic()``
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
            if self._alive or self._sock is not None or self._connecting:
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
                name=self.name, why=explain_refusal(exc, _))) from None
        with self._lock:
            self._closing = False
            self._wake.clear()  # close() sets it to end a retry wait at once
        sock, conn, welcome, interval = self._open_first_session(timeout, retry_until, on_retry)
        with self._lock:
            if self._closing:  # close() was called while we were logging in
                sock.close()
                raise ServerUnreachable("the client was closed while connecting")
            self._sock, self._conn = sock, conn
            self._ending = False
            self._alive = True
            self._wake.clear()
            self.close_reason = ""
            self.login_error = None
            self.welcome = welcome
            self._last_received = time.monotonic()
            self.closed.clear()
            self._receiver = threading.Thread(target=self._receive_loop, args=(interval,),
                                              name=f"chat-receiver-{self.name}", daemon=True)
            self._receiver.start()
        return welcome

    def _open_first_session(self, timeout: float, retry_until: float | None,
                            on_retry: Callable[[Reconnecting], object] | None
                            ) -> tuple[socket.socket, Connection, Welcome, float]:
        """:meth:`_open_session`, tried again after a :class:`LoginInterrupted` as
        :meth:`connect` describes."""
        attempt = 0
        while True:
            try:
                # A retry may not outlast the deadline (the first attempt keeps its timeout).
                return self._open_session(timeout if attempt == 0 or retry_until is None
                                          else max(0.05, min(timeout, retry_until - time.monotonic())))
            except LoginInterrupted as exc:
                attempt += 1
                if retry_until is None or not self._reconnect or (
                        self._max_reconnect_attempts is not None and attempt > self._max_reconnect_attempts):
                    raise
                delay = self._backoff(attempt)
                if time.monotonic() + delay >= retry_until:
                    raise
                if on_retry is not None:
                    on_retry(Reconnecting(attempt, round(delay, 2), str(exc)))
                if self._wake.wait(delay):
                    raise ServerUnreachable("the client was closed while connecting") from exc

    def _open_session(self, timeout: float) -> tuple[socket.socket, Connection, Welcome, float]:
        """Connect and log in; return the socket, the core, the Welcome and the interval
        after which a silent server is pinged. Raises like :meth:`connect`."""
        deadline = time.monotonic() + timeout
        sock = self._open_socket(timeout)
        with self._lock:
            if self._closing:  # close() came while we were connecting
                sock.close()
                raise ServerUnreachable("the client is closing")
            self._attempt_sock = sock
        conn = Connection(Role.CLIENT)
        try:
            welcome = self._log_in(sock, conn, deadline, timeout)
        except BaseException:
            sock.close()
            raise
        finally:
            with self._lock:
                self._attempt_sock = None
        self.registered = welcome.registered
        if welcome.resume:  # we took the name as a guest: this proves it is ours next time
            self.resume_tokens.put(self.address, welcome.name, welcome.resume)
        if welcome.registered:
            self.register_on_login = False  # claimed: from now on it is a plain login
        # The server's interval unless the caller chose one; never an absurd value from the wire.
        interval = self._heartbeat_interval or (welcome.heartbeat if 0 < welcome.heartbeat < 86400 else 0) \
            or const.HEARTBEAT_INTERVAL
        # recv() wakes this often to check liveness; sendall() gives up after as long
        # (a server that stops reading for that long is treated as gone).
        sock.settimeout(max(0.05, min(interval, self._heartbeat_timeout)))
        return sock, conn, welcome, interval

    def _open_socket(self, timeout: float) -> socket.socket:
        context = self._tls_context() if self._tls else None
        return open_socket(self.host, self.port, timeout, context)

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = tls_context(self._cafile)
        return self._ssl_context

    def _resume_token(self) -> str | None:
        """The guest token for this server and name: the one kept, or, for a guest without
        one, a new secret kept *before* the hello goes out, so that a retry after a lost
        welcome proves it is the same guest (PROTOCOL.md, "Guest names")."""
        token = self.resume_tokens.get(self.address, self.name)
        if token is None and self.password is None:
            token = secrets.token_urlsafe(32)
            self.resume_tokens.put(self.address, self.name, token)
        return token

    def _log_in(self, sock: socket.socket, conn: Connection, deadline: float, timeout: float) -> Welcome:
        """Send the hello and read until the Welcome (returned) or a refusal (raised).

        Anything the server sent after the Welcome stays in the core's buffer for the
        receiver thread, which drains the core before its first recv().
        """
        where = self.address
        # Carbons: copies of what our other sessions send come as Carbon events, handed on
        # like any other (their outcomes like those of an earlier run's messages).
        hello = Hello(self._new_request_id(), self.name, const.PROTOCOL_VERSION, self.password,
                      bool(self.register_on_login), self._resume_token(), (CARBONS, READ, TYPING, EDITS))
        try:
            sock.sendall(conn.send(hello))
            at_eof = False
            while True:
                event = conn.next_event()
                if event is None:
                    remaining = deadline - time.monotonic()
                    if at_eof:  # decided here, whether or not the core reports the end
                        raise ServerUnreachable(f"{where} closed the connection during the login")
                    if remaining <= 0:
                        raise TimeoutError
                    sock.settimeout(remaining)
                    data = sock.recv(RECV_BYTES)
                    at_eof = not data
                    conn.receive_data(data)
                elif isinstance(event, Welcome):
                    return event
                elif isinstance(event, ErrorReply):
                    raise LoginRefused(event.code, event.message, event.retry_after)
                elif isinstance(event, Ping):
                    sock.sendall(conn.data_to_send())
                elif isinstance(event, Goodbye):
                    raise ServerUnreachable(f"{where} ended the session during the login: "
                                            f"{event.reason or 'no reason given'}")
                elif isinstance(event, ConnectionClosed):
                    raise ServerUnreachable(f"{where} closed the connection during the login")
                elif isinstance(event, FrameRejected):
                    raise ServerUnreachable(f"{where} does not speak this chat protocol "
                                            f"({event.code}: {event.message})")
                # A Pong needs nothing.
        except (ServerUnreachable, LoginRefused):
            raise
        except ValueError:  # a password with lone surrogates cannot be encoded
            raise LoginRefused(ErrorCode.BAD_FIELD, "the password contains characters that cannot be sent") from None
        except TimeoutError as exc:
            raise ServerUnreachable(f"{where} did not answer the login within {timeout:g} s") from exc
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as exc:
            # A reset is a fault on the way; a clean end of the stream (above) is the
            # server's choice (a TLS server that got plain text closes like that).
            raise LoginInterrupted(f"the connection to {where} was cut during the login: "
                                   f"{exc.strerror or exc}") from exc
        except OSError as exc:
            raise ServerUnreachable(f"the connection to {where} failed during the login: "
                                    f"{exc.strerror or exc}") from exc

    # --- Sending ------------------------------------------------------------------------

    def send_direct(self, to: str, text: str) -> OutgoingMessage:
        """Send ``text`` to user ``to``; return its tracker at once (state ``sending``).

        Never raises for connection problems: if the message cannot be sent (not
        connected, text too long) the tracker comes back ``failed`` with ``submitted``
        False. While the client is reconnecting it comes back ``sending`` with
        ``submitted`` False and goes out once the session is back. Thread-safe.
        """
        message = OutgoingMessage(self._new_request_id(), to, text)
        self._submit(message, SendDirect(message.request_id, to, text))
        return message

    def send_room(self, text: str) -> OutgoingMessage:
        """Send ``text`` to the broadcast room; like :meth:`send_direct` (final at ``sent``)."""
        message = OutgoingMessage(self._new_request_id(), None, text)
        self._submit(message, SendRoom(message.request_id, text))
        return message

    @property
    def pending(self) -> list[OutgoingMessage]:
        """Messages not in a final state yet, in the order they were sent."""
        with self._lock:
            return list(self._outgoing.values())

    # --- Requests -----------------------------------------------------------------------

    def who(self, timeout: float = const.SEND_TIMEOUT) -> list[Presence]:
        """Ask who is online; return the users (sorted by name by the server).

        The server answers in pages that each fit in one frame; this follows them all,
        within ``timeout`` in all. Someone who comes or goes meanwhile may be missing or
        still listed; everyone online throughout is listed once.

        Raises :class:`NotConnected`, :class:`RequestTimeout` or :class:`RequestFailed`
        (this applies to every blocking request below too).
        """
        deadline = time.monotonic() + timeout
        users: list[Presence] = []
        after: str | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RequestTimeout(f"the list of users did not arrive within {timeout:g} s")
            answer = self._request(WhoRequest(self._new_request_id(), after), UserList, remaining)
            assert isinstance(answer, UserList)
            users += answer.users
            if answer.next is None or not answer.users:
                return users
            after = answer.next

    def lookup(self, name: str, timeout: float = const.SEND_TIMEOUT) -> LookupResult:
        """Ask the registry where ``name`` is: status ``"online"``, ``"offline"`` (a known
        user; messages to them wait for their next login) or ``"unknown"``."""
        answer = self._request(LookupRequest(self._new_request_id(), name), LookupResult, timeout)
        assert isinstance(answer, LookupResult)
        return answer

    def history_page(self, peer: str, limit: int = 50, before: int | None = None,
                     timeout: float = const.SEND_TIMEOUT) -> HistoryPage:
        """One page of the conversation with ``peer``: up to ``limit`` (1 to 500) messages
        older than msg_id ``before`` (None: the newest), oldest first; ``page.before`` is
        the cursor for the next older page, None when there is none."""
        answer = self._request(HistoryRequest(self._new_request_id(), peer, limit, before), HistoryPage, timeout)
        assert isinstance(answer, HistoryPage)
        return answer

    def history(self, peer: str, limit: int = 20, timeout: float = const.SEND_TIMEOUT,
                page_size: int | None = None) -> list[HistoryEntry]:
        """The last ``limit`` messages between this user and ``peer``, both directions,
        oldest first, each with its state (``sent``, ``queued``, ``delivered``,
        ``expired``). Asks as many pages of ``page_size`` (at most 500) as needed, all
        within ``timeout``."""
        size = max(1, min(page_size or HISTORY_PAGE_SIZE, MAX_HISTORY_PAGE))
        deadline = time.monotonic() + timeout
        entries: list[HistoryEntry] = []
        before: int | None = None
        while len(entries) < limit:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RequestTimeout(f"the history did not arrive within {timeout:g} s")
            page = self.history_page(peer, min(size, limit - len(entries)), before, remaining)
            entries[:0] = page.messages
            if page.before is None or not page.messages:
                break
            before = page.before
        return entries[-limit:] if limit > 0 else []

    # --- After delivered (issue 13): Read, Typing, Edited and Deleted come as events ---

    def mark_read(self, peer: str, msg_id: int) -> None:
        """Tell the server this user has seen ``peer``'s messages up to ``msg_id`` (no answer;
        not sent while disconnected: the next mark covers it)."""
        self._tell(Read(peer, msg_id))

    def typing(self, to: str) -> None:
        """Say this user is typing to ``to``; repeat every ``const.TYPING_INTERVAL`` s while so."""
        self._tell(Typing(to))

    def edit(self, msg_id: int, text: str, timeout: float = const.SEND_TIMEOUT) -> None:
        """Replace the text of this user's direct message ``msg_id``; raises RequestFailed
        (``forbidden``, ``too_late``, ``unknown_message``...) if refused."""
        self._request(Edit(self._new_request_id(), msg_id, text), Done, timeout)

    def delete(self, msg_id: int, timeout: float = const.SEND_TIMEOUT) -> None:
        """Delete this user's direct message ``msg_id`` (as :meth:`edit`)."""
        self._request(Delete(self._new_request_id(), msg_id), Done, timeout)

    def set_read_receipts(self, on: bool, timeout: float = const.SEND_TIMEOUT) -> None:
        """Turn this user's read receipts (and typing) on or off, on every device."""
        self._request(Settings(self._new_request_id(), on), Done, timeout)

    def _tell(self, event: Event) -> None:
        with self._lock:
            if self._usable() is None and self._conn is not None:
                self._write(self._conn.send(event))

    def block(self, name: str, timeout: float = const.SEND_TIMEOUT) -> None:
        """Stop receiving messages (direct and room) from ``name``; they are not told."""
        self._request(Block(self._new_request_id(), name), Done, timeout)

    def unblock(self, name: str, timeout: float = const.SEND_TIMEOUT) -> None:
        """Receive messages from ``name`` again."""
        self._request(Unblock(self._new_request_id(), name), Done, timeout)

    def watch(self, names: Iterable[str], timeout: float = const.SEND_TIMEOUT) -> list[Presence]:
        """Watch the presence of ``names``: their ``UserJoined`` and ``UserLeft`` reach
        this client even when the room is too large for the server to announce them to
        everyone (PROTOCOL.md, "Presence"). Returns those of them online now, each with
        since when; the others are offline. The names stay watched across reconnections:
        each new session watches them again and hands the application its
        :class:`~protocol.Watching` answer (the state may have changed meanwhile).
        Sent in requests of at most ``MAX_NAMES_PER_REQUEST`` names, within ``timeout``
        in all; raises like :meth:`who` (``too_many_watched`` past ``const.MAX_WATCHED``)."""
        wanted = list({canonical(name): name for name in names}.values())
        deadline = time.monotonic() + timeout
        online: list[Presence] = []
        for start in range(0, len(wanted), MAX_NAMES_PER_REQUEST):
            part = wanted[start:start + MAX_NAMES_PER_REQUEST]
            answer = self._request(Watch(self._new_request_id(), tuple(part)), Watching,
                                   max(0.0, deadline - time.monotonic()))
            assert isinstance(answer, Watching)
            online += answer.users
            with self._lock:
                self._watched.update((canonical(name), name) for name in part)
        return online

    def watch_soon(self, names: Iterable[str]) -> None:
        """Like :meth:`watch`, without waiting, for names not watched yet: the
        :class:`~protocol.Watching` answer is handed to the application as an event (an
        error is logged, and those names are not kept). While disconnected the names are
        kept and watched once the session is back. Callable from ``on_event``."""
        with self._lock:
            new = {canonical(name): name for name in names if canonical(name) not in self._watched}
            if not new:
                return
            self._watched.update(new)
            if self._usable() is None:
                self._ask_watch(tuple(new.values()))

    def unwatch(self, names: Iterable[str], timeout: float = const.SEND_TIMEOUT) -> None:
        """Stop watching ``names`` (names not watched are ignored)."""
        gone = list({canonical(name): name for name in names}.values())
        with self._lock:
            for name in gone:
                self._watched.pop(canonical(name), None)
        deadline = time.monotonic() + timeout
        for start in range(0, len(gone), MAX_NAMES_PER_REQUEST):
            self._request(Unwatch(self._new_request_id(), tuple(gone[start:start + MAX_NAMES_PER_REQUEST])), Done,
                          max(0.0, deadline - time.monotonic()))

    @property
    def watched(self) -> list[str]:
        """The names this client watches, as given to :meth:`watch`."""
        with self._lock:
            return list(self._watched.values())

    def register(self, password: str, timeout: float = const.SEND_TIMEOUT) -> None:
        """Claim the name this guest session uses, protected by ``password`` (at least
        ``const.MIN_PASSWORD_LENGTH`` characters). From then on the name needs the
        password; this client keeps it (in memory) for its reconnections."""
        if len(password) < const.MIN_PASSWORD_LENGTH:
            raise RequestFailed(ErrorCode.WEAK_PASSWORD,
                                f"a password needs at least {const.MIN_PASSWORD_LENGTH} characters")
        self._request(Register(self._new_request_id(), password), Done, timeout)
        with self._lock:
            self.password = password
            self.registered = True
            self.register_on_login = False

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
            if (self._alive or self._connecting) and not self._closing:
                self._closing = True
                self._wake.set()
                if sock is None:
                    self.close_reason = "closed by this client"
                self._set_reason("closed by this client")
                if self._attempt_sock is not None:
                    _shutdown(self._attempt_sock, socket.SHUT_RDWR)
                if sock is not None:
                    if self._conn is not None and self._conn.state is State.OPEN:
                        self._acknowledge()  # outcomes a waiter may have read from a tracker
                        self._write(self._conn.send(Goodbye(reason[:_MAX_REASON_CHARS])))
                    # Half-close: the server sees the end of our stream after the Goodbye and
                    # closes its side, which ends the receiver's reads cleanly. (Over TLS a
                    # half-close is not possible: the server closes after the Goodbye.)
                    if in_receiver:
                        _shutdown(sock, socket.SHUT_RDWR)
                    elif not self._tls:
                        _shutdown(sock, socket.SHUT_WR)
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

    def _new_request_id(self) -> str:
        # next() on itertools.count is atomic under the GIL (it runs in C without
        # releasing it), so this needs no lock and may be called with the lock held.
        return f"{self._id_prefix}-{next(self._ids)}"

    def _usable(self) -> str | None:
        """Why nothing can be sent now, or None if it can. Call with the lock held."""
        if self._sock is None or self._conn is None:
            if self._may_reconnect():
                return f"not connected to the server (reconnecting: {self.close_reason or 'connection lost'})"
            return f"not connected to the server ({self.close_reason})" if self.close_reason else \
                "not connected to the server"
        if self._closing:
            return "the client is closing the connection"
        if self._conn.state is not State.OPEN:
            return f"the session has ended ({self.close_reason or 'the server said goodbye'})"
        return None

    def _may_reconnect(self) -> bool:
        """True if a lost connection is (or would be) restored (lock held)."""
        return self._reconnect and self._alive and not self._closing and not self._ending

    def _submit(self, message: OutgoingMessage, event: SendDirect | SendRoom) -> None:
        if len(message.text) > const.MAX_TEXT_CHARS:
            # The server would refuse it too; saying so here costs no round trip.
            message._fail(ErrorCode.MESSAGE_TOO_LARGE, f"the text is {len(message.text)} characters long; "
                                                       f"the limit is {const.MAX_TEXT_CHARS}")
            return
        try:
            size = len(encode(event))
        except ValueError:
            # Lone surrogates (e.g. from undecodable input) cannot be encoded as UTF-8.
            message._fail(ErrorCode.BAD_FIELD, "the text contains characters that cannot be sent")
            return
        if size > const.MAX_FRAME_BYTES:
            message._fail(ErrorCode.MESSAGE_TOO_LARGE, f"the message is {size} bytes long encoded; "
                                                       f"the limit is {const.MAX_FRAME_BYTES}")
            return
        with self._lock:
            problem = self._usable()
            if problem is not None:
                if not self._may_reconnect():
                    message._fail(LocalError.NOT_CONNECTED, problem)
                    return
                waiting = sum(1 for m in self._outgoing.values() if m.waiting)
                if waiting >= self._max_waiting:
                    message._fail(LocalError.QUEUE_FULL, f"{waiting} messages are already waiting for the "
                                                         "connection to come back")
                    return
                # Written by _resend() once the session is back, in this order.
                self._outgoing[message.request_id] = message
                return
            assert self._conn is not None
            # Registered before writing, so an answer that comes back at once finds it.
            self._outgoing[message.request_id] = message
            if not self._write(self._conn.send(event)):
                if self._may_reconnect():
                    message.submitted = True  # perhaps partly written: sent again after reconnecting
                    return
                del self._outgoing[message.request_id]
                message._fail(LocalError.CONNECTION_LOST, f"could not send: {self.close_reason}")
                return
            message.submitted = True

    def _request(self, event: Event, expect: type[Event], timeout: float) -> Event:
        pending = _PendingReply(expect)
        request_id = event.request_id  # type: ignore[attr-defined]
        with self._lock:
            problem = self._usable()
            if problem is not None:
                raise NotConnected(problem)
            assert self._conn is not None
            try:
                data = self._conn.send(event)
            except ValueError:  # a name with lone surrogates cannot be encoded
                raise RequestFailed(ErrorCode.BAD_FIELD, "the request contains characters that cannot be sent") from None
            self._replies[request_id] = pending
            if not self._write(data):
                del self._replies[request_id]
                raise NotConnected(f"could not send: {self.close_reason}")
        if not pending.answered.wait(timeout):
            with self._lock:
                # The answer may have been matched between the wait and this lock.
                self._replies.pop(request_id, None)
            if not pending.answered.is_set():
                raise RequestTimeout(f"no answer from the server within {timeout:g} s")
        if pending.error is not None:
            raise pending.error
        answer = pending.answer
        if isinstance(answer, ErrorReply):
            raise RequestFailed(answer.code, answer.message, answer.retry_after)
        assert answer is not None
        return answer

    def _ask_locked(self, event: Event, expect: type[Event], callback: Callable[[Event], list[Event]]) -> None:
        """Send a request whose answer goes to ``callback`` (lock held; best effort)."""
        if self._conn is None or self._conn.state is not State.OPEN:
            return
        self._replies[event.request_id] = _PendingReply(expect, callback)  # type: ignore[attr-defined]
        self._write(self._conn.send(event))

    # --- Internals: the socket ----------------------------------------------------------

    def _write(self, data: bytes) -> bool:
        """Write ``data`` (lock held); on failure mark the connection broken and return False.

        A broken connection is shut down so the receiver's recv() returns and it ends
        the connection (and reconnects, or runs the one end-of-session path).
        """
        if not data:
            return True
        if self._sock is None:
            return False
        try:
            self._sock.sendall(data)
            return True
        except OSError as exc:
            # A timeout may have left half a frame on the wire: the stream is unusable.
            self._set_reason(f"writing to the server failed: {exc.strerror or exc or type(exc).__name__}")
            _shutdown(self._sock, socket.SHUT_RDWR)
            return False

    def _cut(self) -> None:
        with self._lock:
            if self._sock is not None:
                _shutdown(self._sock, socket.SHUT_RDWR)

    def _set_reason(self, reason: str) -> None:
        """Record why the connection ends; the first cause found is the one kept."""
        if not self.close_reason:
            self.close_reason = reason

    # --- Internals: the receiver thread -------------------------------------------------

    def _receive_loop(self, ping_after: float) -> None:
        if hasattr(signal, "pthread_sigmask"):
            # Python runs signal handlers in the main thread only. A process-wide signal
            # (Ctrl-C) that the kernel hands to this thread would not interrupt the main
            # thread's blocking read, so leave these signals to the main thread.
            signal.pthread_sigmask(signal.SIG_BLOCK, _MAIN_THREAD_SIGNALS)
        try:
            interval: float | None = ping_after
            while interval is not None:
                with self._lock:
                    conn, sock = self._conn, self._sock
                assert conn is not None and sock is not None
                self._pump(conn, sock, interval)
                interval = self._recover()
        except Exception:  # a bug here must still end the session properly
            _log.exception("chat client receiver failed")
            with self._lock:
                self._set_reason("internal error in the client (see the log)")
        finally:
            self._finish()

    def _pump(self, conn: Connection, sock: socket.socket, ping_after: float) -> None:
        """Turn bytes into events and hand them on until the stream ends.

        The end is decided here, from the socket: after recv() returned b"" the events
        still in the core are handed on and the loop stops, whether or not the core
        yields ConnectionClosed (it does not after a Goodbye has passed).
        """
        at_eof = False
        while True:
            with self._lock:
                event = conn.next_event()
                if isinstance(event, ConnectionClosed):
                    return
                handed_on = self._absorb(event) if event is not None else []
                if event is None:
                    # Every event read so far was handed on: acknowledge the outcomes among
                    # them now, in one go, rather than one write between two events.
                    self._acknowledge()
                # Pongs the core queued while reading: flush before anything else waits.
                self._write(conn.data_to_send())
            if event is None:
                if at_eof:
                    return
                outcome = self._read(sock, conn, ping_after)
                if outcome is _STOP:
                    return
                at_eof = outcome is _EOF
                continue
            for item in handed_on:
                self._deliver(item)
            if _outcome_of(event) is not None and handed_on == [event]:
                with self._lock:  # not one of ours (an earlier run's): the application has it now
                    self._acks_due.append(event.msg_id)  # type: ignore[attr-defined]
            if isinstance(event, DirectMessage):
                with self._lock:
                    # Also for a message shown before (our receipt was lost): the server
                    # waits for it. After a Goodbye no receipt can be sent; the server
                    # then treats the message as not received and sends it again later.
                    if conn.state is State.OPEN and conn is self._conn:
                        self._write(conn.send(Receipt(event.msg_id)))
            if isinstance(event, (Edited, Deleted)) and canonical(event.to) == canonical(self.name):
                with self._lock:  # handed on: the server may stop telling it (issue 13)
                    if conn.state is State.OPEN and conn is self._conn:
                        self._write(conn.send(EditReceipt(event.msg_id)))

    def _read(self, sock: socket.socket, conn: Connection, ping_after: float) -> str:
        """One recv() into the core: _MORE (go on), _EOF (the stream ended; events
        may remain in the core) or _STOP (give up at once)."""
        try:
            data = sock.recv(RECV_BYTES)
        except TimeoutError:
            return _MORE if self._idle(conn, ping_after) else _STOP
        except OSError as exc:
            with self._lock:
                self._set_reason(f"connection error: {exc.strerror or exc or type(exc).__name__}")
            return _STOP
        if data:
            self._last_received = time.monotonic()
        else:
            with self._lock:
                self._set_reason("the server closed the connection")
        with self._lock:
            conn.receive_data(data)  # b"" lets the core report a frame cut off by the end
        return _MORE if data else _EOF

    def _idle(self, conn: Connection, ping_after: float) -> bool:
        silent = time.monotonic() - self._last_received
        with self._lock:
            if silent >= self._heartbeat_timeout:
                self._set_reason(f"no data from the server for {silent:.0f} s")
                return False
            if silent >= ping_after and conn.state is State.OPEN and not self._closing:
                self._write(conn.send(Ping(f"c{int(time.time())}")))
        return True

    # --- Internals: reconnecting --------------------------------------------------------

    def _recover(self) -> float | None:
        """The connection ended: reconnect if allowed. Returns the new ping interval once
        a session is open again, or None when the session ends for good."""
        with self._lock:
            sock, self._sock, self._conn = self._sock, None, None
            if sock is not None:
                sock.close()
            # Blocked callers cannot get their answer from a new connection.
            waiting = [p for p in self._replies.values() if p.callback is None]
            self._replies.clear()
            again = self._may_reconnect()
            reason = self.close_reason or "the connection ended"
        for pending in waiting:
            pending.error = NotConnected(f"the connection was lost before the answer came ({reason})")
            pending.answered.set()
        if not again:
            return None
        floor = 0.0
        attempt = 0
        while True:
            attempt += 1
            with self._lock:
                if self._closing:
                    return None
            if self._max_reconnect_attempts is not None and attempt > self._max_reconnect_attempts:
                with self._lock:
                    self.close_reason = f"gave up reconnecting after {attempt - 1} attempts ({reason})"
                return None
            delay = max(floor, self._backoff(attempt))
            self._deliver(Reconnecting(attempt, round(delay, 2), reason))
            if self._wake.wait(delay):
                return None  # close()
            try:
                sock, conn, welcome, interval = self._open_session(self._connect_timeout)
            except LoginRefused as exc:
                if exc.code in _RETRY_LOGIN:
                    reason, floor = f"login refused: {exc.message} ({exc.code})", exc.retry_after or 0.0
                    continue
                with self._lock:
                    self._ending = True
                    self.login_error = exc
                    self.close_reason = f"could not log in again: {exc.message} ({exc.code})"
                return None
            except CertificateError as exc:
                with self._lock:
                    self._ending = True
                    self.close_reason = str(exc)
                return None
            except ServerUnreachable as exc:
                reason, floor = str(exc), 0.0
                continue
            with self._lock:
                if self._closing:
                    sock.close()
                    return None
                self._sock, self._conn = sock, conn
                self.welcome = welcome
                self.close_reason = ""
                self._last_received = time.monotonic()
                resent = self._resend()
            self.reconnects += 1
            self._deliver(Reconnected(welcome, resent))
            with self._lock:
                self._reconcile()
                self._rewatch()
            return interval

    def _backoff(self, attempt: int) -> float:
        """Seconds to wait before reconnection attempt ``attempt`` (from 1)."""
        nominal = min(self._reconnect_max_delay, self._reconnect_delay * 2 ** min(attempt - 1, 32))
        return min(self._reconnect_max_delay, nominal * random.uniform(*_JITTER))

    def _resend(self) -> int:
        """Write every message the server has not acknowledged, in order, with its
        original request id (lock held, on a fresh connection); return how many."""
        assert self._conn is not None
        count = 0
        for message in list(self._outgoing.values()):
            if message.state != SENDING:
                continue
            event = SendDirect(message.request_id, message.to, message.text) if message.to is not None \
                else SendRoom(message.request_id, message.text)
            message._throttled = False
            if not self._write(self._conn.send(event)):
                break  # this connection broke too: the receiver will notice and try again
            message.submitted = True
            count += 1
        return count

    def _retry_throttled(self) -> None:
        """Timer: write again, in order, the messages the server refused as rate_limited."""
        with self._lock:
            self._retry_timer = None
            if self._usable() is not None:
                return  # a reconnection resends them anyway
            assert self._conn is not None
            for message in list(self._outgoing.values()):
                if message._throttled and message.state == SENDING:
                    message._throttled = False
                    event = SendDirect(message.request_id, message.to, message.text) if message.to is not None \
                        else SendRoom(message.request_id, message.text)
                    if not self._write(self._conn.send(event)):
                        return

    def _reconcile(self) -> None:
        """Ask the history of each peer that has acknowledged, unfinished messages from us:
        a ``delivered`` or ``expired`` frame may have been lost with the old connection
        (lock held)."""
        oldest: dict[str, tuple[str, int]] = {}  # canonical peer -> (peer, oldest open msg_id)
        for message in self._outgoing.values():
            if message.to is not None and message.state in (SENT, QUEUED) and message.msg_id is not None:
                key = canonical(message.to)
                if key not in oldest or message.msg_id < oldest[key][1]:
                    oldest[key] = (message.to, message.msg_id)
        for peer, first in oldest.values():
            self._ask_history(peer, first, None, _RECONCILE_PAGES * MAX_HISTORY_PAGE)

    def _rewatch(self) -> None:
        """Watch again, on a fresh session, what the last one watched (lock held); each
        ``Watching`` answer goes to the application, which learns who is online now."""
        self._ask_watch(tuple(self._watched.values()))

    def _ask_watch(self, names: tuple[str, ...]) -> None:
        """Watch ``names`` without waiting (lock held): each answer goes to the application."""
        for start in range(0, len(names), MAX_NAMES_PER_REQUEST):
            part = names[start:start + MAX_NAMES_PER_REQUEST]
            self._ask_locked(Watch(self._new_request_id(), part), Watching,
                             lambda answer, part=part: self._watch_answered(answer, part))

    def _watch_answered(self, answer: Event, names: tuple[str, ...]) -> list[Event]:
        """The answer to a watch nobody waits for (lock held): hand it on, or if it was
        refused (too many watched, rate limited) log it and forget those names."""
        if isinstance(answer, Watching):
            return [answer]
        _log.warning("could not watch %d names: %s", len(names), getattr(answer, "message", answer))
        for name in names:
            self._watched.pop(canonical(name), None)
        return []

    def _ask_history(self, peer: str, first: int, before: int | None, budget: int) -> None:
        request = HistoryRequest(self._new_request_id(), peer, MAX_HISTORY_PAGE, before)
        self._ask_locked(request, HistoryPage, lambda answer: self._settle(answer, peer, first, budget))

    def _settle(self, answer: Event, peer: str, first: int, budget: int) -> list[Event]:
        """Apply a history page to our open trackers (lock held); ask the next page if
        the oldest open message is older than this page and fewer than ``budget``
        messages have been looked at (counted in messages, not pages: the server cuts
        a page of long messages short to keep it within one frame)."""
        if not isinstance(answer, HistoryPage):
            return []  # an error (rate_limited...): the live frames will have to do
        by_id = {m.msg_id: m for m in self._outgoing.values() if m.msg_id is not None and m.to is not None}
        updates: list[Event] = []
        for entry in answer.messages:
            message = by_id.get(entry.msg_id)
            if message is None:
                continue
            if entry.state == DELIVERED:
                changed = message._advance(DELIVERED)
            elif entry.state == "expired":
                changed = message._advance(FAILED, error=(ErrorCode.EXPIRED, f"message {entry.msg_id} expired "
                                                                              "before it was delivered"))
            else:
                continue
            if changed:
                updates.append(MessageUpdate(message, message.state, message.error))
            if message.done:
                self._retire(message)
        budget -= len(answer.messages)
        if answer.before is not None and budget > 0 and answer.messages and answer.messages[0].msg_id > first:
            self._ask_history(peer, first, answer.before, budget)
        return updates

    def _retire(self, message: OutgoingMessage) -> None:
        """``message`` is final: forget its tracker, remember its id (lock held)."""
        self._outgoing.pop(message.request_id, None)
        self._finished[message.request_id] = None
        if len(self._finished) > _FINISHED_LIMIT:
            del self._finished[next(iter(self._finished))]

    # --- Internals: events --------------------------------------------------------------

    def _absorb(self, event: Event) -> list[Event]:
        """Apply ``event`` to the trackers (lock held); return what to hand to the application."""
        request_id = getattr(event, "request_id", None)
        if isinstance(event, (Accepted, Queued, Delivered, ErrorReply)) and request_id is not None:
            message = self._outgoing.get(request_id)
            if message is not None:
                if isinstance(event, Accepted):
                    changed = message._advance(SENT, msg_id=event.msg_id)
                elif isinstance(event, Queued):
                    changed = message._advance(QUEUED, msg_id=event.msg_id)
                elif isinstance(event, Delivered):
                    changed = message._advance(DELIVERED, msg_id=event.msg_id)
                elif event.code == ErrorCode.RATE_LIMITED and message.state == SENDING:
                    # Not stored: write it again once the server's bucket has refilled.
                    message._throttled = True
                    if self._retry_timer is None:
                        self._retry_timer = threading.Timer(min(max(event.retry_after or 1.0, 0.01), 60.0),
                                                            self._retry_throttled)
                        self._retry_timer.daemon = True
                        self._retry_timer.start()
                    return []
                else:
                    changed = message._advance(FAILED, error=(event.code, event.message))
                if message.done:
                    self._retire(message)
                self._owe_acknowledgement(event)
                return [MessageUpdate(message, message.state, message.error)] if changed else []
            if request_id in self._finished:
                self._owe_acknowledgement(event)
                return []  # a late or repeated answer about a message already settled
        pending = self._replies.get(request_id) if request_id is not None else None
        if pending is not None and isinstance(event, (pending.expect, ErrorReply)):
            del self._replies[request_id]
            if pending.callback is not None:
                return pending.callback(event)
            pending.answer = event
            pending.answered.set()
            return []
        outcome = _outcome_of(event)
        if outcome is not None:  # of a message sent by an earlier run, or another client
            if outcome in self._outcomes_seen:
                self._acks_due.append(outcome)
                return []  # told again because our ack was lost: acknowledged, not shown twice
            self._outcomes_seen[outcome] = None
            if len(self._outcomes_seen) > _FINISHED_LIMIT:
                del self._outcomes_seen[next(iter(self._outcomes_seen))]
        if isinstance(event, DirectMessage):
            if event.msg_id in self._seen:
                return []  # shown already; the receipt is sent again all the same
            self._seen[event.msg_id] = None
            if len(self._seen) > self._seen_limit:
                del self._seen[next(iter(self._seen))]
        if isinstance(event, Goodbye):
            self._ending = True  # a deliberate end: no reconnection
            self._set_reason(event.reason or "the server ended the session")
        if isinstance(event, FrameRejected) and self._closing:
            return []  # frames that arrive after our own Goodbye: expected, not news
        return [event]

    def _owe_acknowledgement(self, event: Event) -> None:
        """If ``event`` is the outcome of a message a tracker holds, note that it is to be
        acknowledged (lock held): after its MessageUpdate is handed on, or in close()."""
        msg_id = _outcome_of(event)
        if msg_id is not None:
            self._acks_due.append(msg_id)

    def _acknowledge(self) -> None:
        """Acknowledge the outcomes due (lock held), so the server stops telling them. An
        ack is about a message, not a connection: any open one will do; without one they
        wait (and the server tells them again at the next login anyway)."""
        if self._acks_due and self._conn is not None and self._conn.state is State.OPEN:
            due, self._acks_due = self._acks_due, []
            for msg_id in due:
                if not self._write(self._conn.send(OutcomeAck(msg_id))):
                    return

    def _deliver(self, event: Event) -> None:
        """Hand one event to the application (never with the lock held)."""
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                _log.exception("on_event raised for %r; the client goes on", event)
            return
        while True:
            try:
                self.events.put(event, timeout=_QUEUE_POLL)
                return
            except queue.Full:
                if self._closing:
                    _log.warning("event queue full while closing; dropped %r", event)
                    return

    def _finish(self) -> None:
        """The one end-of-session path: release the socket, fail what is unfinished,
        deliver ConnectionClosed once, set ``closed``."""
        with self._lock:
            self._alive = False
            self._set_reason("the connection ended")
            sock, self._sock = self._sock, None
            if sock is not None:
                sock.close()
            if self._retry_timer is not None:
                self._retry_timer.cancel()
                self._retry_timer = None
            unfinished = list(self._outgoing.values())
            for message in unfinished:
                self._retire(message)
            waiting = [p for p in self._replies.values() if p.callback is None]
            self._replies.clear()
            reason = self.close_reason
        for pending in waiting:
            pending.error = NotConnected(f"the connection ended before the answer came ({reason})")
            pending.answered.set()
        for message in unfinished:
            if message.state in (SENT, QUEUED):
                what = (f"delivery was confirmed (the server has it as message {message.msg_id} "
                        "and will still deliver it)")
            elif message.submitted:
                what = "the server acknowledged the message"
            else:
                what = "the message could be sent"
            if message._fail(LocalError.CONNECTION_LOST, f"the connection ended before {what} ({reason})"):
                self._deliver(MessageUpdate(message, message.state, message.error))
        self._deliver(ConnectionClosed())
        self.closed.set()
