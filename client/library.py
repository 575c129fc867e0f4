"""The threaded chat client: one socket, one receiver thread, one lock around the core.

Modelled on websockets' threaded client. The sans-I/O :class:`protocol.Connection` does
the framing and the session rules; this module only moves bytes and matches answers to
requests::

    client = ChatClient("Alice", on_event=handle)     # or read client.events (a Queue)
    client.connect()                                  # -> Welcome, or raises
    msg = client.send_direct("Bob", "hi")             # -> OutgoingMessage tracker
    msg.wait({"delivered"}, timeout=10)
    client.who(timeout=5)                             # -> [Presence, ...]
    client.close()

Threads. After :meth:`ChatClient.connect` a receiver thread owns ``recv()``. Every use of
the core and every write to the socket happens under one lock (``_lock``), so ``send_*``,
``who``, ``lookup`` and ``close`` may be called from any thread while the receiver runs;
the bytes of one frame are never interleaved with another's. The lock is never held while
calling the application or while waiting for an answer.

What the application receives, in order, on the receiver thread (``on_event``) or through
``client.events``: every event the core yields (``DirectMessage``, ``RoomMessage``,
``UserJoined``, ``UserLeft``, ``Goodbye``, unmatched ``ErrorReply``, ``FrameRejected``...),
EXCEPT the answers matched to a request of this client. Those are consumed: ``Accepted``,
``Delivered`` and ``ErrorReply`` for a sent message update its tracker and are replaced
by one :class:`~client.outgoing.MessageUpdate`; ``UserList``, ``LookupResult`` and
``ErrorReply`` for ``who``/``lookup`` are returned (or raised) by that call. An answer
that comes after its caller gave up waiting is passed on as it is. When the connection
ends, unfinished messages fail (``connection_lost``, one MessageUpdate each), then exactly
one ``ConnectionClosed`` is delivered, then ``closed`` is set.

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
``recv()`` blocked forever).
"""

from __future__ import annotations

import itertools
import logging
import queue
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from contextlib import suppress

import const
from protocol import (
    Accepted,
    Connection,
    ConnectionClosed,
    Delivered,
    DirectMessage,
    ErrorCode,
    ErrorReply,
    Event,
    FrameRejected,
    Goodbye,
    Hello,
    LookupRequest,
    LookupResult,
    Ping,
    Presence,
    Receipt,
    Role,
    SendDirect,
    SendRoom,
    State,
    UserList,
    Welcome,
    WhoRequest,
)
from registry import InvalidName, validate_name

from .errors import LocalError, LoginRefused, NotConnected, RequestFailed, RequestTimeout, ServerUnreachable
from .outgoing import DELIVERED, FAILED, SENT, MessageUpdate, OutgoingMessage

_log = logging.getLogger(__name__)

# Events the queue holds before the receiver waits for the application to take some.
EVENT_QUEUE_SIZE = 10_000
# Bytes asked of one recv(); the core reassembles frames across reads of any size.
RECV_BYTES = 64 * 1024
# After sending its Goodbye, close() waits this long for the server to end the stream
# (so nothing the server sent is cut off by a reset), then cuts it itself.
CLOSE_TIMEOUT = 2.0
# The server checks reason fields against this many characters (codec._MAX_SHORT_TEXT).
_MAX_REASON_CHARS = 256
# Signals the receiver thread blocks, so that the kernel delivers them to the main thread.
_MAIN_THREAD_SIGNALS = {getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)}
# Outcomes of one read by the receiver.
_MORE, _EOF, _STOP = "more", "eof", "stop"
# How often a receiver blocked on a full queue looks whether the client is closing.
_QUEUE_POLL = 0.1


class _PendingReply:
    """A blocking request (who, lookup) waiting for the answer with its request id."""

    __slots__ = ("expect", "answered", "answer", "error")

    def __init__(self, expect: type[Event]) -> None:
        self.expect = expect
        self.answered = threading.Event()
        self.answer: Event | None = None
        self.error: Exception | None = None


