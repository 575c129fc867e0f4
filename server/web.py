"""The web gateway: the web client's files over HTTP, the chat protocol over WebSocket.

One :class:`WebSession` per TCP connection. It is a :class:`ClientSession`, so once a
browser has upgraded to WebSocket the relay sees it exactly like a terminal user: one
registry, one relay, the same events. Only the bytes are wrapped differently: every
WebSocket text message carries one chat frame (one JSON object, no newline), in each
direction.

A connection moves through these modes, never back::

    HTTP  --GET /ws, valid upgrade------------>  CHAT  registered with the relay now
    HTTP  --GET /echo, valid upgrade, echo on->  ECHO  echoes messages (conformance runs)
    HTTP  --GET /metrics---------------------->  HTTP  the figures (server/metrics.py), or 403
                                                       from an address not in metrics_allow
    HTTP  --any other GET/HEAD---------------->  HTTP  static file, 304 or 404; keep-alive
    HTTP  --a Host that is not ours (web.hosts)->  closed after 421 (page and WebSocket alike)

An HTTP connection is never a chat session: the relay hears of it (``relay.connected``)
only when its upgrade succeeds, so fetching the page costs the relay nothing, and
``connection_lost`` tells the relay only about connections it was told of. But every
connection holds a place from the moment it is accepted (server/admission.py): a refused
one gets ``503`` (the server is full) or ``429`` (its address holds as many as it may),
with Retry-After, and is closed. A connection that completes no request within
``HTTP_IDLE_TIMEOUT`` seconds is closed (after ``408`` if it began one), and keep-alive has
bounds too: at most ``HTTP_MAX_REQUESTS`` requests, and none answered after
``HTTP_MAX_LIFETIME`` seconds, get a keep-alive answer; a connection not upgraded by then
is closed. After the upgrade the relay's sweeper applies the login timeout and
heartbeats as for TCP users; an echo connection, which the relay never sees, keeps the same
idle and frame timeouts with a timer of its own. With a TLS context the listener serves HTTPS and WSS; a TLS
handshake has ``HTTP_IDLE_TIMEOUT`` seconds; nothing else changes.

Wire it next to the TCP listener::

    server = await start_web_server(relay, host, port, batcher=batcher)
    ...
    await stop_web_server(server)   # stops listening, closes HTTP and echo connections;
                                    # chat sessions are the relay's (relay.shut_down)
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
import weakref
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import const
from protocol import ErrorCode, FrameRejected
from web.hosts import HostPolicy, check_host
from web.http import HttpError, HttpRequestReader, Request, render_answer, render_response
from web.static import (
    SECURITY_HEADERS,
    content_type,
    is_not_modified,
    resolve_static,
    static_response_headers,
)
from web.websocket import (
    BinaryMessage,
    CloseConnection,
    ConnectionState,
    HandshakeError,
    TextMessage,
    WebSocketConnection,
    accept_handshake,
)

from .addresses import endpoint
from .admission import RETRY_AFTER, Refusal, address_full
from .lan import here
from .listener import AcceptFailures, Listener, bind_sockets, listen_on
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import Network, metrics_allowed, parse_allow_list
from .outbox import WriteBatcher
from .relay import Relay
from .session import GAVE_WAY, ClientSession, compact_extra, socket_transport_under

log = logging.getLogger("chat.server")

# The web client's files: the folder webclient/ at the repository root.
WEBCLIENT_ROOT = Path(__file__).resolve().parent.parent / "webclient"
CHAT_PATH = "/ws"
ECHO_PATH = "/echo"
METRICS_PATH = "/metrics"
# Seconds a connection may take to complete an HTTP request (and may idle between two).
HTTP_IDLE_TIMEOUT = 10.0
# Keep-alive's bounds: after this many requests, or for a request answered this many seconds
# after the connection was accepted, the answer says "Connection: close" and the
# connection closes (as common servers do: Apache's MaxKeepAliveRequests is 100), and an
# idle keep-alive connection is closed when the lifetime ends, so that a client sending a
# request every few seconds cannot hold its place for long without logging in. The lifetime
# is of the login timeout's order: a page load is a handful of requests within a second, and
# a browser opens a new connection for what comes later. After an upgrade the login timeout
# counts from the upgrade (see _upgrade): a connection never logged in lives at most
# HTTP_MAX_LIFETIME plus that.
HTTP_MAX_REQUESTS = 100
HTTP_MAX_LIFETIME = 30.0
# Seconds we wait for the peer's close frame after sending ours, then close TCP anyway.
CLOSE_TIMEOUT = 2.0
# A chat message is one chat frame without the newline that ends a frame on TCP, which
# the frame limit counts (PROTOCOL.md: "including its newline") and _receive_chat_message
# adds back: so the message limit is the frame limit less that newline, and a message the
# chat core would refuse as too large is refused by the WebSocket layer first (1009).
CHAT_MAX_MESSAGE_BYTES = const.MAX_FRAME_BYTES - len(b"\n")
# ... and until the welcome, by the same rule, the login frame limit less that newline.
CHAT_MAX_LOGIN_MESSAGE_BYTES = const.MAX_LOGIN_FRAME_BYTES - len(b"\n")
# Conformance suites (Autobahn) send messages of up to 16 MiB; echo is off by default.
ECHO_MAX_MESSAGE_BYTES = 16 * 1024 * 1024

_CLOSE_NORMAL = 1000
_CLOSE_GOING_AWAY = 1001
_CLOSE_UNSUPPORTED_DATA = 1003
_CLOSE_POLICY_VIOLATION = 1008
# The close code after the chat error the server disconnects with (ClientSession.end, or
# close with the code: the relay's refusals): each of these is a rule of the server's the
# client did not keep (log in in time, show a sign of life in time, finish a frame in time,
# read what it is sent, send well-formed frames, speak a version the server speaks, leave
# its address's last place to a newcomer unless logged in). Any other: 1000. (_close_code)
_CLOSE_CODES = {code: _CLOSE_POLICY_VIOLATION for code in (
    ErrorCode.LOGIN_TIMEOUT, ErrorCode.HEARTBEAT_TIMEOUT, ErrorCode.FRAME_TIMEOUT, ErrorCode.SLOW_CONSUMER,
    ErrorCode.TOO_MANY_ERRORS, ErrorCode.UNSUPPORTED_VERSION, ErrorCode.TOO_MANY_CONNECTIONS)}
_MAX_CLOSE_REASON_BYTES = 123

_HTTP, _CHAT, _ECHO = "http", "chat", "echo"
# Seconds early asyncio may run a timer (its clock resolution, well under this).
_TIMER_SLACK = 0.01
# What an echo connection's read budget holds: more than it could read in its life.
_UNBUDGETED = 1 << 62


@dataclass(slots=True, eq=False)
class WebSite:
    """Settings shared by every connection of one web listener, and its live connections."""

    static_root: Path
    allowed_origins: str | frozenset[str] | None
    same_origin_too: bool  # (see start_web_server)
    echo: bool
    # The Host names served (web.hosts): anything else is refused, page and WebSocket alike.
    hosts: HostPolicy
    # Connections the relay does not own (HTTP and echo), closed by stop_web_server.
    sessions: set[WebSession] = field(default_factory=set)
    # The text of GET /metrics, made per request (None: no /metrics), and who may read it.
    metrics: Callable[[], str] | None = None
    metrics_allow: tuple[Network, ...] = ()


class WebSession(ClientSession):
    """One TCP connection of the web listener: HTTP first, then maybe a chat session."""

    __slots__ = ("site", "mode", "http", "ws", "_timer", "_ws_unfinished_since", "_served", "login_limited")

    def __init__(self, relay: Relay, batcher: WriteBatcher, site: WebSite) -> None:
        super().__init__(relay, batcher)
        self.site = site
        self.mode = _HTTP
        # The HTTP reader until the upgrade, then the WebSocket core.
        self.http: HttpRequestReader | None = HttpRequestReader()
        self.ws: WebSocketConnection | None = None
        # The idle timeout in HTTP mode; the close-handshake timeout after our close frame.
        self._timer: asyncio.TimerHandle | None = None
        # When the WebSocket message still unfinished began (see unfinished_since).
        self._ws_unfinished_since: float | None = None
        self._served = 0  # HTTP responses written (see HTTP_MAX_REQUESTS)
        # True from the upgrade to the welcome: the WebSocket's messages are held to the
        # login frame limit (const.MAX_LOGIN_FRAME_BYTES) meanwhile.
        self.login_limited = False

    # --- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # As ClientSession.connection_made, except that relay.connected() waits for the
        # upgrade (see _upgrade).
        self.transport = transport  # type: ignore[assignment]
        self.socket_transport = socket_transport_under(transport)  # over TLS (see session.py)
        compact_extra(transport, self.port)
        if self.address == "?":  # as ClientSession's: the listener's, else the peer's
            peer = transport.get_extra_info("peername")
            if peer:
                self.address, self.port = peer[0], peer[1]
        # An HTTP connection never logs in: it gets the bound before login (see pause_writing).
        transport.set_write_buffer_limits(high=self.outgoing_limit())  # type: ignore[attr-defined]
        self.site.sessions.add(self)
        self._set_timer(HTTP_IDLE_TIMEOUT)

    def data_received(self, data: bytes) -> None:
        if self.mode is _HTTP:
            self._receive_http(data)
        else:
            self._receive_websocket(data)

    def eof_received(self) -> bool:
        if self.mode is _HTTP and self.http is not None and not self.closing:
            # The end of the stream inside a request head is a malformed request: the
            # reader says so (400, logged once per address) rather than a silent close.
            self.http.receive_data(b"")
            self._receive_http(b"")
        if self.ws is not None:
            self.ws.receive_data(b"")  # yields CloseConnection(1006); nothing to answer
            for _ in self.ws.events():
                pass
        return False  # asyncio closes the transport, then calls connection_lost

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self.site.sessions.discard(self)
        if self.mode is _CHAT:
            super().connection_lost(exc)  # the relay forgets the user, tells the others; releases
        else:
            self.closing = True
            self.unlink_transports()  # a page's connection too (see session.py)
            self.relay.admission.release(self.address, self)  # admitted at accept (server/listener.py)

    def pause_writing(self) -> None:
        super().pause_writing()  # (write_paused: a slow chat client gets only what cannot be skipped)
        if self.mode is not _CHAT:
            # A file or an echo is written once: stop reading requests (and so making
            # more responses) until the peer has read what waits; those read already wait
            # in the reader (see _receive_http), or one write of pipelined requests would
            # queue a file per request (100 of the app: 16 MB for 4 KB sent).
            self.transport.pause_reading()

    def _writing_resumed(self) -> None:
        if self.mode is _CHAT:
            super()._writing_resumed()  # what was held back for a slow reader may follow
            return
        self.write_paused = False
        if self.mode is _HTTP and self.http is not None and not self.closing:
            self._receive_http(b"")  # the requests that waited, until the buffer fills again
        if not self.write_paused:
            self._resume_reading()  # unless the read budget still stops it

    # --- HTTP ---------------------------------------------------------------------------

    def _receive_http(self, data: bytes) -> None:
        """Feed bytes of requests (none: answer those that waited for the peer to read)."""
        reader = self.http
        if data:
            reader.receive_data(data)
        # Pipelined requests are answered in order, until one upgrades the connection, and
        # while the transport takes more (see pause_writing).
        while self.mode is _HTTP and not self.closing and not self.write_paused:
            try:
                request = reader.next_request()
            except HttpError as error:
                self.relay.log_lines.log("refused HTTP request{s}", self.address, logging.INFO, "web %s: %d %s",
                                         endpoint(self.address, self.port), error.status, error.reason)
                self._write_http(_error_response(error, error.method), keep_alive=False)
                return
            if request is None:
                return
            self._serve(request)
        if self.mode is not _HTTP:
            leftover, self.http = reader.trailing_data, None
            if leftover:  # WebSocket frames sent right behind the upgrade request
                self._receive_websocket(leftover)

    def _serve(self, request: Request) -> None:
        try:
            check_host(request, self.site.hosts)
        except HttpError as error:
            # DNS rebinding, or a name the operator has not added (--web-host-name).
            self.relay.log_lines.log("refused host name{s}", self.address, logging.INFO,
                                     "web %s: %d for Host %r: not one of this server's names "
                                     "(chatserver.py --web-host-name NAME adds one)", endpoint(self.address, self.port),
                                     error.status, request.host)
            self._write_http(_error_response(error, request.method), keep_alive=False)
            return
        path = request.target
        if path.partition("?")[0] == METRICS_PATH and self.site.metrics is not None:
            self._serve_metrics(request)
            return
        if path == CHAT_PATH or (path == ECHO_PATH and self.site.echo):
            self._upgrade(request, _CHAT if path == CHAT_PATH else _ECHO)
            return
        # Only here does a URL become a file, and resolve_static refuses anything that
        # could leave the web client's folder.
        file = resolve_static(self.site.static_root, path)
        try:
            if file is None:
                raise FileNotFoundError(path)
            headers = static_response_headers(file, content_type(file))
            etag = next(value for name, value in headers if name == "ETag")
            if is_not_modified(request.header("if-none-match"), etag):
                self._respond(request, 304, "Not Modified", headers, b"")
                return
            # The files are a few kilobytes, read on demand: simpler than a cache that
            # would have to notice edits, and the ETag saves the transfer anyway.
            body = file.read_bytes()
        except OSError:
            self._respond(request, 404, "Not Found",
                          [("Content-Type", "text/plain; charset=utf-8"), *SECURITY_HEADERS],
                          b"404 Not Found\n")
            return
        self._respond(request, 200, "OK", headers, body)

    def _serve_metrics(self, request: Request) -> None:
        """The server's figures for Prometheus, to the configured addresses only: they tell
        how busy the server is and how its store fares, which is nobody else's business."""
        if not metrics_allowed(self.address, self.site.metrics_allow):
            self.relay.log_lines.log("refused metrics request{s}", self.address, logging.INFO,
                                     "web %s: 403 for /metrics (not in the metrics allow list)",
                                     endpoint(self.address, self.port))
            self._respond(request, 403, "Forbidden", [("Content-Type", "text/plain; charset=utf-8"),
                                                      *SECURITY_HEADERS],
                          b"403 Forbidden: this address may not read /metrics\n")
            return
        self._respond(request, 200, "OK", [("Content-Type", METRICS_CONTENT_TYPE), ("Cache-Control", "no-store"),
                                           *SECURITY_HEADERS], self.site.metrics().encode("utf-8"))

    def _respond(self, request: Request, status: int, reason: str,
                 headers: list[tuple[str, str]], body: bytes) -> None:
        self._served += 1
        keep_alive = (request.keep_alive and self._served < HTTP_MAX_REQUESTS
                      and self._lifetime_left() > 0)
        headers = [*headers, ("Connection", "keep-alive" if keep_alive else "close")]
        self._write_http(_render(request.method, status, reason, headers, body), keep_alive)

    def _write_http(self, response: bytes, keep_alive: bool) -> None:
        self.transport.write(response)
        if keep_alive:
            # The next request has as long as the first, but no longer than the connection's
            # lifetime: an idle keep-alive connection gives its place back when that ends.
            self._set_timer(min(HTTP_IDLE_TIMEOUT, self._lifetime_left()))
        else:
            self.close()

    def _lifetime_left(self) -> float:
        """Seconds this connection may still serve HTTP (HTTP_MAX_LIFETIME from accept)."""
        return HTTP_MAX_LIFETIME - (time.monotonic() - self.connected_at)

    def _upgrade(self, request: Request, mode: str) -> None:
        try:
            response = accept_handshake(request, allowed_origins=self.site.allowed_origins,
                                        same_origin_too=self.site.same_origin_too, now=time.time())
        except HandshakeError as error:
            self.relay.log_lines.log("refused upgrade{s}", self.address, logging.INFO,
                                     "web %s: upgrade refused: %d %s", endpoint(self.address, self.port), error.status,
                                     error.reason)
            self._write_http(_error_response(error, request.method), keep_alive=False)
            return
        self._cancel_timer()
        self.transport.write(response)
        self.mode = mode
        if mode is _ECHO:
            self.relay.admission.settled(self.address, self)  # (the operator's conformance runs)
            self.ws = WebSocketConnection(max_message_bytes=ECHO_MAX_MESSAGE_BYTES)
            # Not at the chat connections' read budget (session.py): a conformance run's
            # messages of up to 16 MiB would take a minute each, and the echo parses no chat
            # (it is off unless the operator turns it on, --web-echo).
            self.read_budget = _UNBUDGETED
            self.last_seen = time.monotonic()
            self._echo_timed_out()  # sets the timer that keeps its time limits
            return
        # One pong for the pings of one read, and each frame charged at least
        # const.READ_BYTES_MIN_PER_FRAME (see _receive_websocket): pings cost no less
        # to parse than chat frames, and no rate counts them.
        self.ws = WebSocketConnection(max_message_bytes=CHAT_MAX_LOGIN_MESSAGE_BYTES, latest_ping_only=True,
                                      min_frame_bytes=self.relay.config.read_bytes_min_per_frame)
        self.login_limited = True
        self.site.sessions.discard(self)  # the relay owns it from now on
        self.set_chat_write_limits()
        # The login timeout counts from the upgrade, not from the first page fetch.
        self.connected_at = self.last_seen = time.monotonic()
        self.relay.connected(self)

    # --- WebSocket ----------------------------------------------------------------------

    def _receive_websocket(self, data: bytes) -> None:
        """Feed bytes from the peer (none: handle the messages that waited while reading
        was held, see release_reading) and act on the messages they complete."""
        ws = self.ws
        now = self.last_seen = time.monotonic()  # WebSocket pings count as signs of life
        if self.login_limited and self.name is not None:
            self._open_message_limit()  # welcomed while reading was held
        if data:
            ws.receive_data(data)
            if self.reading_held_since is not None:
                return  # they wait in the core, in order, behind the request that holds reading
        completed = False
        for event in ws.events():
            # The core's own replies (pongs, the echo of a close, a close for bad frames) to
            # the frames up to this event go first, so the peer gets every answer in the
            # order it sent the frames (see web.websocket.connection).
            self._write_protocol_replies()
            kind = type(event)
            completed = completed or kind is TextMessage or kind is BinaryMessage
            if kind is TextMessage:
                if self.mode is _ECHO:
                    self._echo(event)
                elif not self.closing:
                    self._receive_chat_message(event.text)
                    if self.login_limited and self.name is not None:
                        self._open_message_limit()  # welcomed: before the next frame's header is read
                    if self.reading_held_since is not None:
                        # A request must wait (server/intake.py): the messages after it
                        # stay in the core (an iteration left part-way keeps the rest).
                        completed = True
                        break
            elif kind is BinaryMessage:
                if self.mode is _ECHO:
                    self._echo(event)
                elif not self.closing:
                    self.relay.log_lines.log("binary message{s}", self.address, logging.INFO,
                                             "web %r: binary message; closing", self)
                    self._close_websocket(_CLOSE_UNSUPPORTED_DATA, "chat frames are text messages",
                                          const.PROTOCOL_ERROR_REASON)
            elif kind is CloseConnection:
                log.debug("web %r: WebSocket closed (%d %s)", self, event.code, event.reason)
                if ws.failed and self.mode is _CHAT and not self.closing:
                    # Any other breach of RFC 6455 (unmasked, too large, invalid UTF-8...):
                    # left as a binary message is, not as a plain disconnection.
                    self.leave_reason = const.PROTOCOL_ERROR_REASON
            # Ping: the core queues the pong, written above; on the chat path one for the
            # pings of this read, the latest's, before the next message or after the loop
            # (latest_ping_only). Pong: nothing to do.
        # On top of the bytes buffer_updated counts (a frame of fewer bytes than the least a
        # frame costs owes the difference); none on the echo path, which has no budget.
        self.read_budget -= ws.take_frame_surcharge()
        if not ws.unfinished:
            self._ws_unfinished_since = None
        elif completed or self._ws_unfinished_since is None:
            self._ws_unfinished_since = now  # the message still open began in this read
        self._write_protocol_replies()
        if ws.state is ConnectionState.CLOSED:
            # The closing handshake is over (or the peer broke the protocol or vanished):
            # the server closes TCP first, as RFC 6455 7.1.1 asks.
            self.closing = True
            self._cancel_timer()
            self.transport.close()
            self._cut_later()

    def _open_message_limit(self) -> None:
        """The welcome is sent: messages have the whole limit from the next frame on."""
        self.login_limited = False
        self.ws.set_max_message_bytes(CHAT_MAX_MESSAGE_BYTES)

    def _write_protocol_replies(self) -> None:
        replies = self.ws.data_to_send()
        if replies and not self.transport.is_closing():
            self.transport.write(replies)
            if self.mode is _CHAT and not self.closing:
                # Pongs are as large as the pings they answer, and written past the chat
                # frames' count (ClientSession._write): the hard mark holds for them too, or
                # a peer that pings and never reads would have the server keep them all.
                # (Once our close frame is out the core answers no ping.)
                waiting, limit = self.transport.get_write_buffer_size(), self.outgoing_limit()
                if waiting > limit:
                    self._slow_consumer(waiting, limit)

    def _receive_chat_message(self, text: str) -> None:
        # A text message is exactly one chat frame. Tolerate the newline a line-oriented
        # client may append; a newline anywhere else would split the frame in two.
        if text.endswith("\n"):
            text = text[:-1]
        if "\n" in text:
            self.relay.handle(self, FrameRejected(
                ErrorCode.BAD_JSON, "a WebSocket message must hold one JSON object without raw newlines"))
            return
        self.receive_chat(text.encode("utf-8") + b"\n")

    def _echo(self, message: TextMessage | BinaryMessage) -> None:
        if self.ws.state is ConnectionState.OPEN and not self.transport.is_closing():
            self.transport.write(self.ws.send(message))

    def _transmit(self, chunks: list[bytes]) -> None:
        """Send each outgoing chat frame as its own WebSocket text message."""
        ws = self.ws
        if ws is None or ws.state is not ConnectionState.OPEN:
            return  # our close frame went out: nothing may follow it
        out = []
        for chunk in chunks:
            for frame in chunk.split(b"\n"):
                if frame:
                    out.append(ws.send(TextMessage(frame.decode("utf-8"))))
        self.transport.write(b"".join(out))

    def _close_transport(self, code: str) -> None:
        """After ClientSession.end's error frame: the close frame (see _close_code), then
        TCP as _close_websocket says."""
        if self.ws is None:
            super()._close_transport(code)
        else:
            self._close_websocket(self._close_code(code), self.leave_reason)

    def _close_code(self, error: str | None) -> int:
        """The close code after the chat ``error`` (None: none): 1001 when the server shuts
        down, 1008 for the rules in _CLOSE_CODES, else 1000."""
        if self.leave_reason == const.SHUTDOWN_REASON:
            return _CLOSE_GOING_AWAY
        return _CLOSE_CODES.get(error, _CLOSE_NORMAL)

    def _close_websocket(self, code: int, reason: str, leave_reason: str | None = None) -> None:
        """Start the closing handshake: our close frame now, TCP once the peer answers
        (see _receive_websocket) or after CLOSE_TIMEOUT seconds."""
        if leave_reason is not None:
            self.leave_reason = leave_reason
        self.closing = True
        ws = self.ws
        if ws.state is ConnectionState.OPEN and not self.transport.is_closing():
            reason_bytes = reason.encode("utf-8")[:_MAX_CLOSE_REASON_BYTES]
            reason = reason_bytes.decode("utf-8", errors="ignore")
            self.transport.write(ws.send(CloseConnection(code, reason)))
            self._set_timer(CLOSE_TIMEOUT)
        else:
            # The peer's close frame (or a violation) came first: the core's answer, if not
            # written yet, is the close frame RFC 6455 5.5.1 says we MUST send.
            self._write_protocol_replies()
            self.transport.close()
            self._cut_later()

    def _handle_waiting(self) -> None:
        """The messages that waited in the WebSocket core while reading was held."""
        if self.ws is not None and self.mode is _CHAT:
            self._receive_websocket(b"")

    def _unheld(self, held: float) -> None:
        if self._ws_unfinished_since is not None:
            self._ws_unfinished_since += held

    # --- Used by the relay --------------------------------------------------------------

    @property
    def unfinished_since(self) -> float | None:
        """When the WebSocket message still unfinished began (a chat frame is always a
        whole message, so that is what a browser could keep open), or None."""
        return self._ws_unfinished_since

    def give_way(self, message: str) -> None:
        """As ClientSession.give_way; before the upgrade the connection is answered ``429``
        with ``message`` and Retry-After, whatever it was doing (a request begun, or
        none: a browser's idle keep-alive connection, which it then gives up), and closed."""
        if self.mode is not _HTTP:
            return super().give_way(message)
        self.relay.log_lines.log("disconnect{s} before logging in", self.address, logging.INFO,
                                 "web %s %s", endpoint(self.address, self.port), GAVE_WAY)
        self.transport.write(_refusal_response(address_full(message)))
        self.close()

    def close(self, reason: str | None = None, error: str | None = None) -> None:
        """Close after what is queued has been written: for a WebSocket, the queued chat
        frames, then a close frame (its code: _close_code, after ``error``)."""
        if self.mode is _HTTP or self.ws is None:
            super().close(reason, error)  # and cut if the last answer is not taken (CLOSE_GRACE)
            self._cancel_timer()
            return
        if reason is not None:
            self.leave_reason = reason
        if self.closing:
            return
        held = self.reading_held_since is not None
        if held:
            # Held for the answers before a bye (or a request's turn): the peer's close
            # frame must still be read; the chat messages behind are not handled (closing).
            self.reading_held_since = None
            self.transport.resume_reading()
        self.flush()  # goodbyes and final errors go out before the close frame
        self._close_websocket(self._close_code(error), self.leave_reason)
        if held:
            self._receive_websocket(b"")  # what waited in the core: the peer's close frame, if sent

    # --- Timers -------------------------------------------------------------------------

    def _set_timer(self, delay: float) -> None:
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(delay, self._timed_out)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        if self.closing:
            # Our last answer or close frame is still not taken (or the peer does not answer
            # the close handshake) CLOSE_TIMEOUT seconds on: cut the connection, which a
            # peer that stopped reading would otherwise keep for ever.
            self.transport.abort()
            return
        if self.mode is _ECHO:
            self._echo_timed_out()
            return
        # (asyncio may run a timer up to its clock's resolution early: hence the slack)
        if self._lifetime_left() <= _TIMER_SLACK:
            self.relay.log_lines.log("HTTP lifetime end{s}", self.address, logging.INFO,
                                     "web %s: no upgrade within %.0f s (HTTP_MAX_LIFETIME)",
                                     endpoint(self.address, self.port), HTTP_MAX_LIFETIME)
        else:
            self.relay.log_lines.log("HTTP idle timeout{s}", self.address, logging.INFO,
                                     "web %s: no complete request within %.0f s", endpoint(self.address, self.port),
                                     HTTP_IDLE_TIMEOUT)
        # A request begun is told why the connection closes (408), as every refusal is; an
        # idle keep-alive connection has nothing to be told, and one that stopped reading
        # (its requests wait, see pause_writing) would not read it.
        refusal = None if self.write_paused or self.http is None else self.http.time_out()
        if refusal is None:
            self.close()
        else:
            self._write_http(_error_response(refusal, refusal.method), keep_alive=False)

    def _echo_timed_out(self) -> None:
        """An echo connection's timer: the relay's sweeper never sees one (it is no chat
        session), so it keeps the chat WebSocket's time limits itself. Closed (1008) when
        nothing came for ``heartbeat_timeout`` seconds or a message stays unfinished for
        ``frame_timeout``; else the timer is set for the nearer of the two, and no later
        than a quarter of ``frame_timeout`` while no message is open (as the sweeper's
        period: one begun meanwhile goes at most that much past its limit)."""
        config, now = self.relay.config, time.monotonic()
        silent, unfinished = now - self.last_seen, self._ws_unfinished_since
        if unfinished is not None and now - unfinished > config.frame_timeout:
            reason = f"a frame was not finished within {config.frame_timeout:g} s"
        elif silent > config.heartbeat_timeout:
            reason = f"nothing received for {silent:.0f} s"
        else:
            frame_due = config.frame_timeout / 4 if unfinished is None else config.frame_timeout - (now - unfinished)
            due = min(config.heartbeat_timeout - silent, frame_due)
            self._set_timer(max(due, 0.0) + 0.01)  # (just past it: the checks above are strict)
            return
        self.relay.log_lines.log("echo timeout{s}", self.address, logging.INFO, "web %s: echo: %s; closing",
                                 endpoint(self.address, self.port), reason)
        self._close_websocket(_CLOSE_POLICY_VIOLATION, reason)


