"""The server's listeners: accept, admit or refuse at once, bound the TLS handshake.

asyncio's own server (``loop.create_server``) is not used to accept, for three reasons:

- it makes the protocol only once a TLS handshake is over, so a connection that never
  sends its ClientHello is held, uncounted, for asyncio's 60 s; and it does not say who
  connected until then. Here every accepted connection is counted at once (see
  server/admission.py), and a TLS handshake has ``handshake_timeout`` seconds;
- out of file descriptors (EMFILE), asyncio 3.11 goes on trying ``accept()`` up to the
  listen backlog times in the same turn and schedules a retry for each failure: millions
  of failed calls a minute, a core's worth of CPU. Here the listener stops reading its
  sockets and tries again ``retry_delay`` seconds later, once;
- a refused connection costs nothing but its answer: the chat ``error`` frame (or the
  HTTP 503/429) written to the new socket, which is then closed, before any transport,
  protocol or task is made for it.

The loop wakes the listener when a listening socket has connections waiting
(``add_reader``). Windows' loop (the proactor, asyncio's default there) cannot: there each
socket has a task that awaits ``sock_accept`` for one connection at a time, and waits
``retry_delay`` seconds after a failure, as the other way does.

An admitted connection goes to :meth:`asyncio.loop.connect_accepted_socket`, with the
listener's TLS context if any; the protocol made for it (``make_protocol(address, port)``)
holds the admission from its ``connection_made`` and releases it in its
``connection_lost``. If the handshake fails or times out, no ``connection_made`` runs and
the listener releases the admission itself, and breaks the cycles asyncio leaves (_let_go).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
import sys
import time
import traceback
from collections.abc import Callable

from shared.plural import counted

from .addresses import endpoint, peer_address
from .admission import Admission, Refusal
from .logsummary import LogSummary
from .outofmemory import give_up
from .session import GAVE_WAY, unlink_own_callbacks

log = logging.getLogger("chat.server")

# Seconds between tries to accept once the process is out of file descriptors.
ACCEPT_RETRY_DELAY = 1.0
# accept() errors that mean "out of descriptors or memory": asyncio's own list.
_EXHAUSTED = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
# What OpenSSL says of a handshake whose first bytes were no TLS record: plain text (the
# chat client without --tls), an http:// URL, a proxy's CONNECT.
_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "HTTPS_PROXY_REQUEST", "UNKNOWN_PROTOCOL"})


def _let_go(failure: BaseException, loop: asyncio.AbstractEventLoop, descriptor: int) -> None:
    """Break the reference cycles a failed TLS handshake leaves (seen in CPython 3.11), so that
    reference counting frees them, not the tamed collector's full collection (up to 30
    minutes later: see server/app.py, and session.unlink_tls for a connection that was).

    ``failure`` (what ``connect_accepted_socket`` raised) holds its traceback, whose frames
    hold it again (asyncio's handshake keeps it in a local) and asyncio's waiter, which
    holds it too: with them the TLS protocol, its TLS transport, the memory BIOs and the
    protocol made for the connection, about 40 objects. Those frames are finished, so
    clearing their locals (``traceback.clear_frames``, which leaves running frames alone)
    lets all that go. The socket transport beneath stays a cycle of its own
    (unlink_own_callbacks); nothing points to it any more but the loop's table of
    transports by descriptor (a weak one), where it is found, closed (asyncio closed it,
    and the socket, before the failure reached us). Only a closing transport is unlinked:
    one that reads no more, whichever connection it was.
    """
    traceback.clear_frames(failure.__traceback__)
    transports = getattr(loop, "_transports", None)  # asyncio's selector loops; others: nothing to do
    transport = transports.get(descriptor) if transports is not None and descriptor >= 0 else None
    if transport is not None and transport.is_closing():
        unlink_own_callbacks(transport)


class AcceptFailures:
    """Says once, not thousands of times a second, that ``accept()`` is out of file
    descriptors: the first failure as one line, then a count at most once a minute.

    :meth:`failed` is what a :class:`Listener` calls. Installed as the loop's exception
    handler, it also quiets asyncio's own report of the same failure ("socket.accept() out
    of system resource", for an asyncio server) and the retries asyncio left behind that
    run on a listener closed meanwhile; everything else goes to the handler that was there
    before.
    """

    SUMMARY_PERIOD = 60.0

    def __init__(self, loop: asyncio.AbstractEventLoop, file_limit: int | None) -> None:
        self.file_limit = file_limit
        self.previous = loop.get_exception_handler()
        self.count = 0
        self.logged_at: float | None = None

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        retry = getattr(context.get("handle"), "_callback", None)  # no public accessor in 3.11
        if getattr(retry, "__name__", "") == "_start_serving" and isinstance(context.get("exception"), ValueError):
            return  # a retry of accept() on a listener closed meanwhile: nothing left to do
        if context.get("message") != "socket.accept() out of system resource":
            if self.previous is not None:
                self.previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        self.failed(context.get("exception"))

    def failed(self, exc: BaseException | None) -> None:
        """One ``accept()`` failed for want of descriptors (or memory)."""
        now = time.monotonic()
        if self.logged_at is None:
            self.logged_at = now
            log.error("cannot accept connections: %s (open-file limit %s); retrying every second",
                      exc, self.file_limit)
            return
        self.count += 1
        if now - self.logged_at >= self.SUMMARY_PERIOD:
            log.error("accept failed %s in %.0f s: out of file descriptors", counted(self.count, "more time{s}"),
                      now - self.logged_at)
            self.count, self.logged_at = 0, now


def open_sockets(host: str | None, port: int, *, backlog: int, reuse_port: bool = False,
                 unacked_timeout: float | None = None) -> list[socket.socket]:
    """Listening sockets: :func:`bind_sockets`, then :func:`listen_on` with ``backlog``."""
    return listen_on(bind_sockets(host, port, reuse_port=reuse_port, unacked_timeout=unacked_timeout), backlog)


def listen_on(sockets: list[socket.socket], backlog: int) -> list[socket.socket]:
    """``sockets`` (of :func:`bind_sockets`) listening, and returned. Raises OSError if one
    cannot listen (a server that bound the same port meanwhile listened first: Linux lets
    two sockets with SO_REUSEADDR bind one port, not listen on it); then all are closed."""
    try:
        for sock in sockets:
            sock.listen(backlog)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


# Tries at one port for every address when any free port is asked (port 0): another
# program may hold, in the other family, the port the first socket was given.
SAME_PORT_TRIES = 10


def bind_sockets(host: str | None, port: int, *, reuse_port: bool = False,
                 unacked_timeout: float | None = None) -> list[socket.socket]:
    """Bound, non-blocking sockets, not yet listening (:func:`listen_on`), on every address
    ``host`` resolves to (all of them for None or ""), all on one port: port 0 is a free
    port, the one the first socket gets (each taking its own, an IPv6 client of ``--host ""
    --port 0`` was refused at the port the log gave). Bound first and listening only once
    the server is ready: a taken port is found before the store is opened (a failed start
    makes no database), and no connection waits in a backlog nobody reads meanwhile.
    Made as ``loop.create_server`` makes them: SO_REUSEADDR on POSIX (a
    restart binds at once), SO_REUSEPORT if asked. An IPv6 socket is IPv6 only beside an
    IPv4 socket (which takes the IPv4 clients); alone, it takes IPv4 clients too where the
    system can (as IPv4-mapped addresses, ``::ffff:192.168.1.31``): ``--host ::`` is every
    address of both kinds, on every system alike (Windows' default is IPv6 only, Linux's
    a setting), and a mapped address (``::ffff:127.0.0.1``) can be listened on. With
    ``unacked_timeout`` (seconds), where the system has TCP_USER_TIMEOUT (Linux), the
    connections they accept inherit it: the kernel drops one whose peer has left what was
    written to it unacknowledged, or its window closed, for that long. Raises
    socket.gaierror for a name that does not resolve, OSError (the system's) for a port
    in use or not allowed; then nothing stays open."""
    infos = socket.getaddrinfo(host or None, port, family=socket.AF_UNSPEC, type=socket.SOCK_STREAM,
                               flags=socket.AI_PASSIVE)
    infos = list(dict.fromkeys(infos))
    for attempt in range(1, SAME_PORT_TRIES + 1):
        try:
            return _bind_all(infos, port, reuse_port, unacked_timeout)
        except OSError as exc:
            if port or len(infos) == 1 or exc.errno != errno.EADDRINUSE or attempt == SAME_PORT_TRIES:
                raise


def _bind_all(infos: list[tuple], port: int, reuse_port: bool, unacked_timeout: float | None) -> list[socket.socket]:
    """A socket bound to each of ``infos``' addresses, at ``port``, or, for 0, at the port the
    first one gets (see :func:`bind_sockets`); nothing stays open if one fails."""
    beside_ipv4 = any(info[0] == socket.AF_INET for info in infos)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _name, address in infos:
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            if sys.platform != "win32":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                try:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(beside_ipv4))
                except OSError:  # a system without dual-stack sockets: IPv6 only, as it has to be
                    if beside_ipv4:
                        raise
            if unacked_timeout is not None and hasattr(socket, "TCP_USER_TIMEOUT"):
                # Set once here, not per connection (accepted sockets inherit it): the
                # heartbeat cannot see a peer that pings but never reads (its window shut).
                # (In milliseconds, a C int: a heartbeat of weeks is held to 24 days.)
                milliseconds = min(max(1, round(unacked_timeout * 1000)), 2**31 - 1)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, milliseconds)
            sock.bind((address[0], port, *address[2:]))
            sock.setblocking(False)
            port = port or sock.getsockname()[1]
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class _Handshake:
    """A connection in its TLS handshake, as the admission sees it (admission.Waiting): it
    has not logged in, so it may give way to a newcomer; then its opening is given up, and
    it is closed without a word, as a refused one is (nothing can be said before a handshake)."""

    __slots__ = ("listener", "address", "port", "task")
    name = key = None
    closing = logging_in = False

    def __init__(self, listener: Listener, address: str, port: int) -> None:
        self.listener, self.address, self.port = listener, address, port
        self.task = asyncio.current_task()

    def give_way(self, message: str) -> None:
        self.listener.log_lines.log("disconnect{s} before logging in", self.address, logging.INFO,
                                    "TLS handshake with %s: %s", endpoint(self.address, self.port), GAVE_WAY)
        self.task.cancel()


class Listener:
    """Accepts on ``sockets`` for as long as it is not closed; see the module docstring.

    ``make_protocol(address, port)`` makes the protocol of an admitted connection;
    ``refusal_bytes(refusal)`` is what a refused one is told before it is closed (None:
    nothing, as on a TLS listener, where nothing can be said before a handshake);
    ``handshake_timeout`` bounds a TLS handshake. Refusals and failed handshakes are
    logged through ``log_lines``, one line per address and interval. ``loop`` (the
    running one if None) and ``retry_delay`` are for tests.
    """

    def __init__(self, sockets: list[socket.socket], make_protocol: Callable[[str, int], asyncio.BaseProtocol],
                 admission: Admission, log_lines: LogSummary, *,
                 refusal_bytes: Callable[[Refusal], bytes] | None = None, tls: ssl.SSLContext | None = None,
                 handshake_timeout: float | None = None, failures: AcceptFailures | None = None,
                 backlog: int = 100, retry_delay: float = ACCEPT_RETRY_DELAY,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._sockets = sockets
        self.make_protocol = make_protocol
        self.admission = admission
        self.log_lines = log_lines
        self.refusal_bytes = refusal_bytes
        self.tls = tls
        self.handshake_timeout = handshake_timeout
        self.failures = failures
        self.backlog = backlog
        self.retry_delay = retry_delay
        self.loop = loop or asyncio.get_running_loop()
        self.closed = False
        self.paused = False
        self._opening: set[asyncio.Task] = set()  # connections being opened (TLS handshakes)
        self._awaiting: list[asyncio.Task] = []  # a loop without add_reader: a sock_accept per socket

    @property
    def sockets(self) -> list[socket.socket]:
        """The listening sockets (for their addresses); empty once closed."""
        return [] if self.closed else list(self._sockets)

    def start(self) -> None:
        """Start accepting: when the loop says a socket is readable, or, on a loop that
        cannot say it (NotImplementedError: Windows' proactor), by awaiting each socket."""
        for sock in self._sockets:
            try:
                self.loop.add_reader(sock.fileno(), self._accept, sock)
            except NotImplementedError:
                self._awaiting.append(self.loop.create_task(self._accept_awaiting(sock)))

    def close(self) -> None:
        """Stop accepting, close the listening sockets, and give up the handshakes under way."""
        if self.closed:
            return
        self.closed = True
        for task in self._awaiting:
            task.cancel()  # before its socket closes: its accept is given up first
        if not self.paused and not self._awaiting:
            for sock in self._sockets:
                self.loop.remove_reader(sock.fileno())
        for sock in self._sockets:
            sock.close()
        for task in self._opening:
            task.cancel()

    async def wait_closed(self) -> None:
        """Return once closed and every handshake under way has been given up."""
        if self._opening:
            await asyncio.gather(*self._opening, return_exceptions=True)

    # --- Accepting ----------------------------------------------------------------------

    def _accept(self, listening: socket.socket) -> None:
        # Called when a listening socket is readable: take what waits, up to the backlog
        # (as asyncio does), so that one readiness is one loop turn, not one per client.
        for _ in range(self.backlog):
            try:
                conn, peer = listening.accept()
            except (BlockingIOError, InterruptedError):
                return  # nothing more waiting
            except ConnectionAbortedError:
                continue  # gone before we took it
            except OSError as exc:
                self._pause(exc)
                return
            self._take(conn, peer)

    async def _accept_awaiting(self, listening: socket.socket) -> None:
        # A loop without add_reader: one connection at a time, for as long as the listener
        # is open (close() cancels this; a failure after the socket closed ends it too).
        while not self.closed:
            try:
                conn, peer = await self.loop.sock_accept(listening)
            except ConnectionAbortedError:
                continue  # gone before we took it
            except OSError as exc:
                if self.closed:
                    return
                self._failed(exc)  # as _pause: no spinning while the shortage lasts
                await asyncio.sleep(self.retry_delay)
                continue
            self._take(conn, peer)

    def _take(self, conn: socket.socket, peer: tuple) -> None:
        """Admit and open, or refuse, a connection just accepted."""
        conn.setblocking(False)
        address, port = sys.intern(peer_address(peer[0])), peer[1]
        refusal = self.admission.admit(address)
        if refusal is None:
            self._open(conn, address, port)
        else:
            self._refuse(conn, address, port, refusal)

    def _failed(self, exc: OSError) -> None:
        """Log a failed ``accept()``: a descriptor shortage through ``failures``."""
        if exc.errno in _EXHAUSTED and self.failures is not None:
            self.failures.failed(exc)
        else:
            self.log_lines.log("accept failure{s}", "accept", logging.ERROR,
                               "accept failed: %s; retrying in %g s", exc, self.retry_delay)

    def _pause(self, exc: OSError) -> None:
        """Stop reading the listening sockets for retry_delay seconds: a descriptor
        shortage lasts until connections close, and the listening socket stays readable
        meanwhile, so trying again at once would only spin."""
        self._failed(exc)
        if not self.paused:
            self.paused = True
            for sock in self._sockets:
                self.loop.remove_reader(sock.fileno())
            self.loop.call_later(self.retry_delay, self._resume)

    def _resume(self) -> None:
        self.paused = False
        if not self.closed:
            self.start()

    def _refuse(self, conn: socket.socket, address: str, port: int, refusal: Refusal) -> None:
        self.log_lines.log("refused connection{s}", address, logging.INFO, "refused %s: %s",
                           endpoint(address, port), refusal.message)
        answer = self.refusal_bytes(refusal) if self.refusal_bytes is not None else b""
        try:
            if answer:
                conn.send(answer)  # a few hundred bytes into an empty socket buffer: taken whole
        except OSError:
            pass  # gone already: nobody to tell
        finally:
            conn.close()

    def _open(self, conn: socket.socket, address: str, port: int) -> None:
        task = self.loop.create_task(self._connect(conn, address, port))
        self._opening.add(task)
        task.add_done_callback(self._opening.discard)

    async def _connect(self, conn: socket.socket, address: str, port: int) -> None:
        made: list[asyncio.BaseProtocol] = []
        descriptor = conn.fileno()  # (closed by asyncio if the handshake fails: see _let_go)

        def protocol() -> asyncio.BaseProtocol:
            made.append(self.make_protocol(address, port))
            return made[0]

        # Not logged in yet: it may give way to a newcomer from its full address
        # (admission.py), during its TLS handshake too.
        handshake = _Handshake(self, address, port) if self.tls else None
        if handshake is not None:
            self.admission.waiting(address, handshake)
        try:
            await self.loop.connect_accepted_socket(
                protocol, conn, ssl=self.tls, ssl_handshake_timeout=self.handshake_timeout if self.tls else None)
            self.admission.waiting(address, made[0])  # (unless it logged in or closed already)
            return
        except asyncio.CancelledError:
            pass  # closed (the server stops), or it gave way
        except MemoryError:  # a task's error reaches the loop's handler late, if ever: see outofmemory.py
            give_up("opening a connection")
        except (OSError, ssl.SSLError, EOFError) as exc:  # TimeoutError is an OSError
            hint = " (a client without TLS?)" if getattr(exc, "reason", None) in _NOT_TLS else ""
            self.log_lines.log("failed TLS handshake{s}" if self.tls else "failed connections", address, logging.INFO,
                               "%s %s failed: %s%s", "TLS handshake with" if self.tls else "connection from",
                               endpoint(address, port), exc or type(exc).__name__, hint)
            _let_go(exc, self.loop, descriptor)
        finally:
            if handshake is not None:
                self.admission.settled(address, handshake)
            # connection_made ran (the protocol has its transport): the protocol releases
            # its admission when its connection is lost. Otherwise nobody holds it.
            if not made or getattr(made[0], "transport", None) is None:
                conn.close()
                self.admission.release(address)
