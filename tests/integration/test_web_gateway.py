"""The web gateway without a browser: static files, traversal, WebSocket chat, origins.

The real server runs in a thread (ServerThread) with the gateway started on its loop; the
tests talk to it with raw sockets, the WebSocket client of ``cdp.py`` and the chat peers
of ``chatpeer.py``. Everything is on 127.0.0.1 and every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

import const
from cdp import BINARY, PING, PONG, TEXT, HandshakeRefused, WebSocketClient, WebSocketClosed
from chatpeer import TcpPeer, WebPeer
from protocol import (
    Accepted, Delivered, DirectMessage, ErrorReply, Goodbye, Pong, UserJoined, UserLeft,
    UserList, WhoRequest,
)
from protocol import Ping as ChatPing
from server import ServerConfig, ServerThread
from server import web
from server.outbox import WriteBatcher
from server.web import WEBCLIENT_ROOT, start_web_server, stop_web_server
from waits import wait_until
from web.static import CONTENT_SECURITY_POLICY
from web.websocket.frames import Opcode, serialize_frame

TIMEOUT = 5.0


@dataclass
class Gateway:
    srv: ServerThread
    web: asyncio.AbstractServer
    port: int
    stopped: bool = False

    def stop(self) -> None:
        """Stop the gateway, then the chat server (goodbye to chat sessions); idempotent."""
        if not self.stopped:
            self.stopped = True
            try:
                self.srv.run(stop_web_server(self.web))
            finally:
                self.srv.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def sessions(self) -> int:
        return self.srv.call(lambda: len(self.srv.server.relay.sessions))

    def wait_sessions(self, count: int, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while self.sessions() != count:
            assert time.monotonic() < deadline, f"relay has {self.sessions()} sessions, not {count}"
            time.sleep(0.02)


def start_gateway(srv: ServerThread, **options) -> asyncio.AbstractServer:
    async def start():
        batcher = WriteBatcher(asyncio.get_running_loop())
        return await start_web_server(srv.server.relay, "127.0.0.1", 0, batcher=batcher, **options)
    return srv.run(start())


@pytest.fixture
def make_gateway() -> Iterator:
    """Start a chat server with a gateway (``make_gateway(**options)``); stopped after."""
    started: list[Gateway] = []

    def make(**options) -> Gateway:
        srv = ServerThread(ServerConfig(host="127.0.0.1", port=0))
        srv.__enter__()
        try:
            web = start_gateway(srv, **options)
        except BaseException:
            srv.stop()
            raise
        started.append(Gateway(srv, web, web.sockets[0].getsockname()[1]))
        return started[-1]

    yield make
    for gateway in started:
        gateway.stop()


@pytest.fixture
def gateway(make_gateway) -> Gateway:
    return make_gateway()


# --- HTTP ------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def read_response(sock: socket.socket, head_only: bool = False, timeout: float = TIMEOUT) -> Response:
    """Read one response from ``sock`` (Content-Length framed)."""
    deadline = time.monotonic() + timeout
    buffer = b""

    def fill() -> bytes:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        data = sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        return data

    while b"\r\n\r\n" not in buffer:
        buffer += fill()
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = 0 if head_only or status == 304 else int(headers.get("content-length", "0"))
    while len(rest) < length:
        rest += fill()
    return Response(status, headers, rest[:length])


def request(port: int, target: str, method: str = "GET", headers: tuple[str, ...] = (),
            raw: bytes | None = None) -> Response:
    """Send one request (``raw`` bytes verbatim if given) and read the response."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        if raw is None:
            lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close", *headers]
            raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        sock.sendall(raw)
        return read_response(sock, head_only=method == "HEAD")


def masked(opcode: Opcode, payload: bytes = b"", fin: bool = True) -> bytes:
    """One client frame, to send several in a single write (one read on the server)."""
    return serialize_frame(opcode, payload, fin=fin, mask=b"\x12\x34\x56\x78")