def _render(method: str | None, status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    """The answer to a ``method`` request (None: its method could not be read), dated now;
    to HEAD without its body (render_answer)."""
    return render_answer(method, status, reason, headers, body, now=time.time())


def _error_response(error: HttpError, method: str | None = None) -> bytes:
    """The refusal for ``error`` of a ``method`` request (see _render), with the security
    headers every response carries."""
    headers = [*error.headers, ("Content-Type", "text/plain; charset=utf-8"), *SECURITY_HEADERS,
               ("Connection", "close")]
    return _render(method, error.status, error.reason, headers, f"{error.status} {error.reason}\n".encode())


# Each listener's WebSite, for stop_web_server.
_sites: weakref.WeakKeyDictionary[Listener, WebSite] = weakref.WeakKeyDictionary()


def _refusal_response(refusal: Refusal) -> bytes:
    """What a connection refused at accept is told: 503 (full) or 429 (its address holds
    as many as it may), both with Retry-After; then it is closed."""
    headers = [("Retry-After", str(RETRY_AFTER)), ("Content-Type", "text/plain; charset=utf-8"), *SECURITY_HEADERS,
               ("Connection", "close")]
    return render_response(refusal.status, refusal.reason, headers,
                           f"{refusal.status} {refusal.reason}: {refusal.message}\n".encode(), now=time.time())


async def start_web_server(relay: Relay, host: str, port: int, *, batcher: WriteBatcher,
                           allowed_origins: str | Collection[str] | None = None, same_origin_too: bool = False,
                           echo: bool = False,
                           static_root: str | Path = WEBCLIENT_ROOT,
                           allowed_hosts: Collection[str] = (),
                           tls: ssl.SSLContext | None = None,
                           metrics: Callable[[], str] | None = None,
                           metrics_allow: Collection[str] = const.METRICS_ALLOW,
                           reuse_port: bool = False, failures: AcceptFailures | None = None,
                           sockets: list[socket.socket] | None = None) -> Listener:
    """Listen for browsers on ``host:port`` (0: any free port) and return the server.

    ``relay`` and ``batcher`` are the chat server's own, so web users and TCP users share
    one registry. ``allowed_origins``: None lets only pages served by this listener open
    the chat WebSocket (same origin); a collection of origins such as
    ``{"https://chat.example"}`` allows those, and the same origin as well with
    ``same_origin_too`` (the chat server's settings add origins: server/app.py); ``"*"``
    allows any. ``echo`` turns on the
    WebSocket echo path ``/echo`` (for conformance tests). ``static_root`` is the folder
    served at ``/``. ``allowed_hosts``: names besides the server's own (localhost, the
    machine's host name, ``host`` if it is a name) that the Host header may carry
    (``"*"``: any); IP addresses are always allowed (see web.hosts). ``tls``: serve HTTPS
    and WSS with this context (the chat port's), else plain HTTP and WS. ``metrics``: the
    function that makes the text of ``GET /metrics`` (None: no such path), served to peers
    whose address is in ``metrics_allow`` (addresses and CIDR blocks), 403 to others.
    Every connection counts against ``relay.admission`` from accept (server/listener.py);
    ``failures`` says when accept() runs out of descriptors (the server's own, shared).
    ``sockets``: already bound to ``host:port`` (listener.bind_sockets), as the chat server
    binds its ports before it opens its store; None: bound here. Raises OSError if the
    address is in use, ValueError for a bare string other than
    ``"*"`` as ``allowed_origins`` or as ``allowed_hosts``, or for an entry of
    ``metrics_allow`` that is not an address or a CIDR block.
    """
    if isinstance(allowed_hosts, str) and allowed_hosts != "*":
        raise ValueError('allowed_hosts must be "*" or a collection of host names')
    if isinstance(allowed_origins, str):
        if allowed_origins != "*":
            raise ValueError('allowed_origins must be None, "*" or a collection of origins')
        origins: str | frozenset[str] | None = "*"
    else:
        origins = None if allowed_origins is None else frozenset(allowed_origins)
    hosts = HostPolicy.for_server((allowed_hosts,) if isinstance(allowed_hosts, str) else allowed_hosts,
                                  host, socket.gethostname())
    site = WebSite(Path(static_root), origins, same_origin_too, echo, hosts, metrics=metrics,
                   metrics_allow=parse_allow_list(metrics_allow))
    def make(address: str, port: int) -> WebSession:
        session = WebSession(relay, batcher, site)
        session.address, session.port = address, port  # as admitted (see app.ChatServer._chat_session)
        return session

    if sockets is None:
        sockets = bind_sockets(host, port, reuse_port=reuse_port, unacked_timeout=relay.config.heartbeat_timeout)
    listen_on(sockets, 1024)
    # A TLS handshake gets no longer than an HTTP request head (asyncio's default: 60 s).
    server = Listener(sockets, make, relay.admission, relay.log_lines,
                      refusal_bytes=None if tls else _refusal_response, tls=tls, handshake_timeout=HTTP_IDLE_TIMEOUT,
                      failures=failures, backlog=1024)
    server.start()
    _sites[server] = site
    where = server.sockets[0].getsockname()
    log.info("web client on %s://%s/%s", "https" if tls else "http", endpoint(here(where[0]), where[1]),
             " (WebSocket echo on /echo)" if echo else "")
    return server


async def stop_web_server(server: Listener) -> None:
    """Stop listening and close the HTTP and echo connections of ``server``.

    Chat sessions belong to the relay, which says goodbye to them on shutdown.
    """
    server.close()
    site = _sites.pop(server, None)
    if site is not None:
        for session in list(site.sessions):
            session.close(const.SHUTDOWN_REASON)
    await server.wait_closed()
