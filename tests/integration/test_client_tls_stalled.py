"""Over TLS, a server that stops reading, or reads slowly, what the client library sends:
the same bounds and the same errors as over plain TCP (tests/integration/
test_client_stalled_server.py; client/writer.py).

The real server with a certificate made by openssl (test_tls.make_certificate), in a
thread; Alice through a raw tests/support/faultproxy.py (TLS bytes are opaque to it),
whose ``stall_peer`` stops reading her link with a small receive buffer. And two TLS
servers no real one is: one that never answers the handshake (close() must not wait for
its timeout), one served by hand that writes a record that does not authenticate (the
client answers with OpenSSL's alert before it lets go).
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from pathlib import Path

import pytest

from client import ChatClient, RequestTimeout
from client.events import Reconnecting
from client.library import CLOSE_TIMEOUT
from client.resume import ResumeTokens
from faultproxy import FaultProxy
from protocol import Connection, DirectMessage, Hello, Role, Welcome
from recorder import Recorder
from server import ServerConfig, ServerThread
from test_tls import make_certificate

WAIT = 20.0
MESSAGES = 20
# The server takes them all at once when it reads again (its text budget is not the point).
BUDGET = {"bytes_burst_per_connection": 1024 * 1024}
# What a send call may take: it only hands frames to the writer.
PROMPT = 0.5


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


def texts(count: int = MESSAGES) -> list[str]:
    # About 8 KB each, numbered so that the order can be seen.
    return [f"{n:03d} " + "ç" * 3990 for n in range(count)]


def slowest_send(alice: ChatClient, to: str, lines: list[str]) -> tuple[float, list]:
    sent, slowest = [], 0.0
    for text in lines:
        started = time.monotonic()
        sent.append(alice.send_direct(to, text))
        slowest = max(slowest, time.monotonic() - started)
    return slowest, sent


def tls_client(name: str, port: int, certificate: tuple[Path, Path], events: Recorder, **options) -> ChatClient:
    return ChatClient(name, "127.0.0.1", port, on_event=events, cafile=str(certificate[0]),
                      resume_tokens=ResumeTokens(None), **options)


def small_send_buffer(alice: ChatClient) -> int:
    """White box: the session's socket gets a small send buffer (so the window is full
    after a few messages, not megabytes); returns its local port, the proxy's peer."""
    assert alice._sock is not None
    alice._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    return alice._sock.getsockname()[1]


@pytest.mark.timeout_seconds(90)
def test_over_tls_send_returns_at_once_while_the_server_reads_nothing_and_all_arrives_once_in_order(
        certificate) -> None:
    cert, key = certificate
    config = ServerConfig(host="127.0.0.1", port=0, tls_cert=cert, tls_key=key, **BUDGET)
    with ServerThread(config) as srv, FaultProxy(srv.host, srv.port, raw=True) as proxy:
        at_alice, at_bob = Recorder(), Recorder()
        alice = tls_client("Alice", proxy.port, certificate, at_alice)
        bob = tls_client("Bob", srv.port, certificate, at_bob)
        try:
            alice.connect(timeout=WAIT)
            bob.connect(timeout=WAIT)
            port = small_send_buffer(alice)
            assert proxy.stall_peer(port) == 1
            lines = texts()
            slowest, sent = slowest_send(alice, "Bob", lines)
            assert slowest < PROMPT, f"a send call took {slowest:.1f} s while the server read nothing"
            assert all(m.state == "sending" for m in sent), sent
            with alice._lock:  # white box: the window was full indeed, the writer owes most of it
                owed = alice._writer.owed
            assert owed > MESSAGES * 8000 // 2, f"{owed} bytes owed: the test did not fill the window"
            assert proxy.unstall_peer(port) == 1
            assert at_bob.holds(lambda: len(at_bob.of(DirectMessage)) >= MESSAGES, WAIT), \
                f"Bob got {len(at_bob.of(DirectMessage))} of {MESSAGES}"
            assert [m.text for m in at_bob.of(DirectMessage)] == lines
            assert at_alice.holds(lambda: all(m.state == "delivered" for m in sent), WAIT), \
                [m.state for m in sent]
            assert not proxy.cuts and alice.reconnects == 0
        finally:
            alice.close()
            bob.close()