def close_code(ws: WebSocketClient, timeout: float = TIMEOUT) -> int | None:
    """Read (and drop) messages until the server's close frame; return its code."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            ws.recv(max(0.0, deadline - time.monotonic()))
        except WebSocketClosed as closed:
            return closed.code


def test_index_page_has_the_csp_and_the_right_content_type(gateway: Gateway) -> None:
    response = request(gateway.port, "/")
    assert response.status == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["etag"].startswith('"')
    assert response.body == (WEBCLIENT_ROOT / "index.html").read_bytes()
    assert b'<script src="app.js"' in response.body


@pytest.mark.parametrize("path, kind", [
    ("/index.html", "text/html; charset=utf-8"),
    ("/app.js", "text/javascript; charset=utf-8"),
    ("/style.css", "text/css; charset=utf-8"),
])
def test_static_files_and_their_types(gateway: Gateway, path: str, kind: str) -> None:
    response = request(gateway.port, path)
    assert response.status == 200
    assert response.headers["content-type"] == kind
    assert response.body == (WEBCLIENT_ROOT / path[1:]).read_bytes()


def test_etag_revalidation_and_head(gateway: Gateway) -> None:
    first = request(gateway.port, "/app.js")
    again = request(gateway.port, "/app.js", headers=(f"If-None-Match: {first.headers['etag']}",))
    assert again.status == 304 and again.body == b""
    assert again.headers["etag"] == first.headers["etag"]
    head = request(gateway.port, "/app.js", method="HEAD")
    assert head.status == 200 and head.body == b""
    assert int(head.headers["content-length"]) == len(first.body)


def everything_sent(port: int, raw: bytes) -> bytes:
    """What the server sends for ``raw`` until it closes the connection."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(raw)
        while data := sock.recv(65536):
            received += data
    return received


