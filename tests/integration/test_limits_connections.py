"""Every connection counts from accept: before a login, a TLS handshake or a WebSocket
upgrade (server/admission.py, server/listener.py); and every disconnect says why."""

from __future__ import annotations

import json
import logging
import queue
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest

import const
from cdp import WebSocketClient, WebSocketClosed
from protocol import ErrorCode, ErrorReply
from server import ServerThread
from server.session import CLOSE_GRACE
from server.web import CLOSE_TIMEOUT
from servers import ROOT, server_config
from test_tls import make_certificate
from waits import wait_until
from wire import WireClient

LIMIT = 5.0  # seconds any answer here may take at most


def raw(port: int, data: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=LIMIT)
    if data:
        sock.sendall(data)
    return sock


def read_to_end(sock: socket.socket, timeout: float = LIMIT) -> bytes:
    """Everything ``sock`` receives until the server closes it; AssertionError if it is
    still open after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    got = b""
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except (TimeoutError, socket.timeout):
            raise AssertionError(f"still open after {timeout} s; got {got[:200]!r}") from None
        except ConnectionResetError:
            return got
        if not data:
            return got
        got += data


def web_port(server: ServerThread) -> int:
    return server.server.web_address[1]


def admitted(server: ServerThread) -> int:
    return server.call(lambda: server.server.relay.admission.total)


def waiting(server: ServerThread, address: str = "127.0.0.1") -> int:
    """The connections of ``address`` the server holds that have not logged in."""
    return server.call(lambda: server.server.relay.admission.waiting_count(address))


# --- Counted from accept --------------------------------------------------------------


def test_page_connections_count_against_the_per_address_limit_and_the_next_gets_429():
    # Before: 150 connections each sending "GET / HTTP/1.1\r\n" were all held; the limit
    # was applied at the WebSocket upgrade only. Since a school shares one address, a
    # connection that has not logged in gives way to a newcomer (server/admission.py): the
    # oldest page connection is the one answered 429 then.
    with ServerThread(server_config(web_port=0, max_connections_per_address=3)) as server:
        port = web_port(server)
        holding = [raw(port, b"GET / HTTP/1.1\r\n") for _ in range(3)]
        try:
            wait_until(lambda: waiting(server) == 3, what="three places taken")
            newcomer = raw(port)
            answer = read_to_end(holding[0])
            assert answer.startswith(b"HTTP/1.1 429 Too Many Requests\r\n"), answer
            assert b"\r\nRetry-After: " in answer and b"Connection: close" in answer
            # One count for the address, whatever the port: a chat login takes the next one's place.
            with WireClient.login(server.host, server.port, "Ana"):
                assert read_to_end(holding[1]).startswith(b"HTTP/1.1 429 Too Many Requests\r\n")
                with WireClient.login(server.host, server.port, "Bia"), \
                        WireClient.login(server.host, server.port, "Caio"):
                    newcomer.close()  # (it gave way to Caio, or it goes now)
                    holding[2].close()
                    wait_until(lambda: admitted(server) == 3, what="the logged-in three alone")
                    # Held by users logged in: the next is refused, on either port.
                    answer = read_to_end(raw(port))
                    assert answer.startswith(b"HTTP/1.1 429 Too Many Requests\r\n"), answer
                    assert b"\r\nRetry-After: " in answer and b"Connection: close" in answer
                    with WireClient(server.host, server.port) as chat:
                        assert [e.code for e in chat.wait_closed(LIMIT) if isinstance(e, ErrorReply)] == [
                            ErrorCode.TOO_MANY_CONNECTIONS]
        finally:
            for sock in holding:
                sock.close()
        wait_until(lambda: admitted(server) == 0, what="the places given back")
        answer = read_to_end(raw(port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"))
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer[:100]


def test_a_full_server_answers_a_page_request_with_503_and_retry_after():
    with ServerThread(server_config(web_port=0, max_connections=2)) as server:
        with WireClient(server.host, server.port), WireClient(server.host, server.port):
            wait_until(lambda: admitted(server) == 2, what="two places taken")
            answer = read_to_end(raw(web_port(server)))
            assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), answer
            assert b"\r\nRetry-After: 10\r\n" in answer


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("tls"))


def test_tls_connections_count_before_their_handshake(certificate):
    # Before: connections that never sent a ClientHello were neither counted nor seen for
    # 45-60 s; 320 of them made another client's login time out.
    cert, key = certificate
    config = server_config(tls_cert=cert, tls_key=key, max_connections_per_address=2, login_timeout=60)
    with ServerThread(config) as server:
        silent = [raw(server.port) for _ in range(2)]
        try:
            wait_until(lambda: waiting(server) == 2, what="the silent ones counted")
            # Counted: a newcomer takes the place of the oldest (which has not logged in:
            # server/admission.py), closed at once, without a word (nothing can be said
            # before a handshake).
            started = time.monotonic()
            newcomer = raw(server.port)
            assert read_to_end(silent[0]) == b""
            assert time.monotonic() - started < LIMIT
            silent.append(newcomer)
        finally:
            for sock in silent:
                sock.close()
        wait_until(lambda: admitted(server) == 0, what="the places given back")
        trusting = ssl.create_default_context(cafile=str(cert))
        with WireClient.login(server.host, server.port, "Alice", tls=trusting):
            assert admitted(server) == 1


def test_a_tls_handshake_has_the_login_timeout(certificate):
    cert, key = certificate
    with ServerThread(server_config(tls_cert=cert, tls_key=key, login_timeout=0.5)) as server:
        started = time.monotonic()
        assert read_to_end(raw(server.port), timeout=LIMIT) == b""
        assert time.monotonic() - started < LIMIT
        wait_until(lambda: admitted(server) == 0, what="the place given back")


def test_keep_alive_ends_after_a_bounded_number_of_requests(monkeypatch):
    import server.web

    monkeypatch.setattr(server.web, "HTTP_MAX_REQUESTS", 3)
    with ServerThread(server_config(web_port=0)) as srv:
        sock = raw(web_port(srv))
        sock.sendall(b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 3)
        answers = read_to_end(sock).split(b"HTTP/1.1 ")[1:]
        assert [b"Connection: keep-alive" in a for a in answers] == [True, True, False]
        assert b"Connection: close" in answers[2]


def test_keep_alive_ends_at_a_bounded_lifetime_even_while_idle(monkeypatch, caplog):
    # A connection that never upgrades holds a place for HTTP_MAX_LIFETIME at most, which is
    # of the login timeout's order (a page load is a handful of requests in a second), and
    # an idle keep-alive connection is closed when its lifetime ends, not an idle timeout later.
    import server.web

    assert server.web.HTTP_MAX_LIFETIME <= 3 * const.LOGIN_TIMEOUT
    monkeypatch.setattr(server.web, "HTTP_MAX_LIFETIME", 1.0)
    caplog.set_level(logging.INFO, logger="chat.server")
    with ServerThread(server_config(web_port=0)) as srv:
        started = time.monotonic()
        with raw(web_port(srv), b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") as sock:
            port = sock.getsockname()[1]
            answer = read_to_end(sock, timeout=server.web.HTTP_IDLE_TIMEOUT / 2)
        assert b"Connection: keep-alive" in answer
        assert time.monotonic() - started < server.web.HTTP_IDLE_TIMEOUT / 2
        wait_until(lambda: admitted(srv) == 0, what="the place given back")
    said = [r.getMessage() for r in caplog.records if f":{port}" in r.getMessage()]
    assert said == [f"web 127.0.0.1:{port}: no upgrade within 1 s (HTTP_MAX_LIFETIME)"]



def test_an_upgrade_late_in_the_keep_alive_lifetime_gets_the_whole_login_timeout_from_the_upgrade(monkeypatch):
    import server.web

    monkeypatch.setattr(server.web, "HTTP_MAX_LIFETIME", 1.0)
    login_timeout = 1.0
    with ServerThread(server_config(web_port=0, login_timeout=login_timeout)) as srv:
        port = web_port(srv)
        with raw(port, b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") as sock:
            started = time.monotonic()
            assert b"Connection: keep-alive" in sock.recv(65536)
            wait_until(lambda: time.monotonic() - started > 0.7, what="most of the lifetime gone")
            sock.sendall(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         f"Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{port}\r\n\r\n".encode())
            upgraded, got = time.monotonic(), b""
            while b"login_timeout" not in got:  # past the lifetime's end: the login timeout's turn
                sock.settimeout(LIMIT)
                data = sock.recv(65536)
                assert data, got
                got += data
            assert b"101 Switching Protocols" in got
            assert login_timeout <= time.monotonic() - upgraded < LIMIT

# --- Every disconnect says why ----------------------------------------------------------


def test_the_login_timeout_is_said_with_an_error_and_logged_once(caplog):
    with ServerThread(server_config(login_timeout=0.3)) as server:
        with caplog.at_level(logging.INFO, logger="chat.server"), WireClient(server.host, server.port) as lurker:
            events = lurker.wait_closed(LIMIT)
            port = lurker.sock.getsockname()[1]
            assert [(e.code, e.request_id) for e in events if isinstance(e, ErrorReply)] == [
                (ErrorCode.LOGIN_TIMEOUT, None)]
            wait_until(lambda: admitted(server) == 0, what="the disconnect")
    said = [r.getMessage() for r in caplog.records if f":{port}" in r.getMessage()]
    assert said == [f"disconnect 127.0.0.1:{port} before logging in (login timeout)"]


def test_a_websocket_login_timeout_gets_the_error_then_close_1008():
    with ServerThread(server_config(web_port=0, login_timeout=0.3)) as server:
        port = web_port(server)
        ws = WebSocketClient(f"ws://127.0.0.1:{port}/ws", origin=f"http://127.0.0.1:{port}", timeout=LIMIT)
        try:
            assert json.loads(ws.recv_text(LIMIT))["code"] == "login_timeout"
            with pytest.raises(WebSocketClosed) as closed:
                ws.recv(LIMIT)
            assert closed.value.code == 1008
        finally:
            ws.close()


def test_a_silent_client_is_told_heartbeat_timeout():
    config = server_config(heartbeat_interval=0.1, heartbeat_timeout=0.4)
    with ServerThread(config) as server, WireClient.login(server.host, server.port, "Quiet") as quiet:
        # Read, but answer nothing, not even the pings.
        frames = [json.loads(line) for line in read_to_end(quiet.sock).splitlines() if line.strip()]
        assert [(f["type"], f["code"]) for f in frames if f["type"] == "error"] == [("error", "heartbeat_timeout")]


def test_a_client_dropped_for_its_silence_is_logged_once(caplog):
    caplog.set_level(logging.INFO, logger="chat.server")
    config = server_config(heartbeat_interval=0.1, heartbeat_timeout=0.4)
    with ServerThread(config) as server:
        with WireClient.login(server.host, server.port, "Quiet") as quiet:
            read_to_end(quiet.sock)  # read, answer nothing
        wait_until(lambda: server.call(lambda: not server.server.relay.sessions), what="the session gone")
        lines = [r.getMessage() for r in caplog.records
                 if r.name == "chat.server" and "Quiet" in r.getMessage() and not r.getMessage().startswith("login ")]
    assert len(lines) == 1 and "timeout" in lines[0], lines


def test_a_slow_consumer_gets_its_reason_after_the_queue_and_the_connection_is_cut_in_time():
    """One small frame past the limit, then closed: cut CLOSE_GRACE seconds on if unread."""
    import asyncio

    from server.config import ServerConfig
    from server.logsummary import LogSummary
    from server.session import ClientSession

    limit = 64 * 1024

    class Transport:
        def __init__(self) -> None:
            self.data, self.closed, self.aborted_at = [], False, None

        def write(self, data: bytes) -> None:
            self.data.append(data)

        def get_write_buffer_size(self) -> int:
            return sum(map(len, self.data))

        def is_closing(self) -> bool:
            return self.closed or self.aborted_at is not None

        def close(self) -> None:
            self.closed = True

        def abort(self) -> None:
            self.aborted_at = time.monotonic()

        def get_protocol(self):
            return self.protocol  # as asyncio's: None once the connection is lost

    class Relay:
        config = ServerConfig(max_outgoing_bytes=limit)
        log_lines = LogSummary(logging.getLogger("chat.server"))  # the slow consumer's line

    class Batcher:
        def add(self, session) -> None:
            pass

    async def run() -> tuple[Transport, float]:
        session = ClientSession(Relay(), Batcher())  # type: ignore[arg-type]
        session.transport = transport = Transport()  # type: ignore[assignment]
        transport.protocol = session
        frame = b'{"type":"users","id":"w","users":[]}\n' * 10
        while not session.closing:  # a client that reads nothing
            session._write(frame)
            session.flush()
        started = time.monotonic()
        while transport.aborted_at is None and time.monotonic() - started < CLOSE_GRACE + LIMIT:
            await asyncio.sleep(0.05)
        return transport, started

    transport, started = asyncio.run(run())
    last = json.loads(transport.data[-1])
    assert (last["type"], last["code"]) == ("error", "slow_consumer")
    assert transport.closed and transport.get_write_buffer_size() <= limit + 200
    assert transport.aborted_at is not None and transport.aborted_at - started < CLOSE_GRACE + 1


def test_a_websocket_slow_consumer_gets_the_error_then_close_1008_or_is_cut():
    # A hard mark of 16 KiB, not 64: the replies that pass it come from about 500 requests
    # (28 KB), which the client sends within the one window the server opened at the start.
    # A client that reads nothing while it sends depends on nothing from the server after
    # that: once its own receive buffer is full, Linux (6.18 here) drops the server's
    # segments that carry the acks for its requests (TCPRcvQDrop), and the requests past
    # that window wait out a retransmission backoff (6.5 s by the fifth). With 64 KiB the
    # flood needed about 900 requests, past the window, and in one run of ten under load
    # the server read only 600 in 10 s (CI, once): a client's own stall, not the server's.
    config = server_config(web_port=0, fast=True, max_outgoing_bytes=16 * 1024, socket_send_buffer=8192)
    with ServerThread(config) as server:
        port = web_port(server)

        def flood() -> WebSocketClient:
            """A browser that asks and asks, and reads none of the answers (messages to
            nobody, each refused unknown_recipient at once: a whois or a who page would
            wait for the queue to drain, and the server stop reading it)."""
            ws = WebSocketClient(f"ws://127.0.0.1:{port}/ws", origin=f"http://127.0.0.1:{port}", timeout=LIMIT)
            ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            ws.send_json({"type": "hello", "id": "h", "name": "Slow", "version": 1})
            ws.sock.settimeout(0.5)
            try:
                for i in range(1500):
                    ws.send_json({"type": "send", "id": f"s{i}", "to": "Nobody", "text": "?"})
            except OSError:
                pass  # the server stopped reading: it has found the slow consumer
            ws.sock.settimeout(LIMIT)
            return ws

        def read_all(ws: WebSocketClient) -> tuple[list[dict], int | None]:
            frames = []
            try:
                while True:
                    frames.append(json.loads(ws.recv_text(LIMIT)))
            except WebSocketClosed as closed:
                return frames, closed.code
            except (EOFError, ConnectionError):
                return frames, None

        ws = flood()
        wait_until(lambda: server.call(lambda: not any(s.name == "Slow" and not s.closing
                                                       for s in server.server.relay.sessions)),
                   what="the slow consumer found")
        frames, code = read_all(ws)  # read now: the rest, the reason, the close frame
        ws.close()
        assert (frames[-1].get("type"), frames[-1].get("code"), code) == ("error", "slow_consumer", 1008), frames[-1]
        wait_until(lambda: admitted(server) == 0, what="the place given back")
        ws = flood()
        wait_until(lambda: admitted(server) == 0, timeout=CLOSE_GRACE + CLOSE_TIMEOUT + LIMIT,
                   what="a slow consumer that never reads is cut")
        ws.close()


# --- The log stays small ---------------------------------------------------------------


def test_refusals_and_early_disconnects_are_summarised_per_address(caplog):
    with ServerThread(server_config(max_connections_per_address=1)) as server, \
            caplog.at_level(logging.INFO, logger="chat.server"):
        # Logged in: a connection that is not would give way to each newcomer (admission.py).
        with WireClient.login(server.host, server.port, "Ana"):
            for _ in range(30):
                read_to_end(raw(server.port))  # refused: too_many_connections
        for _ in range(30):
            wait_until(lambda: admitted(server) == 0, what="the disconnect")
            raw(server.port).close()  # connect and go, before logging in
    said = [r.getMessage() for r in caplog.records]
    assert sum("refused 127.0.0.1" in line for line in said) == 1, said
    assert sum("before logging in" in line for line in said) == 1, said



# --- Out of descriptors -----------------------------------------------------------------

_SPINNER = """
import asyncio, resource, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
import server.app as app
app.connection_capacity = lambda wanted, limit: wanted  # no reserve: let accept() run out
from server import ServerConfig
from server.app import ChatServer