@pytest.mark.timeout_seconds(90)
def test_over_tls_a_server_that_stays_stalled_is_given_up_as_over_tcp_and_all_goes_again_once(certificate) -> None:
    cert, key = certificate
    config = ServerConfig(host="127.0.0.1", port=0, tls_cert=cert, tls_key=key, heartbeat_interval=1.0,
                          heartbeat_timeout=3.0, **BUDGET)
    with ServerThread(config) as srv, FaultProxy(srv.host, srv.port, raw=True) as proxy:
        at_alice, at_bob = Recorder(), Recorder()
        alice = tls_client("Alice", proxy.port, certificate, at_alice, heartbeat_interval=1.0,
                           reconnect_delay=0.05, reconnect_max_delay=0.2)
        bob = tls_client("Bob", srv.port, certificate, at_bob)
        try:
            alice.connect(timeout=WAIT)
            bob.connect(timeout=WAIT)
            assert proxy.stall_peer(small_send_buffer(alice)) == 1
            lines = texts()
            slowest, sent = slowest_send(alice, "Bob", lines)
            assert slowest < PROMPT, f"a send call took {slowest:.1f} s while the server read nothing"
            assert at_alice.holds(lambda: alice.reconnects == 1, WAIT), at_alice.events
            reasons = [e.reason for e in at_alice.of(Reconnecting)]
            assert reasons and "the server read nothing for 1 s" in reasons[0], reasons  # the words of plain TCP
            assert at_bob.holds(lambda: len(at_bob.of(DirectMessage)) >= MESSAGES, WAIT), \
                f"Bob got {len(at_bob.of(DirectMessage))} of {MESSAGES}"
            assert [m.text for m in at_bob.of(DirectMessage)] == lines
            assert at_alice.holds(lambda: all(m.state == "delivered" for m in sent), WAIT), \
                [m.state for m in sent]
        finally:
            alice.close()
            bob.close()


@pytest.mark.timeout_seconds(90)
def test_over_tls_past_the_unsent_bound_the_connection_is_given_up_as_over_tcp(certificate) -> None:
    cert, key = certificate
    config = ServerConfig(host="127.0.0.1", port=0, tls_cert=cert, tls_key=key, **BUDGET)
    with ServerThread(config) as srv, FaultProxy(srv.host, srv.port, raw=True) as proxy:
        at_alice, at_bob = Recorder(), Recorder()
        alice = tls_client("Alice", proxy.port, certificate, at_alice, reconnect_delay=0.05,
                           reconnect_max_delay=0.2)
        bob = tls_client("Bob", srv.port, certificate, at_bob)
        try:
            alice.connect(timeout=WAIT)
            bob.connect(timeout=WAIT)
            assert proxy.stall_peer(small_send_buffer(alice)) == 1
            with alice._lock:
                alice._writer._limit = 64 * 1024  # white box: MAX_UNSENT, 4 MiB, made small
            lines = texts()
            slowest, sent = slowest_send(alice, "Bob", lines)
            assert slowest < PROMPT, f"a send call took {slowest:.1f} s while the server read nothing"
            assert at_alice.holds(lambda: alice.reconnects == 1, WAIT), at_alice.events
            reasons = [e.reason for e in at_alice.of(Reconnecting)]
            assert reasons and "has not read the last" in reasons[0], reasons
            assert at_bob.holds(lambda: len(at_bob.of(DirectMessage)) >= MESSAGES, WAIT), \
                f"Bob got {len(at_bob.of(DirectMessage))} of {MESSAGES}"
            assert [m.text for m in at_bob.of(DirectMessage)] == lines
        finally:
            alice.close()
            bob.close()


