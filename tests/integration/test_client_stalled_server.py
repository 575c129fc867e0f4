"""A server that stops reading what a client sends: the client library's send calls must
return at once all the same (client/writer.py), and nothing is lost or garbled.

The real server in a thread, Alice through tests/support/faultproxy.py, whose ``stall``
stops reading her link with a small receive buffer: her writes soon find the TCP window
full. The threaded client used to write in the send call, under its lock, and so froze the
caller (the window's thread) for up to its socket's timeout (15 s).
"""

from __future__ import annotations

import socket
import time

import pytest

from client import ChatClient, MessageUpdate
from client.events import Reconnecting
from client.library import CLOSE_TIMEOUT
from faultproxy import FaultProxy
from protocol import DirectMessage
from recorder import Recorder
from server import ServerConfig, ServerThread

WAIT = 20.0
# Messages Alice sends while the server reads nothing: more bytes than her kernel's small
# buffer, the proxy's and its one read under way (64 KiB) hold.
MESSAGES = 20
# The server takes them all at once when it reads again: its budget of message text is not
# what these tests are about (const.BYTES_BURST_PER_CONNECTION is 64 KiB).
BUDGET = {"bytes_burst_per_connection": 1024 * 1024}
# What a send call may take; it only hands frames to the writer.
PROMPT = 0.5


def texts() -> list[str]:
    # About 8 KB each, within const.MAX_TEXT_CHARS (2 bytes a "ç"), numbered so that the order can be seen.
    return [f"{n:03d} " + "ç" * 3990 for n in range(MESSAGES)]


def slowest_send(alice: ChatClient, to: str, lines: list[str]) -> tuple[float, list]:
    sent, slowest = [], 0.0
    for text in lines:
        started = time.monotonic()
        sent.append(alice.send_direct(to, text))
        slowest = max(slowest, time.monotonic() - started)
    return slowest, sent


@pytest.mark.timeout_seconds(90)
def test_send_returns_at_once_while_the_server_reads_nothing_and_all_arrives_once_in_order() -> None:
    config = ServerConfig(host="127.0.0.1", port=0, **BUDGET)
    with ServerThread(config) as srv, FaultProxy(srv.host, srv.port) as proxy:
        at_alice, at_bob = Recorder(), Recorder()
        alice = ChatClient("Alice", "127.0.0.1", proxy.port, on_event=at_alice)
        bob = ChatClient("Bob", srv.host, srv.port, on_event=at_bob)
        try:
            alice.connect(timeout=WAIT)
            bob.connect(timeout=WAIT)
            assert proxy.stall("Alice") == 1
            # Her kernel's send buffer small too (white box: the socket of the session), so
            # that the window is full after a few messages, not megabytes.
            assert alice._sock is not None
            alice._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            lines = texts()
            slowest, sent = slowest_send(alice, "Bob", lines)
            assert slowest < PROMPT, f"a send call took {slowest:.1f} s while the server read nothing"
            assert all(m.state == "sending" for m in sent), sent
            # The window was full indeed: the server has not had most of them.
            passed = sum(1 for _link, direction, kind in proxy.frames if direction == "up" and kind == "send")
            assert passed < MESSAGES // 2, f"{passed} of {MESSAGES} passed: the test did not fill the window"
            # The server reads again: every message reaches Bob once, in order, and is confirmed.
            assert proxy.unstall("Alice") == 1
            assert at_bob.holds(lambda: len(at_bob.of(DirectMessage)) >= MESSAGES, WAIT), \
                f"Bob got {len(at_bob.of(DirectMessage))} of {MESSAGES}"
            assert [m.text for m in at_bob.of(DirectMessage)] == lines
            assert at_alice.holds(lambda: all(m.state == "delivered" for m in sent), WAIT), \
                [m.state for m in sent]
            assert not proxy.cuts
            assert alice.reconnects == 0
        finally:
            alice.close()
            bob.close()