@pytest.mark.parametrize("raw, status", [
    pytest.param(b"HEAD / HTTP/1.1\r\nHost: evil.example\r\n\r\n", 421, id="a name not ours"),
    pytest.param(b"HEAD /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 405,
                 id="a refused upgrade"),
    # Requests that cannot be parsed, whose method token was read all the same.
    pytest.param(b"HEAD /\x01 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400, id="a bad target"),
    pytest.param(b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\nno colon\r\n\r\n", 400, id="a bad header line"),
    pytest.param(b"HEAD  /  HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400, id="a malformed request line"),
    pytest.param(b"HEAD / HTTP/3.0\r\nHost: 127.0.0.1\r\n\r\n", 505, id="a version not served"),
    pytest.param(b"HEAD / HTTP/1.1\nHost: 127.0.0.1\n\n", 400, id="bare LF"),
    pytest.param(b"HEAD /" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n", 414, id="a target too long"),
])
def test_a_refusal_of_a_head_request_has_no_body(gateway: Gateway, raw: bytes, status: int) -> None:
    # RFC 9110 9.3.2: no content in an answer to HEAD (Content-Length may say the GET's).
    response = everything_sent(gateway.port, raw)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status) and body == b"", response
    assert b"\r\nContent-Length: " in head


def test_keep_alive_serves_several_requests_and_is_no_chat_session(gateway: Gateway) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=TIMEOUT) as sock:
        for path in ("/", "/style.css", "/nope"):
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
            response = read_response(sock)
            assert response.headers["connection"] == "keep-alive"
        assert response.status == 404
        # Fetching files never made this connection a chat session.
        assert gateway.sessions() == 0


@pytest.mark.parametrize("path", [
    "/../const.py",
    "/%2e%2e/const.py",
    "/%2E%2E/const.py",
    "/..%2fconst.py",
    "/..%2Fconst.py",
    "/static/../../etc/passwd",
    "/..%5cconst.py",
    "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/./index.html/../../const.py",
    "//etc/passwd",
    "/.git/config",
    "/%00index.html",
])
def test_path_traversal_is_404_and_never_the_file(gateway: Gateway, path: str) -> None:
    response = request(gateway.port, path)
    assert response.status in (400, 404)
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert b"PROTOCOL_VERSION" not in response.body
    assert b"root:" not in response.body
    assert b"[core]" not in response.body


def test_traversal_with_the_absolute_form_is_refused(gateway: Gateway) -> None:
    raw = b"GET http://127.0.0.1/../const.py HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    response = request(gateway.port, "", raw=raw)
    assert response.status == 404 and b"PROTOCOL_VERSION" not in response.body


def test_other_methods_are_405(gateway: Gateway) -> None:
    response = request(gateway.port, "/", method="POST")
    assert response.status == 405
    assert "GET" in response.headers["allow"]
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_a_malformed_request_is_400_and_closed(gateway: Gateway) -> None:
    response = request(gateway.port, "", raw=b"GET / HTTP/1.1\nHost: x\n\n")
    assert response.status == 400


@pytest.mark.parametrize("raw", [b"GET / HT", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"], ids=["line", "headers"])
def test_a_request_head_cut_by_the_end_of_the_stream_is_answered_400(gateway: Gateway, raw: bytes) -> None:
    # A client that ends its stream (half-close) inside a request head gets a clear
    # refusal, as for any other malformed head, not a silent close.
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=TIMEOUT) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while data := sock.recv(65536):
            received += data
    assert received.startswith(b"HTTP/1.1 400 Bad Request: incomplete request head\r\n"), received
    assert b"\r\nConnection: close\r\n" in received


@pytest.mark.parametrize("raw, answer", [
    (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"HTTP/1.1 408 Request Timeout\r\n"),
    (b"", b""),
], ids=["a request begun", "none"])
def test_a_request_head_not_finished_in_time_is_answered_408_and_an_idle_connection_just_closed(
        gateway: Gateway, monkeypatch, raw: bytes, answer: bytes) -> None:
    # A slowloris is cut at the idle timeout; one that began a request is told why
    # (RFC 9110 15.5.9), as one that ends its stream inside the head is (400 above).
    monkeypatch.setattr(web, "HTTP_IDLE_TIMEOUT", 0.3)
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=TIMEOUT) as sock:
        sock.sendall(raw)
        received = b""
        while data := sock.recv(65536):
            received += data
    assert received.startswith(answer), received
    assert (b"\r\nConnection: close\r\n" in received) == bool(answer)


def test_a_connection_that_sends_nothing_is_not_a_session(gateway: Gateway) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"GET / HT")  # an incomplete request head
        assert gateway.sessions() == 0


# --- WebSocket chat ----------------------------------------------------------------------


def test_handshake_then_hello_gets_welcome(gateway: Gateway) -> None:
    peer = WebPeer(gateway.ws_url, origin=gateway.url)
    try:
        assert peer.ws.response_head.startswith(b"HTTP/1.1 101 ")
        welcome = peer.login("Bob")
        assert welcome.name == "Bob"
        # Each chat frame is one text message, without a newline. (The notice of our own
        # join may come first: notices are batched.)
        peer.ws.send_text('{"type":"who","id":"w1"}')
        while True:
            opcode, payload = peer.ws.recv()
            assert opcode == TEXT and b"\n" not in payload
            frame = json.loads(payload)
            if frame["type"] == "users":
                break
            assert frame["type"] == "joined"
        assert frame["id"] == "w1" and [u["name"] for u in frame["users"]] == ["Bob"]
        assert gateway.sessions() == 1
    finally:
        peer.close()
    gateway.wait_sessions(0)


def test_browser_user_and_tcp_user_exchange_dms_with_delivered_acks(gateway: Gateway) -> None:
    bob = WebPeer(gateway.ws_url, origin=gateway.url)
    alice = TcpPeer("127.0.0.1", gateway.srv.port)
    try:
        bob.login("Bob")
        alice.login("Alice")
        bob.expect(UserJoined, where=lambda e: e.name == "Alice")
        alice.send(WhoRequest("w"))
        assert [u.name for u in alice.expect(UserList).users] == ["Alice", "Bob"]

        # TCP -> browser
        request_id = alice.send_dm("Bob", "hi Bob, from the terminal 🌍")
        accepted = alice.expect(Accepted)
        dm = bob.expect(DirectMessage)
        assert (dm.sender, dm.text, dm.msg_id) == ("Alice", "hi Bob, from the terminal 🌍", accepted.msg_id)
        bob.receipt(dm.msg_id)
        assert alice.expect(Delivered) == Delivered(request_id, accepted.msg_id)

        # browser -> TCP
        request_id = bob.send_dm("Alice", "hi Alice, from the browser")
        accepted = bob.expect(Accepted)
        dm = alice.expect(DirectMessage)
        assert (dm.sender, dm.text) == ("Bob", "hi Alice, from the browser")
        alice.receipt(dm.msg_id)
        assert bob.expect(Delivered) == Delivered(request_id, accepted.msg_id)
    finally:
        bob.close()
        alice.close()


def test_closing_the_websocket_logs_the_user_out(gateway: Gateway) -> None:
    alice = TcpPeer("127.0.0.1", gateway.srv.port)
    bob = WebPeer(gateway.ws_url)
    try:
        alice.login("Alice")
        bob.login("Bob")
        bob.ws.send_close(1001, "tab closed")
        assert close_code(bob.ws) == 1001  # the server echoed the close ...
        bob.ws.wait_closed()  # ... and closed TCP
        left = alice.expect(UserLeft, where=lambda e: e.name == "Bob")
        assert left.name == "Bob"
        gateway.wait_sessions(1)
    finally:
        alice.close()
        bob.close()


def test_bad_origin_is_403(gateway: Gateway) -> None:
    with pytest.raises(HandshakeRefused) as refused:
        WebSocketClient(gateway.ws_url, origin="http://evil.example", timeout=TIMEOUT)
    assert refused.value.status == 403
    assert gateway.sessions() == 0


def test_same_origin_on_another_port_is_403(gateway: Gateway) -> None:
    with pytest.raises(HandshakeRefused) as refused:
        WebSocketClient(gateway.ws_url, origin=f"http://127.0.0.1:{gateway.port + 1}", timeout=TIMEOUT)
    assert refused.value.status == 403


def test_configured_origins_replace_same_origin(make_gateway) -> None:
    gateway = make_gateway(allowed_origins=["https://chat.example"])
    peer = WebPeer(gateway.ws_url, origin="https://chat.example")
    try:
        assert peer.login("Bob").name == "Bob"
    finally:
        peer.close()
    with pytest.raises(HandshakeRefused) as refused:
        WebSocketClient(gateway.ws_url, origin=gateway.url, timeout=TIMEOUT)
    assert refused.value.status == 403


def test_the_chat_servers_configured_origins_are_allowed_besides_its_own_page() -> None:
    # chatserver.py --web-origin (ServerConfig.web_origins, const.WEB_ALLOWED_ORIGINS) adds
    # an origin, as its help and PROTOCOL.md say; the server's own page was refused 403.
    config = ServerConfig(host="127.0.0.1", port=0, web_port=0, web_origins=("https://chat.example",))
    with ServerThread(config) as srv:
        port = srv.server.web_address[1]
        for origin, status in ((f"http://127.0.0.1:{port}", 101), ("https://chat.example", 101),
                               ("http://evil.example", 403), (f"http://127.0.0.1:{port + 1}", 403)):
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
                sock.sendall(upgrade_request(port, f"127.0.0.1:{port}", origin))
                assert read_response(sock, head_only=True).status == status, origin


def test_binary_message_closes_with_1003(gateway: Gateway) -> None:
    ws = WebSocketClient(gateway.ws_url, timeout=TIMEOUT)
    try:
        ws.send_frame(BINARY, b'{"type":"who","id":"1"}')
        assert close_code(ws) == 1003
        ws.wait_closed()
    finally:
        ws.close()
    gateway.wait_sessions(0)


@pytest.mark.parametrize("breach", [
    pytest.param(masked(Opcode.BINARY, b'{"type":"who","id":"1"}'), id="binary message"),
    pytest.param(serialize_frame(Opcode.TEXT, b'{"type":"who","id":"1"}'), id="unmasked frame"),
    pytest.param(masked(Opcode.TEXT, b'{"type":"who","id":"\xff"}'), id="invalid UTF-8"),
])
def test_every_breach_of_rfc_6455_is_left_as_a_protocol_error(gateway: Gateway, breach: bytes) -> None:
    """The others see one reason for every WebSocket violation (PROTOCOL.md, "left"
    reasons), not "protocol error" for one and "disconnected" for the rest."""
    alice = TcpPeer("127.0.0.1", gateway.srv.port)
    bob = WebPeer(gateway.ws_url)
    try:
        alice.login("Alice")
        bob.login("Bob")
        bob.ws.sock.sendall(breach)
        left = alice.expect(UserLeft, where=lambda e: e.name == "Bob")
        assert left.reason == "protocol error"
    finally:
        alice.close()
        bob.close()


def test_websocket_ping_is_answered(gateway: Gateway) -> None:
    ws = WebSocketClient(gateway.ws_url, timeout=TIMEOUT)
    try:
        ws.send_frame(PING, b"are you there")
        assert ws.recv_frame(TIMEOUT) == (True, PONG, b"are you there")
    finally:
        ws.close()


def test_chat_ping_is_answered_and_bad_frames_are_reported(gateway: Gateway) -> None:
    peer = WebPeer(gateway.ws_url)
    try:
        peer.login("Bob")
        peer.send(ChatPing("t1"))
        pong = peer.expect(Pong)
        assert pong == Pong("t1", pong.now) and type(pong.now) is int  # now: the server's clock
        # A raw newline would split the frame: refused as one bad frame, session goes on.
        peer.ws.send_text('{"type":"who",\n"id":"x"}')
        assert peer.expect(ErrorReply).code == "bad_json"
        peer.ws.send_text("not json")
        assert peer.expect(ErrorReply).code == "bad_json"
        # A trailing newline, as a line-oriented client would send, is fine.
        peer.ws.send_text('{"type":"who","id":"w2"}\n')
        assert peer.expect(UserList).request_id == "w2"
    finally:
        peer.close()


def test_shutdown_says_goodbye_and_closes_with_1001(make_gateway) -> None:
    gateway = make_gateway()
    peer = WebPeer(gateway.ws_url)
    stopper = threading.Thread(target=gateway.stop)
    try:
        peer.login("Bob")
        started = time.monotonic()
        stopper.start()  # in a thread: stop() returns once the sessions are gone
        assert isinstance(peer.expect(Goodbye), Goodbye)
        assert close_code(peer.ws) == 1001  # recv() answered the close frame ...
        peer.ws.wait_closed()               # ... and the server closed TCP
        stopper.join(timeout=TIMEOUT)
        assert not stopper.is_alive()
        # The closing handshake finished: no waiting out the server's goodbye grace.
        assert time.monotonic() - started < 1.5
    finally:
        peer.close()
        stopper.join(timeout=TIMEOUT)


# --- The echo path ------------------------------------------------------------------------


def test_echo_path_is_off_by_default(gateway: Gateway) -> None:
    with pytest.raises(HandshakeRefused) as refused:
        WebSocketClient(f"ws://127.0.0.1:{gateway.port}/echo", timeout=TIMEOUT)
    assert refused.value.status == 404


def test_echo_path_echoes_text_and_binary_when_on(make_gateway) -> None:
    gateway = make_gateway(echo=True)
    ws = WebSocketClient(f"ws://127.0.0.1:{gateway.port}/echo", timeout=TIMEOUT)
    try:
        ws.send_text("héllo")
        assert ws.recv(TIMEOUT) == (TEXT, "héllo".encode())
        ws.send_frame(BINARY, b"\x00\xff" * 40000)
        assert ws.recv(TIMEOUT) == (BINARY, b"\x00\xff" * 40000)
        ws.send_frame(TEXT, b"frag", fin=False)
        ws.send_frame(0x0, b"mented")
        assert ws.recv(TIMEOUT) == (TEXT, b"fragmented")
        assert gateway.sessions() == 0  # an echo connection is no chat session
        ws.send_close(1000)
        with pytest.raises(WebSocketClosed):
            ws.recv(TIMEOUT)
        ws.wait_closed()
    finally:
        ws.close()


def test_the_echo_path_echoes_a_conformance_runs_large_messages_without_the_chat_read_budget(make_gateway) -> None:
    """Autobahn's cases send messages of up to 16 MiB to /echo: at the chat connections'
    read budget (256 KiB a second after a burst of 1 MiB) its run outlasted its limit in
    CI. The echo path is a conformance tool the operator turns on; it parses no chat."""
    gateway = make_gateway(echo=True)
    ws = WebSocketClient(f"ws://127.0.0.1:{gateway.port}/echo", timeout=TIMEOUT)
    try:
        big = b"\x00\xff" * (2 * 1024 * 1024)  # 4 MiB: 12 s at the chat budget; each recv waits 5
        for _ in range(2):
            ws.send_frame(BINARY, big)
            assert ws.recv(TIMEOUT) == (BINARY, big)
    finally:
        ws.close()


def test_pong_for_a_ping_in_the_same_read_as_the_last_fragment_goes_first(make_gateway) -> None:
    # Autobahn 5.6-5.8: control frames are answered in the order they came.
    gateway = make_gateway(echo=True)
    ws = WebSocketClient(f"ws://127.0.0.1:{gateway.port}/echo", timeout=TIMEOUT)
    try:
        ws.sock.sendall(masked(Opcode.TEXT, b"fragment1", fin=False) + masked(Opcode.PING, b"ping payload")
                        + masked(Opcode.CONTINUATION, b"fragment2"))
        assert ws.recv_frame(TIMEOUT) == (True, PONG, b"ping payload")
        assert ws.recv_frame(TIMEOUT) == (True, TEXT, b"fragment1fragment2")
    finally:
        ws.close()


def test_bye_and_close_frame_in_one_read_still_get_the_servers_close_frame(gateway: Gateway) -> None:
    peer = WebPeer(gateway.ws_url)
    try:
        peer.login("Bob")
        peer.ws.sock.sendall(masked(Opcode.TEXT, b'{"type":"bye"}') + masked(Opcode.CLOSE, b"\x03\xe8"))
        assert close_code(peer.ws) == 1000  # RFC 6455 5.5.1: the server MUST send its close
        peer.ws.wait_closed()
    finally:
        peer.close()
    gateway.wait_sessions(0)


def assert_dated_now(headers: dict[str, str]) -> None:
    """A Date header in IMF-fixdate (RFC 9110 5.6.7), within a minute of now."""
    date = headers["date"]
    assert date.endswith(" GMT") and len(date) == 29, date
    assert abs(email.utils.parsedate_to_datetime(date).timestamp() - time.time()) < 60


def test_every_response_carries_a_date(gateway: Gateway) -> None:
    first = request(gateway.port, "/app.js")
    responses = [
        first,
        request(gateway.port, "/app.js", headers=(f"If-None-Match: {first.headers['etag']}",)),
        request(gateway.port, "/app.js", method="HEAD"),
        request(gateway.port, "/nope"),
        request(gateway.port, "/", method="POST"),
        request(gateway.port, "", raw=b"GET / HTTP/1.1\nHost: x\n\n"),
        request(gateway.port, "/ws"),  # not an upgrade: 400
    ]
    assert [r.status for r in responses] == [200, 304, 200, 404, 405, 400, 400]
    for response in responses:
        assert_dated_now(response.headers)
    with pytest.raises(HandshakeRefused) as refused:
        WebSocketClient(gateway.ws_url, origin="http://evil.example", timeout=TIMEOUT)
    assert b"\r\nDate: " in refused.value.head
    ws = WebSocketClient(gateway.ws_url, timeout=TIMEOUT)
    try:
        assert_dated_now(ws.headers)  # the 101 too
    finally:
        ws.close()


# --- Host names (DNS rebinding) -------------------------------------------------------------


def upgrade_request(port: int, host: str, origin: str) -> bytes:
    return (f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {origin}\r\n\r\n").encode()


def test_a_rebound_name_gets_neither_the_page_nor_the_websocket(gateway: Gateway) -> None:
    # evil.example resolves to us: for the browser its page and our port are same-origin.
    host = f"evil.example:{gateway.port}"
    page = request(gateway.port, "", raw=f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    assert page.status == 421
    assert page.body.startswith(b"421 Misdirected Request") and len(page.body) < 200
    assert page.headers["connection"] == "close"
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert_dated_now(page.headers)
    upgrade = request(gateway.port, "", raw=upgrade_request(gateway.port, host, f"http://{host}"))
    assert upgrade.status == 421
    assert gateway.sessions() == 0


def test_an_absolute_form_request_is_judged_by_its_targets_host_not_by_host(gateway: Gateway) -> None:
    # RFC 9112 3.2.2: the target's host overrides Host; a rebinding page's name in the URL
    # was let through by an address in Host.
    raw = f"GET http://evil.example:{gateway.port}/ HTTP/1.1\r\nHost: 127.0.0.1:{gateway.port}\r\n\r\n".encode()
    assert request(gateway.port, "", raw=raw).status == 421
    raw = f"GET http://127.0.0.1:{gateway.port}/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
    assert request(gateway.port, "", raw=raw.encode()).status == 200


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "LocalHost."])
def test_local_names_and_addresses_are_served(gateway: Gateway, host: str) -> None:
    response = request(gateway.port, "", raw=f"GET / HTTP/1.1\r\nHost: {host}:{gateway.port}\r\n"
                                             f"Connection: close\r\n\r\n".encode())
    assert response.status == 200


def test_the_machines_host_name_is_served(gateway: Gateway) -> None:
    host = f"{socket.gethostname()}:{gateway.port}"
    assert request(gateway.port, "", raw=f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()).status == 200
    upgrade = request(gateway.port, "", raw=upgrade_request(gateway.port, host, f"http://{host}"))
    assert upgrade.status == 101


def test_a_configured_name_is_served_page_and_websocket(make_gateway) -> None:
    gateway = make_gateway(allowed_hosts=["chat.example.org"])
    host = f"Chat.Example.org:{gateway.port}"
    assert request(gateway.port, "", raw=f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()).status == 200
    upgrade = request(gateway.port, "", raw=upgrade_request(gateway.port, host, f"http://{host}"))
    assert upgrade.status == 101
    other = f"chat.example.net:{gateway.port}"
    assert request(gateway.port, "", raw=f"GET / HTTP/1.1\r\nHost: {other}\r\n\r\n".encode()).status == 421


def test_the_chat_server_passes_its_configured_host_names_to_the_gateway() -> None:
    config = ServerConfig(host="127.0.0.1", port=0, web_port=0, web_hosts=("chat.example.org",))
    with ServerThread(config) as srv:
        port = srv.server.web_address[1]
        for host, status in (("chat.example.org", 200), ("evil.example", 421)):
            raw = f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
            assert request(port, "", raw=raw).status == status


# --- Limits ---------------------------------------------------------------------------------


@contextmanager
def sleepy_browser(config: ServerConfig) -> Iterator[tuple[ServerThread, TcpPeer, socket.socket]]:
    """A server on ``config`` with Alice logged in over TCP and Sleepy, a browser that never
    reads, over the WebSocket, with small kernel buffers on both ends, so what waits for it
    is mostly in the server's own buffer, the one the outgoing limit bounds."""
    with ServerThread(config) as srv:
        port = srv.server.web_address[1]
        alice = TcpPeer("127.0.0.1", srv.port)
        sleepy = socket.socket()
        try:
            alice.login("Alice")
            sleepy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sleepy.connect(("127.0.0.1", port))
            sleepy.sendall(upgrade_request(port, f"127.0.0.1:{port}", f"http://127.0.0.1:{port}"))
            assert read_response(sleepy, head_only=True).status == 101
            sleepy.sendall(masked(Opcode.TEXT, b'{"type":"hello","id":"h","name":"Sleepy","version":1}'))
            alice.expect(UserJoined, where=lambda e: e.name == "Sleepy")

            def shrink_server_buffer() -> None:
                [session] = [s for s in srv.server.relay.sessions if s.name == "Sleepy"]
                session.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            srv.call(shrink_server_buffer)
            yield srv, alice, sleepy
        finally:
            sleepy.close()
            alice.close()


def test_a_browser_that_stops_reading_is_dropped_at_the_configured_outgoing_limit() -> None:
    limit = 32 * 1024  # far below const.MAX_OUTGOING_BYTES (1 MiB)
    config = ServerConfig(host="127.0.0.1", port=0, web_port=0, max_outgoing_bytes=limit,
                          rate_per_connection=1e6, burst_per_connection=1e6)
    with sleepy_browser(config) as (srv, alice, sleepy):
        # Room messages to a reader that lags are skipped (and counted), not queued, so
        # what can fill its buffer is the answers to its own requests: Sleepy writes to
        # nobody again and again and never reads the answers (each refused
        # unknown_recipient at once: a whois or a who page would wait for its queue to
        # drain, and the server stop reading; see server/intake.py).
        who = masked(Opcode.TEXT, b'{"type":"send","id":"s","to":"Nobody","text":"?"}')
        answer = len(b'{"type":"error","code":"unknown_recipient","message":"nobody called Nobody has ever logged'
                     b' in here","id":"s"}\n') + 4  # + the WebSocket header
        left, answered = None, 0
        deadline = time.monotonic() + 20
        while left is None and time.monotonic() < deadline and answered < 1024 * 1024:
            try:
                sleepy.sendall(who * 50)
            except OSError:
                break  # the server has closed it
            answered += 50 * answer
            try:
                left = alice.expect(UserLeft, timeout=0.05, where=lambda e: e.name == "Sleepy")
            except TimeoutError:
                pass
        if left is None:
            left = alice.expect(UserLeft, timeout=5.0, where=lambda e: e.name == "Sleepy")
        # Dropped long before 1 MiB of answers: the configured limit, not const's.
        assert left is not None and left.reason == "slow consumer", f"not dropped after {answered} bytes"
        assert answered < 512 * 1024, answered


def test_pipelined_requests_from_a_reader_that_does_not_read_wait_behind_the_full_buffer() -> None:
    # One write of 100 pipelined requests for the largest file (a script of the page, about
    # 85 KB): a few kilobytes in, 8 MB queued in the server for a peer that reads nothing, and up
    # to 100 connections from one address. The requests read in that write must wait
    # while the transport holds more than its mark, as the ones still in the socket do.
    from server.web import HTTP_MAX_REQUESTS, _sites
    largest = max(WEBCLIENT_ROOT.glob("*.js"), key=lambda path: path.stat().st_size)
    size = largest.stat().st_size
    config = ServerConfig(host="127.0.0.1", port=0, web_port=0)
    with ServerThread(config) as srv:
        port = srv.server.web_address[1]
        site = srv.call(lambda: _sites[srv.server._web])
        mark = const.MAX_OUTGOING_BYTES_BEFORE_LOGIN  # an HTTP connection never logs in

        def queued() -> int:
            return srv.call(lambda: sum(s.transport.get_write_buffer_size() for s in site.sessions))

        with socket.socket() as sleepy:
            sleepy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sleepy.connect(("127.0.0.1", port))
            one = f"GET /{largest.name} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
            sleepy.sendall(one * HTTP_MAX_REQUESTS)
            deadline, before = time.monotonic() + TIMEOUT, -1
            while time.monotonic() < deadline:  # until the server has queued all it will
                now = queued()
                if now == before and now:
                    break
                before = now
                time.sleep(0.1)
            assert 0 < queued() <= mark + size + 4096, f"{queued()} bytes queued for a peer that reads nothing"
            # Once it reads, every request is answered, in order, the last with a close.
            sleepy.settimeout(TIMEOUT)
            received, deadline = bytearray(), time.monotonic() + 4 * TIMEOUT
            while time.monotonic() < deadline:
                data = sleepy.recv(1 << 20)
                if not data:
                    break
                received += data
            assert received.count(b"HTTP/1.1 200 OK\r\n") == HTTP_MAX_REQUESTS
            assert len(received) > HTTP_MAX_REQUESTS * size


def test_pipelined_requests_whose_last_closes_as_the_peer_catches_up_end_the_connection_once(caplog) -> None:
    # The last of 100 pipelined requests asks to close. It is answered as the peer, having
    # read nothing, reads it all at once: from asyncio's write handler (resume_writing),
    # with the buffer just emptied, so the small answer goes out whole and the close found
    # nothing queued. asyncio then lost the connection twice and logged an AttributeError,
    # every time (tests/integration/test_transport_endings.py says why).
    from server.web import HTTP_MAX_REQUESTS, _sites
    config = ServerConfig(host="127.0.0.1", port=0, web_port=0, max_outgoing_bytes=64 * 1024)
    with ServerThread(config) as srv:
        port = srv.server.web_address[1]
        site = srv.call(lambda: _sites[srv.server._web])
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as peer:
                large = f"GET /protocol.js HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
                last = f"GET /favicon.svg HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
                peer.sendall(large * (HTTP_MAX_REQUESTS - 1) + last)
                wait_until(lambda: srv.call(lambda: any(s.write_paused for s in site.sessions)),
                           what="the server waiting for the peer to read")
                received = bytearray()
                while data := peer.recv(1 << 20):
                    received += data
                assert received.count(b"HTTP/1.1 200 OK\r\n") == HTTP_MAX_REQUESTS
            wait_until(lambda: srv.call(lambda: not site.sessions), what="the connection gone")
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio" and r.levelno >= logging.ERROR] == []


def test_a_browser_that_pings_and_never_reads_is_dropped_at_the_outgoing_limit() -> None:
    # The WebSocket core answers pings with pongs of the same payload, written as they
    # came: past the chat frames' count (server/session.py's hard mark), so a peer that
    # sent pings and read nothing had the server keep every pong, without bound. (The
    # server answers the pings of one read with one pong, the latest's: RFC 6455 5.5.3.
    # So each ping here waits for the server to have read the one before.)
    limit = 32 * 1024
    config = ServerConfig(host="127.0.0.1", port=0, web_port=0, max_outgoing_bytes=limit)
    with sleepy_browser(config) as (srv, alice, sleepy):

        def dropped() -> bool:  # (it then waits CLOSE_TIMEOUT for the peer's close frame)
            return srv.call(lambda: all(s.closing for s in srv.server.relay.sessions if s.name == "Sleepy"))

        [session] = srv.call(lambda: [s for s in srv.server.relay.sessions if s.name == "Sleepy"])

        def read_budget() -> int:  # (changes at every read of the connection: session.py)
            return srv.call(lambda: session.read_budget)

        ping = masked(Opcode.PING, b"p" * 125)  # 131 bytes: 127 bytes of pong
        sent, deadline = 0, time.monotonic() + 20
        while not dropped() and time.monotonic() < deadline and sent < 4 * 1024 * 1024:
            before = read_budget()
            try:
                sleepy.sendall(ping)
            except OSError:
                break  # the server has closed it
            sent += len(ping)
            wait_until(lambda: dropped() or read_budget() != before, what="the ping read")
        assert dropped() and sent < 1024 * 1024, f"not dropped after {sent} bytes of pings"
        left = alice.expect(UserLeft, timeout=5.0, where=lambda e: e.name == "Sleepy")
        assert left.reason == "slow consumer", left