@pytest.mark.timeout_seconds(90)
@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_a_server_that_reads_slowly_but_steadily_is_not_given_up(certificate, tls: bool) -> None:
    # The server stops reading Alice for a moment, while she sends a burst, then reads her at
    # its budget (64 KiB/s here): what her writer owes takes it seconds, each write making
    # progress well within her socket's timeout (1 s). Over TLS one write of all that was owed
    # had to be over within one timeout, in all ("the server read nothing for 1 s": untrue),
    # and the new connection's resends met the same fate.
    cert, key = certificate
    config = ServerConfig(host="127.0.0.1", port=0, read_bytes_per_connection=64 * 1024,
                          read_bytes_burst_per_connection=16 * 1024, heartbeat_interval=1.0, heartbeat_timeout=5.0,
                          **BUDGET, **({"tls_cert": cert, "tls_key": key} if tls else {}))
    with ServerThread(config) as srv, FaultProxy(srv.host, srv.port, raw=True) as proxy:
        at_alice, at_bob = Recorder(), Recorder()
        options = {"cafile": str(certificate[0])} if tls else {}
        alice = ChatClient("Alice", "127.0.0.1", proxy.port, on_event=at_alice, heartbeat_interval=1.0,
                           reconnect_delay=0.05, resume_tokens=ResumeTokens(None), **options)
        bob = ChatClient("Bob", "127.0.0.1", srv.port, on_event=at_bob, resume_tokens=ResumeTokens(None), **options)
        try:
            alice.connect(timeout=WAIT)
            bob.connect(timeout=WAIT)
            port = small_send_buffer(alice)
            assert proxy.stall_peer(port) == 1
            lines = texts(30)
            slowest, sent = slowest_send(alice, "Bob", lines)
            assert slowest < PROMPT, f"a send call took {slowest:.1f} s"
            with alice._lock:
                owed = alice._writer.owed
            assert owed > 150_000, f"{owed} bytes owed: the test did not make a burst"
            assert proxy.unstall_peer(port) == 1
            assert at_bob.holds(lambda: len(at_bob.of(DirectMessage)) >= len(lines), WAIT), \
                f"Bob got {len(at_bob.of(DirectMessage))} of {len(lines)}"
            assert [m.text for m in at_bob.of(DirectMessage)] == lines
            assert alice.reconnects == 0, [e.reason for e in at_alice.of(Reconnecting)]
        finally:
            alice.close()
            bob.close()


@pytest.mark.timeout_seconds(60)
def test_over_tls_a_request_and_close_while_the_server_reads_nothing_end_within_their_bounds(certificate) -> None:
    cert, key = certificate
    config = ServerConfig(host="127.0.0.1", port=0, tls_cert=cert, tls_key=key, **BUDGET)
    with ServerThread(config) as srv, FaultProxy(srv.host, srv.port, raw=True) as proxy:
        at_alice = Recorder()
        alice = tls_client("Alice", proxy.port, certificate, at_alice)
        try:
            alice.connect(timeout=WAIT)
            assert proxy.stall_peer(small_send_buffer(alice)) == 1
            slowest, sent = slowest_send(alice, "Bob", texts())
            assert slowest < PROMPT, f"a send call took {slowest:.1f} s while the server read nothing"
            started = time.monotonic()
            with pytest.raises(RequestTimeout):
                alice.who(timeout=0.5)
            assert time.monotonic() - started < 0.5 + PROMPT
            started = time.monotonic()
            alice.close()
            spent = time.monotonic() - started
            assert spent < 2 * CLOSE_TIMEOUT + 1.0, f"close() took {spent:.1f} s"
            assert alice.closed.is_set()
            assert all(m.state == "failed" and m.error[0] == "connection_lost" for m in sent), sent
        finally:
            alice.close()


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts and never says a word: a TLS client's
    handshake waits there. :meth:`client_hello` accepts the next connection and returns
    what its client wrote first, once it wrote it (the handshake has begun)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []

    def client_hello(self, timeout: float = WAIT) -> bytes:
        self.listener.settimeout(timeout)
        sock, _ = self.listener.accept()
        self.accepted.append(sock)
        sock.settimeout(timeout)
        return sock.recv(65536)

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for sock in self.accepted:
            sock.close()
        self.listener.close()


HANDSHAKE_PATIENCE = 30.0  # the handshake's own bound: far longer than close() may take


@pytest.mark.timeout_seconds(60)
def test_close_ends_a_first_tls_handshake_that_the_server_never_answers_at_once(certificate) -> None:
    with SilentServer() as silent:
        alice = tls_client("Alice", silent.port, certificate, Recorder())
        failed: list[BaseException] = []

        def connect() -> None:
            try:
                alice.connect(timeout=HANDSHAKE_PATIENCE)
            except Exception as exc:  # noqa: BLE001 (the test asserts which)
                failed.append(exc)
        connecting = threading.Thread(target=connect, daemon=True)
        connecting.start()
        try:
            assert silent.client_hello()[:1] == b"\x16"  # a TLS handshake record: it waits for the answer
            started = time.monotonic()
            alice.close()
            connecting.join(PROMPT + 1.0)
            spent = time.monotonic() - started
            assert not connecting.is_alive(), "connect() still in the handshake after close()"
            assert spent < PROMPT + 1.0, f"connect() ended {spent:.1f} s after close()"
            assert len(failed) == 1 and "clos" in str(failed[0]), failed  # said as a close, not a TLS failure
            assert not alice.connected
        finally:
            alice.close()
            connecting.join(HANDSHAKE_PATIENCE)