@pytest.mark.timeout_seconds(90)
def test_a_server_that_stays_stalled_is_given_up_and_the_messages_go_again_once_on_a_new_connection() -> None:
    # Alice's writes give up after her ping interval without progress (1 s here, 15 s by
    # default): her connection is dropped, never written to again, and a new one carries them.
    # The server gives her old session up a little later (its own heartbeat), and only then
    # lets her name log in again.
    config = ServerConfig(host="127.0.0.1", port=0, heartbeat_interval=1.0, heartbeat_timeout=3.0, **BUDGET)
    with ServerThread(config) as srv, FaultProxy(srv.host, srv.port) as proxy:
        at_alice, at_bob = Recorder(), Recorder()
        alice = ChatClient("Alice", "127.0.0.1", proxy.port, on_event=at_alice, heartbeat_interval=1.0,
                           reconnect_delay=0.05, reconnect_max_delay=0.2)
        bob = ChatClient("Bob", srv.host, srv.port, on_event=at_bob)
        try:
            alice.connect(timeout=WAIT)
            bob.connect(timeout=WAIT)
            assert proxy.stall("Alice") == 1
            assert alice._sock is not None
            alice._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            lines = texts()
            slowest, sent = slowest_send(alice, "Bob", lines)
            assert slowest < PROMPT, f"a send call took {slowest:.1f} s while the server read nothing"
            assert at_alice.holds(lambda: alice.reconnects == 1, WAIT), at_alice.events
            reasons = [e.reason for e in at_alice.of(Reconnecting)]
            assert reasons and "the server read nothing for 1 s" in reasons[0], reasons
            assert at_bob.holds(lambda: len(at_bob.of(DirectMessage)) >= MESSAGES, WAIT), \
                f"Bob got {len(at_bob.of(DirectMessage))} of {MESSAGES}"
            assert [m.text for m in at_bob.of(DirectMessage)] == lines
            assert at_alice.holds(lambda: all(m.state == "delivered" for m in sent), WAIT), \
                [m.state for m in sent]
        finally:
            alice.close()
            bob.close()


@pytest.mark.timeout_seconds(60)
def test_close_while_the_server_reads_nothing_ends_the_session_within_its_bound() -> None:
    # The writer is stuck in a write the server will not take: close() cuts it (after its
    # CLOSE_TIMEOUT for the server's end), and the unfinished messages fail, said once each.
    config = ServerConfig(host="127.0.0.1", port=0, **BUDGET)
    with ServerThread(config) as srv, FaultProxy(srv.host, srv.port) as proxy:
        at_alice = Recorder()
        alice = ChatClient("Alice", "127.0.0.1", proxy.port, on_event=at_alice)
        try:
            alice.connect(timeout=WAIT)
            assert proxy.stall("Alice") == 1
            assert alice._sock is not None
            alice._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            slowest, sent = slowest_send(alice, "Bob", texts())
            assert slowest < PROMPT, f"a send call took {slowest:.1f} s while the server read nothing"
            started = time.monotonic()
            alice.close()
            spent = time.monotonic() - started
            assert spent < 2 * CLOSE_TIMEOUT + 1.0, f"close() took {spent:.1f} s"
            assert alice.closed.is_set()
            assert all(m.state == "failed" and m.error[0] == "connection_lost" for m in sent), sent
            failed = [u.message for u in at_alice.of(MessageUpdate) if u.state == "failed"]
            assert sorted(m.request_id for m in failed) == sorted(m.request_id for m in sent)
        finally:
            alice.close()


@pytest.mark.timeout_seconds(90)
def test_the_asyncio_clients_unsent_bytes_are_bounded_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # The asyncio client's writes never block: the transport keeps what the server does not
    # read, and kept it without a bound (an application sending in a loop grew this process
    # till the heartbeat gave up). Past MAX_UNSENT (32 KiB here) the connection is given up,
    # as the threaded writer's is, and a new one carries every message, once, in order.
    import asyncio

    import client.writer as writer_module
    from client.aio import AioChatClient
    from client.events import Reconnected
    from client.resume import ResumeTokens
    monkeypatch.setattr(writer_module, "MAX_UNSENT", 32 * 1024)
    config = ServerConfig(host="127.0.0.1", port=0, **BUDGET)

    async def test(port: int, proxy: FaultProxy) -> None:
        events: list[object] = []
        alice = AioChatClient("Alice", "127.0.0.1", proxy.port, resume_tokens=ResumeTokens(None),
                              reconnect_delay=0.05, reconnect_max_delay=0.2, on_event=events.append)
        bob = ChatClient("Bob", "127.0.0.1", port, on_event=at_bob)
        try:
            await alice.connect(WAIT)
            bob.connect(timeout=WAIT)
            assert proxy.stall("Alice") == 1
            sock = alice._writer.get_extra_info("socket")  # white box: the session's, its buffer small
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            lines = texts()
            sent = [alice.send_direct("Bob", text) for text in lines]
            for _ in range(200):  # the loop runs the writes (bounded: 10 s)
                if alice.reconnects:
                    break
                await asyncio.sleep(0.05)
            reasons = [e.reason for e in events if isinstance(e, Reconnecting)]
            assert alice.reconnects == 1 and "has not read" in reasons[0], reasons
            assert any(isinstance(e, Reconnected) for e in events), events
            states = await asyncio.wait_for(asyncio.gather(*(done for _m, done in sent)), WAIT)
            assert states == ["delivered"] * MESSAGES, states
            assert at_bob.holds(lambda: len(at_bob.of(DirectMessage)) >= MESSAGES, WAIT)
            assert [m.text for m in at_bob.of(DirectMessage)] == lines
        finally:
            await alice.close()
            bob.close()

    at_bob = Recorder()
    with ServerThread(config) as srv, FaultProxy(srv.host, srv.port) as proxy:
        asyncio.run(asyncio.wait_for(test(srv.port, proxy), 60))