class ChatClient:
    """A chat session as user ``name`` with the server at ``host``:``port``.

    ``on_event(event)``, if given, is called on the receiver thread for every event (see
    the module docstring for which); it must not block for long, and exceptions it raises
    are logged and otherwise ignored. Without it, events go to ``self.events``, a
    ``queue.Queue``. ``heartbeat_interval`` (default: the server's, from the Welcome) and
    ``heartbeat_timeout`` set the client-side liveness check.

    Public attributes: ``name``, ``host``, ``port``, ``events``, ``closed`` (a
    ``threading.Event`` set when the connection has ended and ConnectionClosed was
    delivered), ``welcome`` (the last Welcome), ``close_reason`` (why the last connection
    ended, in words: the server's goodbye reason, "the server closed the connection"...).

    One object may connect again after its connection ended; request ids stay unique
    across its connections.
    """

    def __init__(self, name: str, host: str = const.SERVER_HOST, port: int = const.SERVER_PORT,
                 on_event: Callable[[Event], object] | None = None, *,
                 heartbeat_interval: float | None = None,
                 heartbeat_timeout: float = const.HEARTBEAT_TIMEOUT) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.events: queue.Queue[Event] = queue.Queue(EVENT_QUEUE_SIZE)
        self.closed = threading.Event()
        self.welcome: Welcome | None = None
        self.close_reason = ""
        self._on_event = on_event
        self._heartbeat_interval = heartbeat_interval
        self._heartbeat_timeout = heartbeat_timeout
        # Guards the core, the socket's write side, the trackers and the flags below.
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._sock: socket.socket | None = None
        self._receiver: threading.Thread | None = None
        self._closing = False
        self._connecting = False
        # request_id -> tracker, for messages sent and not yet in a final state.
        self._outgoing: dict[str, OutgoingMessage] = {}
        # request_id -> blocked who/lookup call.
        self._replies: dict[str, _PendingReply] = {}
        # A random prefix keeps ids apart between client objects (and programs) that a
        # server might see reconnect; the counter keeps them apart within this object.
        self._id_prefix = secrets.token_hex(4)
        self._ids = itertools.count(1)
        self._last_received = 0.0

    # --- Connecting ---------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``host:port`` of the server, for messages."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        """True while the session is open and the client is not closing it."""
        with self._lock:
            return self._usable() is None

    def connect(self, timeout: float = const.CONNECT_TIMEOUT) -> Welcome:
        """Open the TCP connection, log in, start the receiver thread; return the Welcome.

        ``timeout`` bounds the TCP connect and the wait for the server's answer to the
        hello, each. Raises :class:`LoginRefused` if the server (or the local name check)
        refuses the name, :class:`ServerUnreachable` if no session could be opened, and
        RuntimeError if this client is already connected.
        """
        with self._lock:
            if self._sock is not None or self._connecting:
                raise RuntimeError("this client is already connected (or connecting)")
            self._connecting = True
            previous = self._receiver
        try:
            return self._connect(previous, timeout)
        finally:
            with self._lock:
                self._connecting = False

    def _connect(self, previous: threading.Thread | None, timeout: float) -> Welcome:
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
            raise LoginRefused(ErrorCode.INVALID_NAME, f"invalid name {self.name!r}: {exc}") from None
        deadline = time.monotonic() + timeout
        sock = self._open_socket(timeout)
        conn = Connection(Role.CLIENT)
        try:
            welcome = self._log_in(sock, conn, deadline, timeout)
        except BaseException:
            sock.close()
            raise
        # The server's interval unless the caller chose one; never an absurd value from the wire.
        interval = self._heartbeat_interval or (welcome.heartbeat if 0 < welcome.heartbeat < 86400 else 0) \
            or const.HEARTBEAT_INTERVAL
        # recv() wakes this often to check liveness; sendall() gives up after as long
        # (a server that stops reading for that long is treated as gone).
        sock.settimeout(max(0.05, min(interval, self._heartbeat_timeout)))
        with self._lock:
            self._sock, self._conn = sock, conn
            self._closing = False
            self.close_reason = ""
            self.welcome = welcome
            self._last_received = time.monotonic()
            self.closed.clear()
            self._receiver = threading.Thread(target=self._receive_loop, args=(interval,),
                                              name=f"chat-receiver-{self.name}", daemon=True)
            self._receiver.start()
        return welcome

    def _open_socket(self, timeout: float) -> socket.socket:
        where = self.address
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except socket.gaierror as exc:
            raise ServerUnreachable(f"cannot find the server host {self.host!r}: {exc.strerror or exc}") from exc
        except TimeoutError as exc:
            raise ServerUnreachable(f"no answer from {where} within {timeout:g} s "
                                    "(wrong address, or a firewall?)") from exc
        except ConnectionRefusedError as exc:
            raise ServerUnreachable(f"connection to {where} refused: is the chat server running?") from exc
        except OSError as exc:
            raise ServerUnreachable(f"cannot connect to {where}: {exc.strerror or exc}") from exc
        # Chat frames are small and latency matters more than packet count.
        with suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _log_in(self, sock: socket.socket, conn: Connection, deadline: float, timeout: float) -> Welcome:
        """Send the hello and read until the Welcome (returned) or a refusal (raised).

        Anything the server sent after the Welcome stays in the core's buffer for the
        receiver thread, which drains the core before its first recv().
        """
        where = self.address
        try:
            sock.sendall(conn.send(Hello(self._new_request_id(), self.name, const.PROTOCOL_VERSION)))
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
                    raise LoginRefused(event.code, event.message)
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
        except TimeoutError as exc:
            raise ServerUnreachable(f"{where} did not answer the login within {timeout:g} s") from exc
        except OSError as exc:
            raise ServerUnreachable(f"the connection to {where} failed during the login: "
                                    f"{exc.strerror or exc}") from exc

    # --- Sending ------------------------------------------------------------------------

    def send_direct(self, to: str, text: str) -> OutgoingMessage:
        """Send ``text`` to user ``to``; return its tracker at once (state ``sending``).

        Never raises for connection problems: if the message cannot be sent (not
        connected, text too long, socket dead) the tracker comes back ``failed`` with
        ``submitted`` False. Thread-safe.
        """
        message = OutgoingMessage(self._new_request_id(), to, text)
        self._submit(message, SendDirect(message.request_id, to, text))
        return message

    def send_room(self, text: str) -> OutgoingMessage:
        """Send ``text`` to the broadcast room; like :meth:`send_direct` (final at ``sent``)."""
        message = OutgoingMessage(self._new_request_id(), None, text)
        self._submit(message, SendRoom(message.request_id, text))
        return message

    def who(self, timeout: float = const.SEND_TIMEOUT) -> list[Presence]:
        """Ask who is online; return the users (sorted by name by the server).

        Raises :class:`NotConnected`, :class:`RequestTimeout` or :class:`RequestFailed`.
        """
        answer = self._request(WhoRequest(self._new_request_id()), UserList, timeout)
        assert isinstance(answer, UserList)
        return list(answer.users)

    def lookup(self, name: str, timeout: float = const.SEND_TIMEOUT) -> LookupResult:
        """Ask the registry where ``name`` is (status ``"online"`` or ``"unknown"``).

        Raises :class:`NotConnected`, :class:`RequestTimeout` or :class:`RequestFailed`.
        """
        answer = self._request(LookupRequest(self._new_request_id(), name), LookupResult, timeout)
        assert isinstance(answer, LookupResult)
        return answer

    def close(self, reason: str = "") -> None:
        """End the session: send Goodbye(reason) if it is open, close the socket, and
        wait (bounded, about 2 * CLOSE_TIMEOUT) for the receiver thread to finish.

        Idempotent, callable from any thread (from ``on_event`` too, without the wait).
        Messages still unfinished fail with ``connection_lost``; the receiver delivers
        ConnectionClosed and sets ``closed`` as for any other end of the connection.
        """
        in_receiver = threading.current_thread() is self._receiver
        with self._lock:
            sock, receiver = self._sock, self._receiver
            if sock is not None and not self._closing:
                self._closing = True
                self._set_reason("closed by this client")
                if self._conn is not None and self._conn.state is State.OPEN:
                    self._write(self._conn.send(Goodbye(reason[:_MAX_REASON_CHARS])))
                # Half-close: the server sees the end of our stream after the Goodbye and
                # closes its side, which ends the receiver's reads cleanly.
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_WR if not in_receiver else socket.SHUT_RDWR)
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
        # next() on itertools.count is atomic under the GIL, but say what we rely on.
        with self._lock:
            return f"{self._id_prefix}-{next(self._ids)}"

    def _usable(self) -> str | None:
        """Why nothing can be sent now, or None if it can. Call with the lock held."""
        if self._sock is None or self._conn is None:
            return f"not connected to the server ({self.close_reason})" if self.close_reason else \
                "not connected to the server"
        if self._closing:
            return "the client is closing the connection"
        if self._conn.state is not State.OPEN:
            return f"the session has ended ({self.close_reason or 'the server said goodbye'})"
        return None

    def _submit(self, message: OutgoingMessage, event: SendDirect | SendRoom) -> None:
        if len(message.text) > const.MAX_TEXT_CHARS:
            # The server would refuse it too; saying so here costs no round trip.
            message._fail(ErrorCode.MESSAGE_TOO_LARGE, f"the text is {len(message.text)} characters long; "
                                                       f"the limit is {const.MAX_TEXT_CHARS}")
            return
        with self._lock:
            problem = self._usable()
            if problem is not None:
                message._fail(LocalError.NOT_CONNECTED, problem)
                return
            assert self._conn is not None
            try:
                data = self._conn.send(event)
            except ValueError:
                # Lone surrogates (e.g. from undecodable input) cannot be encoded as UTF-8.
                message._fail(ErrorCode.BAD_FIELD, "the text contains characters that cannot be sent")
                return
            if len(data) > const.MAX_FRAME_BYTES:
                message._fail(ErrorCode.MESSAGE_TOO_LARGE, f"the message is {len(data)} bytes long encoded; "
                                                           f"the limit is {const.MAX_FRAME_BYTES}")
                return
            # Registered before writing, so an answer that comes back at once finds it.
            self._outgoing[message.request_id] = message
            if not self._write(data):
                del self._outgoing[message.request_id]
                message._fail(LocalError.CONNECTION_LOST, f"could not send: {self.close_reason}")
                return
            message.submitted = True

    def _request(self, event: WhoRequest | LookupRequest, expect: type[Event], timeout: float) -> Event:
        pending = _PendingReply(expect)
        with self._lock:
            problem = self._usable()
            if problem is not None:
                raise NotConnected(problem)
            assert self._conn is not None
            try:
                data = self._conn.send(event)
            except ValueError:  # a name with lone surrogates cannot be encoded
                raise RequestFailed(ErrorCode.BAD_FIELD, "the request contains characters that cannot be sent") from None
            self._replies[event.request_id] = pending
            if not self._write(data):
                del self._replies[event.request_id]
                raise NotConnected(f"could not send: {self.close_reason}")
        if not pending.answered.wait(timeout):
            with self._lock:
                # The answer may have been matched between the wait and this lock.
                self._replies.pop(event.request_id, None)
            if not pending.answered.is_set():
                raise RequestTimeout(f"no answer from the server within {timeout:g} s")
        if pending.error is not None:
            raise pending.error
        answer = pending.answer
        if isinstance(answer, ErrorReply):
            raise RequestFailed(answer.code, answer.message)
        assert answer is not None
        return answer

    # --- Internals: the socket ----------------------------------------------------------

    def _write(self, data: bytes) -> bool:
        """Write ``data`` (lock held); on failure mark the connection broken and return False.

        A broken connection is shut down so the receiver's recv() returns and it runs the
        one end-of-connection path (fail trackers, ConnectionClosed, ``closed``).
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
            with suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            return False

    def _cut(self) -> None:
        with self._lock:
            if self._sock is not None:
                with suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RDWR)

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
            self._pump(ping_after)
        except Exception:  # a bug here must still end the connection properly
            _log.exception("chat client receiver failed")
            with self._lock:
                self._set_reason("internal error in the client (see the log)")
        finally:
            self._finish()

    def _pump(self, ping_after: float) -> None:
        """Turn bytes into events and hand them on until the stream ends.

        The end is decided here, from the socket: after recv() returned b"" the events
        still in the core are handed on and the loop stops, whether or not the core
        yields ConnectionClosed (it does not after a Goodbye has passed).
        """
        assert self._conn is not None and self._sock is not None
        conn, sock = self._conn, self._sock
        at_eof = False
        while True:
            with self._lock:
                event = conn.next_event()
                if isinstance(event, ConnectionClosed):
                    return
                handed_on = self._absorb(event) if event is not None else []
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
            if isinstance(event, DirectMessage) and handed_on:
                with self._lock:
                    # After our Goodbye or the server's, no receipt can be sent; the
                    # server then treats the message as not received.
                    if conn.state is State.OPEN:
                        self._write(conn.send(Receipt(event.msg_id)))

    def _read(self, sock: socket.socket, conn: Connection, ping_after: float) -> str:
        """One recv() into the core: _MORE (go on), _EOF (the stream ended; events
        may remain in the core) or _STOP (give up at once)."""
        try:
            data = sock.recv(RECV_BYTES)
        except TimeoutError:
            return _MORE if self._idle(conn, ping_after) else _STOP
        except OSError as exc:
            with self._lock:
                self._set_reason(f"connection error: {exc.strerror or exc}")
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

    def _absorb(self, event: Event) -> list[Event]:
        """Apply ``event`` to the trackers (lock held); return what to hand to the application."""
        request_id = getattr(event, "request_id", None)
        if isinstance(event, (Accepted, Delivered, ErrorReply)) and request_id in self._outgoing:
            message = self._outgoing[request_id]
            if isinstance(event, Accepted):
                changed = message._advance(SENT, msg_id=event.msg_id)
            elif isinstance(event, Delivered):
                changed = message._advance(DELIVERED, msg_id=event.msg_id)
            else:
                changed = message._advance(FAILED, error=(event.code, event.message))
            if message.done:
                del self._outgoing[request_id]
            return [MessageUpdate(message, message.state, message.error)] if changed else []
        pending = self._replies.get(request_id) if request_id is not None else None
        if pending is not None and isinstance(event, (pending.expect, ErrorReply)):
            del self._replies[request_id]
            pending.answer = event
            pending.answered.set()
            return []
        if isinstance(event, Goodbye):
            self._set_reason(event.reason or "the server ended the session")
        if isinstance(event, FrameRejected) and self._closing:
            return []  # frames that arrive after our own Goodbye: expected, not news
        return [event]

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
        """The one end-of-connection path: release the socket, fail what is unfinished,
        deliver ConnectionClosed once, set ``closed``."""
        with self._lock:
            self._set_reason("the connection ended")
            sock, self._sock = self._sock, None
            if sock is not None:
                sock.close()
            unfinished = list(self._outgoing.values())
            self._outgoing.clear()
            waiting = list(self._replies.values())
            self._replies.clear()
            reason = self.close_reason
        for pending in waiting:
            pending.error = NotConnected(f"the connection ended before the answer came ({reason})")
            pending.answered.set()
        for message in unfinished:
            what = "delivery was confirmed" if message.state == SENT else "the server accepted the message"
            if message._fail(LocalError.CONNECTION_LOST, f"the connection ended before {what} ({reason})"):
                self._deliver(MessageUpdate(message, message.state, message.error))
        self._deliver(ConnectionClosed())
        self.closed.set()