@pytest.mark.timeout_seconds(60)
def test_close_ends_a_reconnection_whose_tls_handshake_the_server_never_answers_at_once(certificate) -> None:
    cert, key = certificate
    config = ServerConfig(host="127.0.0.1", port=0, tls_cert=cert, tls_key=key)
    with ServerThread(config) as srv, FaultProxy(srv.host, srv.port, raw=True) as proxy, SilentServer() as silent:
        at_alice = Recorder()
        alice = tls_client("Alice", proxy.port, certificate, at_alice, reconnect_delay=0.05,
                           connect_timeout=HANDSHAKE_PATIENCE)
        try:
            alice.connect(timeout=WAIT)
            port = alice._sock.getsockname()[1]  # white box: the proxy knows a raw link by its peer
            alice.servers[:] = [("127.0.0.1", silent.port)]  # white box: where it reconnects to
            assert proxy.cut_peer(port) == 1
            assert silent.client_hello()[:1] == b"\x16"  # the reconnection's handshake waits there
            started = time.monotonic()
            alice.close()
            spent = time.monotonic() - started
            assert spent < PROMPT + 1.0, f"close() took {spent:.1f} s during a TLS handshake"
            assert alice.closed.is_set()
            assert alice.reconnects == 0
        finally:
            alice.close()


class HandTLSServer:
    """One TLS connection served by hand (the server's SSLObject over memory, on an accepted
    socket), so that the test can write what no real server would: a record that does not
    authenticate. It welcomes the first hello, then :meth:`send_bad_record`."""

    def __init__(self, certificate: tuple[Path, Path]) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*certificate)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.conn = Connection(Role.SERVER)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sock: socket.socket | None = None

    def _feed(self, read: bool = True) -> bytes:
        """Read once from the client (unless not ``read``: what came with the handshake's
        last bytes); the plaintext it completes (raises ssl.SSLError for an alert)."""
        assert self.sock is not None
        if read:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError
            self.incoming.write(data)
        plain = bytearray()
        while True:
            try:
                piece = self.tls.read(65536)
            except ssl.SSLWantReadError:
                return bytes(plain)
            if not piece:
                return bytes(plain)
            plain += piece

    def welcome(self) -> None:
        self.listener.settimeout(WAIT)
        self.sock, _ = self.listener.accept()
        self.sock.settimeout(WAIT)
        while True:
            self.incoming.write(self.sock.recv(65536))
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                pass
            finally:
                self.sock.sendall(self.outgoing.read())
        self.sock.sendall(self.outgoing.read())
        read = False  # the hello may have come with the handshake's last bytes
        while True:
            plain = self._feed(read)
            read = True
            if plain:  # (b"" would say the end of the stream)
                self.conn.receive_data(plain)
            hello = next((event for event in self.conn.events() if isinstance(event, Hello)), None)
            if hello is not None:
                break
        self.tls.write(self.conn.send(Welcome(hello.request_id, hello.name, 1, "by hand", 15.0)))
        self.sock.sendall(self.outgoing.read())

    def send_bad_record(self) -> None:
        assert self.sock is not None
        self.tls.write(b'{"type":"ping"}\n')
        record = bytearray(self.outgoing.read())
        record[-1] ^= 1
        self.sock.sendall(bytes(record))

    def what_came_after(self) -> BaseException:
        """Read what the client writes until its end: the error it brought."""
        while True:
            try:
                self._feed()
            except (ssl.SSLError, EOFError, OSError) as exc:
                return exc

    def __enter__(self) -> HandTLSServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.sock is not None:
            self.sock.close()
        self.listener.close()


@pytest.mark.timeout_seconds(60)
def test_a_record_that_does_not_authenticate_is_answered_with_the_alert_before_the_client_lets_go(
        certificate) -> None:
    with HandTLSServer(certificate) as server:
        at_alice = Recorder()
        alice = tls_client("Alice", server.port, certificate, at_alice, reconnect=False)
        try:
            welcoming = threading.Thread(target=server.welcome, daemon=True)
            welcoming.start()
            alice.connect(timeout=WAIT)
            welcoming.join(WAIT)
            server.send_bad_record()
            came = server.what_came_after()
            assert isinstance(came, ssl.SSLError) and "alert" in str(came).lower(), repr(came)  # not a bare end
            assert alice.closed.wait(WAIT)
        finally:
            alice.close()
