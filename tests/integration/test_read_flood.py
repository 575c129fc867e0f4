"""The read budget (const.READ_BYTES_*, server/session.py) on real servers on 127.0.0.1.

A client writing frames that no rate counts (here pings, each answered by a pong) as fast
as the server reads them cost everyone else's messages hundreds of milliseconds. With the
budget, the server stops reading that connection once it has read its burst, and reads it
again at the budget's rate: TCP holds the flooder back, and nobody else. Every ping read is
answered, so the pongs the flooder gets count the bytes the server read from it (over TLS,
pongs, and the bytes counted as the session reads them); the same over a WebSocket. An
honest client's burst after a login, with the shipped budget, never stops reading.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time

import pytest

import const
from protocol import (
    Accepted, Delivered, DirectMessage, OutcomeAck, Pong, Receipt, SendDirect, UserJoined, Watch,
)
from server import ServerThread
from server.session import READ_BUFFER_BYTES, ClientSession
from servers import in_thread, server_config
from test_web_gateway import masked, start_gateway
from chatpeer import WebPeer
from waits import wait_until
from web.websocket.frames import Opcode
from test_tls import certificate, trusting  # noqa: F401  (fixtures)
from wire import WireClient

RATE, BURST, CHECK = 20_000.0, 50_000, 4_096  # bytes a second, burst, bytes between two counts
PING = b'{"type":"ping","token":"x"}\n'
# (A request rate of 10 a second, burst 60 as shipped: 30 would raise the budget to 30 KiB/s.)
BUDGET = dict(read_bytes_per_connection=RATE, read_bytes_burst_per_connection=BURST, read_check_bytes=CHECK,
              rate_per_connection=10.0)


class Flood:
    """Frames written as fast as ``sock`` takes them (``chunk``: many at once), and the
    pongs that come back counted (``marker`` in what is read; None: nothing is read, for
    a TLS socket, which two threads may not use at once), until :meth:`stop`."""

    def __init__(self, sock: socket.socket, chunk: bytes, marker: bytes | None) -> None:
        self.sock, self.chunk, self.marker = sock, chunk, marker
        self.sock.settimeout(0.1)
        self.pongs = 0
        self.written = 0
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self._write, daemon=True)]
        if marker is not None:
            self.threads.append(threading.Thread(target=self._read, daemon=True))
        for thread in self.threads:
            thread.start()

    def _write(self) -> None:
        view = memoryview(self.chunk)
        while not self.stopped.is_set():
            try:
                self.written += self.sock.send(view)
            except (TimeoutError, socket.timeout, BlockingIOError):
                continue  # the server stopped reading: TCP holds us back
            except OSError:
                return

    def _read(self) -> None:
        tail = b""
        while not self.stopped.is_set():
            try:
                data = self.sock.recv(1 << 20)
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            if not data:
                return
            data = tail + data
            self.pongs += data.count(self.marker)
            tail = data[-(len(self.marker) - 1):]
            self.pongs -= tail.count(self.marker)  # counted with the next read

    def stop(self) -> int:
        """Stop writing and counting; the pongs counted."""
        self.stopped.set()
        for thread in self.threads:
            thread.join(5)
        return self.pongs


def session_of(srv: ServerThread, name: str) -> ClientSession:
    return srv.call(lambda: next(s for s in srv.server.relay.sessions if s.name == name))


def reading(srv: ServerThread, session: ClientSession) -> bool:
    return srv.call(lambda: session.transport.is_reading())


def messages_flow(srv: ServerThread, count: int = 10, within: float = 2.0, tls: ssl.SSLContext | None = None) -> None:
    """Alice sends Bob ``count`` messages, one after the other; each is delivered (Bob's
    receipt, Alice's ``delivered``) within ``within`` seconds."""
    with WireClient.login(srv.host, srv.port, "Alice", tls=tls) as alice, \
            WireClient.login(srv.host, srv.port, "Bob", tls=tls) as bob:
        for n in range(count):
            started = time.monotonic()
            alice.send(SendDirect(f"m{n}", "Bob", f"message {n}"))
            dm = bob.expect(DirectMessage, timeout=within, skip=(UserJoined,))
            bob.send(Receipt(dm.msg_id))
            alice.expect(Delivered, timeout=within, skip=(Accepted, UserJoined))
            assert time.monotonic() - started < within, n


def read_at_most(since: float) -> float:
    """The pings the server may have read from a connection made at ``since``: its burst,
    the bytes read before they are counted and one read, then the rate."""
    return (BURST + CHECK + READ_BUFFER_BYTES + RATE * (time.monotonic() - since)) / len(PING)


def flooded_while_messages_flow(srv: ServerThread, sock: socket.socket, chunk: bytes, connected: float) -> None:
    """Mallory, logged in on ``sock`` (connected at ``connected``), writes ``chunk`` (many
    pings) as fast as the server reads it: the server stops reading it, Alice's messages
    to Bob flow meanwhile, and Mallory's pongs say it was read at the budget."""
    session = session_of(srv, "Mallory")
    flood = Flood(sock, chunk, b'"pong"')
    try:
        wait_until(lambda: not reading(srv, session), 5, "the server to stop reading the flooder")
        messages_flow(srv)
        wait_until(lambda: flood.written > 4 * BURST, 5, "the flood to outgrow the burst")
    finally:
        pongs = flood.stop()
    assert 0 < pongs <= read_at_most(connected), (pongs, flood.written)


def test_a_flooding_connection_is_read_at_the_budget_while_the_others_messages_flow() -> None:
    with in_thread(**BUDGET) as srv:
        connected = time.monotonic()
        with WireClient.login(srv.host, srv.port, "Mallory") as mallory:
            flooded_while_messages_flow(srv, mallory.sock, PING * 2_000, connected)


def test_a_flooding_websocket_is_read_at_the_budget_while_the_others_messages_flow() -> None:
    with ServerThread(server_config(**BUDGET)) as srv:
        web = start_gateway(srv)
        port = web.sockets[0].getsockname()[1]
        connected = time.monotonic()
        mallory = WebPeer(f"ws://127.0.0.1:{port}/ws", origin=f"http://127.0.0.1:{port}")
        try:
            mallory.login("Mallory")
            # (Each ping is 6 bytes more in a WebSocket frame: fewer are read than the bound.)
            flooded_while_messages_flow(srv, mallory.ws.sock, masked(Opcode.TEXT, PING[:-1]) * 1_000, connected)
        finally:
            mallory.ws.sock.close()


def test_a_flooding_tls_connection_is_read_at_the_budget_while_the_others_messages_flow(
        certificate, trusting, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pongs, which nothing answers: the bytes the server reads are counted as it reads them.
    read: dict[str, int] = {}
    updated = ClientSession.buffer_updated

    def counted(session: ClientSession, nbytes: int) -> None:
        read[session.name or ""] = read.get(session.name or "", 0) + nbytes
        updated(session, nbytes)

    monkeypatch.setattr(ClientSession, "buffer_updated", counted)
    cert, key = certificate
    with in_thread(tls_cert=cert, tls_key=key, **BUDGET) as srv:
        connected = time.monotonic()
        with WireClient.login(srv.host, srv.port, "Mallory", tls=trusting) as mallory:
            session = session_of(srv, "Mallory")
            flood = Flood(mallory.sock, b'{"type":"pong","token":"x"}\n' * 2_000, None)
            try:
                wait_until(lambda: not reading(srv, session), 5, "the server to stop reading the flooder")
                messages_flow(srv, tls=trusting)
                wait_until(lambda: flood.written > 4 * BURST, 5, "the flood to outgrow the burst")
                mallory_read = srv.call(lambda: read["Mallory"])
                assert mallory_read <= len(PING) * read_at_most(connected), (mallory_read, flood.written)
            finally:
                flood.stop()


def budget_stops(monkeypatch: pytest.MonkeyPatch) -> list[ClientSession]:
    """The sessions the read budget stops reading from now on, one entry a stop."""
    stops: list[ClientSession] = []
    spent = ClientSession._read_budget_spent

    def counted(session: ClientSession) -> None:
        spent(session)
        rate, burst = session.relay.config.read_budget
        if session.read_full_at - time.monotonic() > burst / rate:  # (see _read_budget_spent)
            stops.append(session)

    monkeypatch.setattr(ClientSession, "_read_budget_spent", counted)
    return stops


def test_tiny_frames_each_cost_the_least_a_frame_costs_while_the_others_messages_flow(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Six connections writing empty lines or minimal pings (16 bytes) as fast as the server
    # read them got 16,000 frames a second each through a budget of bytes alone, and took
    # half the server's core. Each frame read now counts as READ_BYTES_MIN_PER_FRAME at
    # least: 500 empty lines and 500 pings, 8,500 bytes, count as 64,000, past the burst and
    # the bytes read before they are counted (54,096), so reading stops; every frame read is
    # still handled, in order, and Alice's messages flow.
    assert const.READ_BYTES_MIN_PER_FRAME == 64
    stops = budget_stops(monkeypatch)
    with in_thread(**BUDGET) as srv:
        with WireClient.login(srv.host, srv.port, "Mallory") as mallory:
            mallory.send_raw(b"\n" * 500 + b'{"type":"ping"}\n' * 500 + b'{"type":"ping","token":"after"}\n')
            tokens = []
            while not tokens or tokens[-1] != "after":
                tokens.append(mallory.expect(Pong, skip=(UserJoined,)).token)
            assert tokens == [""] * 500 + ["after"]
            assert stops == [session_of(srv, "Mallory")]
            messages_flow(srv)


def test_an_honest_burst_after_a_login_never_stops_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    # The shipped budget; a burst as large as an honest client makes, written at once: a
    # reconnection's receipts and acks one frame each (for ids it was not sent: the store
    # answers each), a contact list of MAX_WATCHED names, and pastes in Portuguese as
    # large as the message text's burst: 200 KB at once.
    stops = budget_stops(monkeypatch)
    with in_thread() as srv:
        assert srv.server.config.read_budget == (const.READ_BYTES_PER_SECOND_PER_CONNECTION,
                                                 const.READ_BYTES_BURST_PER_CONNECTION)
        with WireClient.login(srv.host, srv.port, "Conceição") as client, \
                WireClient.login(srv.host, srv.port, "João") as joao:
            burst = bytearray()
            for n in range(const.MAX_PENDING_RECEIPTS):
                burst += client.conn.send(Receipt(10**12 + n))
            for n in range(int(const.ACKS_BURST_PER_CONNECTION)):
                burst += client.conn.send(OutcomeAck(10**12 + n))
            names = [f"aluno{n:03d}-Conceição" for n in range(const.MAX_WATCHED)]
            for first in range(0, len(names), 500):
                burst += client.conn.send(Watch(f"w{first}", tuple(names[first:first + 500])))
            paste = ("ação, coração e atenção; " * 200)[:const.MAX_TEXT_CHARS]
            for n in range(const.BYTES_BURST_PER_CONNECTION // len(paste.encode("utf-8"))):
                burst += client.conn.send(SendDirect(f"p{n}", "João", paste))
            assert len(burst) > 200_000
            client.send_raw(bytes(burst))
            for _ in range(const.BYTES_BURST_PER_CONNECTION // len(paste.encode("utf-8"))):
                joao.expect(DirectMessage, skip=(UserJoined,))
        assert stops == []