async def main():
    server = ChatServer(ServerConfig(host="127.0.0.1", port=0, max_connections=1000,
                                     max_connections_per_address=1000, login_timeout=60))
    await server.start()
    print("port", server.address[1], flush=True)
    while True:
        await asyncio.sleep(0.2)
        print("cpu", time.process_time(), flush=True)

asyncio.run(main())
"""


@pytest.mark.skipif(sys.platform == "win32", reason="no RLIMIT_NOFILE on Windows")
def test_out_of_descriptors_the_server_waits_instead_of_spinning():
    # Before: "retrying every second", but asyncio's accept loop retried at once, 2.6
    # million times a minute, and burnt a core (2 s of CPU in 5 s).
    proc = subprocess.Popen([sys.executable, "-c", _SPINNER], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    said: queue.Queue[str] = queue.Queue()
    errors: list[str] = []
    threading.Thread(target=lambda: [said.put(line) for line in proc.stdout], daemon=True).start()
    threading.Thread(target=lambda: [errors.append(line) for line in proc.stderr], daemon=True).start()

    def cpu() -> tuple[float, float]:
        """The server's next report: (when it came, its CPU seconds so far)."""
        while True:
            line = said.get(timeout=LIMIT)
            if line.startswith("cpu "):
                return time.monotonic(), float(line.split()[1])

    clients = []
    try:
        port = int(said.get(timeout=15).split()[1])
        for _ in range(100):  # more than the 64 descriptors: the rest wait in the backlog
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=LIMIT))
        wait_until(lambda: any("cannot accept connections" in line for line in errors), timeout=LIMIT,
                   what="accept() out of descriptors")
        while not said.empty():
            said.get_nowait()
        # Three seconds of reports, every 0.2 s from an idle loop: a spinning one used a
        # fifth of a core and more (growing), and its reports stalled for a second.
        reports = [cpu()]
        while reports[-1][0] - reports[0][0] < 3:
            reports.append(cpu())
        used = reports[-1][1] - reports[0][1]
        stall = max(b[0] - a[0] for a, b in zip(reports, reports[1:]))
        assert used < 0.15 and stall < 0.8, f"{used:.2f} s of CPU in 3 s, a stall of {stall:.2f} s"
        # Descriptors come back: the waiting clients are taken in.
        for sock in clients[:60]:
            sock.close()
        answered: set[socket.socket] = set()
        wait_until(lambda: _accepted_all(clients[60:], answered), timeout=LIMIT, what="the waiting ones accepted")
    finally:
        for sock in clients:
            sock.close()
        proc.kill()
        proc.wait(10)
    assert not any("Traceback" in line for line in errors), "".join(errors)


def _accepted_all(clients: list[socket.socket], answered: set[socket.socket]) -> bool:
    """Whether the server took each of ``clients`` in (``answered``: those known to be):
    a login timeout of 60 s keeps them open, so one it has not accepted yet is one whose
    ping gets no pong."""
    for sock in clients:
        if sock in answered:
            continue
        sock.sendall(b'{"type":"ping","token":"t"}\n')
        sock.settimeout(0.2)
        try:
            if not sock.recv(4096):
                return False
        except (TimeoutError, socket.timeout):
            return False
        answered.add(sock)
    return True
