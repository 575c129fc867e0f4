"""Exactly-once delivery through lost connections: the client library against the real
server, with tests/support/faultproxy.py cutting connections at chosen points.

Alice sends Bob a numbered sequence of direct messages while the proxy resets Alice's or
Bob's connection (both ends, data in flight lost) just before or after a given frame, or
in the middle of one. Whatever the point, every message must reach Bob's application
exactly once and in order, and every one of Alice's trackers must end ``delivered``.
Loopback only; every wait is bounded.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator

import pytest

from client import ChatClient, MessageUpdate, NotConnected
from client.core import backoff
from client.events import Reconnected, Reconnecting
from faultproxy import DOWN, UP, Fault, FaultProxy
import recorder
from protocol import ConnectionClosed, Delivered, DirectMessage, Goodbye
from server import ServerConfig, ServerThread

WAIT = 20.0        # bound for a whole exchange with several reconnections
COUNT = 30         # messages Alice sends
# Quick reconnections for tests; the doubling and the jitter are those of the default.
FAST = {"reconnect_delay": 0.05, "reconnect_max_delay": 0.4}


class Recorder(recorder.Recorder):
    def wait(self, predicate, timeout: float = WAIT) -> bool:
        return self.holds(lambda: predicate(self), timeout)


@pytest.fixture
def proxy(server: ServerThread) -> Iterator[FaultProxy]:
    with FaultProxy(server.host, server.port) as fault_proxy:
        yield fault_proxy


def start(clients: list[ChatClient], port: int, name: str, recorder: Recorder | None = None,
          **options: object) -> ChatClient:
    client = ChatClient(name, "127.0.0.1", port, on_event=recorder, **{**FAST, **options})  # type: ignore[arg-type]
    clients.append(client)
    client.connect(timeout=WAIT)
    return client


def round_trip(client: ChatClient) -> None:
    """One request answered on a live connection. A fault may still fire late (on the
    answers to resent messages), so a connection lost meanwhile is waited out."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            client.who(WAIT)
            return
        except NotConnected:
            assert time.monotonic() < deadline, "never reconnected"
            threading.Event().wait(0.02)


# Where to cut, and whose connection. Counting is over all of that user's connections.
INJECTIONS = {
    # Alice's side: her send lost on the way up, cut in the middle of a frame, or just
    # before / after the server's acknowledgement reaches her.
    "send-lost": [Fault(UP, "send", nth=4, every=9, times=3, name="Alice")],
    "send-cut-mid-frame": [Fault(UP, after_bytes=700, times=3, name="Alice")],
    "accepted-lost": [Fault(DOWN, "accepted", nth=5, every=8, times=3, name="Alice")],
    "right-after-accepted": [Fault(DOWN, "accepted", when="after", nth=3, every=10, times=3, name="Alice")],
    "delivered-lost": [Fault(DOWN, "delivered", nth=6, every=9, times=3, name="Alice")],
    "acks-cut-mid-frame": [Fault(DOWN, after_bytes=900, times=3, name="Alice")],
    "right-after-welcome": [Fault(DOWN, "accepted", nth=4, name="Alice"),
                            Fault(DOWN, "welcome", when="after", nth=2, name="Alice")],
    # Bob's side: the message lost on its way to him, or shown and its receipt lost.
    "dm-lost": [Fault(DOWN, "dm", nth=5, every=9, times=3, name="Bob")],
    "right-after-dm": [Fault(DOWN, "dm", when="after", nth=3, every=8, times=3, name="Bob")],
    # The client asks for batch_acks, so one receipt frame confirms what one read brought
    # (often several messages): fewer frames to count, so the cuts come sooner.
    "receipt-lost": [Fault(UP, "receipt", nth=1, every=2, times=3, name="Bob")],
    "right-after-receipt": [Fault(UP, "receipt", when="after", nth=1, every=2, times=2, name="Bob")],
    # Both at once.
    "both-sides": [Fault(DOWN, "accepted", nth=6, every=11, times=2, name="Alice"),
                   Fault(UP, "receipt", nth=9, every=10, times=2, name="Bob")],
}


@pytest.mark.parametrize("where", list(INJECTIONS))
def test_every_message_arrives_once_in_order_and_is_confirmed(where: str, proxy: FaultProxy,
                                                              clients: list[ChatClient]) -> None:
    proxy.add(*INJECTIONS[where])
    at_bob, at_alice = Recorder(), Recorder()
    bob = start(clients, proxy.port, "Bob", at_bob)
    alice = start(clients, proxy.port, "Alice", at_alice)
    messages = [alice.send_direct("Bob", f"message {i:02d}") for i in range(COUNT)]

    deadline = time.monotonic() + WAIT
    for message in messages:
        assert message.wait("delivered", max(0.0, deadline - time.monotonic())), \
            f"{message} not delivered; cuts: {proxy.cuts}"
    assert at_bob.wait(lambda r: len(r.of(DirectMessage)) >= COUNT), f"cuts: {proxy.cuts}"
    # A round trip for each, after which any duplicate in flight would have arrived.
    round_trip(bob)
    round_trip(alice)

    assert proxy.cuts, "the fault never fired"
    shown = at_bob.of(DirectMessage)
    assert [m.text for m in shown] == [f"message {i:02d}" for i in range(COUNT)], f"cuts: {proxy.cuts}"
    assert [m.msg_id for m in shown] == [m.msg_id for m in messages]
    delivered = [u.message for u in at_alice.of(MessageUpdate) if u.state == "delivered"]
    assert sorted(delivered, key=id) == sorted(messages, key=id)  # one "delivered" each
    assert not [e for e in at_alice.events if isinstance(e, Delivered)]  # nothing unmatched
    assert alice.pending == [] and bob.pending == []
    reconnections = at_alice.of(Reconnected) + at_bob.of(Reconnected)
    assert reconnections, "nobody reconnected"
    assert not at_alice.of(ConnectionClosed) and not at_bob.of(ConnectionClosed)


# --- Reconnecting -------------------------------------------------------------------------


def nominal_delay(attempt: int, first: float, longest: float) -> float:
    return min(longest, first * 2 ** (attempt - 1))


def test_messages_typed_while_disconnected_go_out_in_order_after_backoff(proxy: FaultProxy,
                                                                         clients: list[ChatClient]) -> None:
    at_bob, at_alice = Recorder(), Recorder()
    start(clients, proxy.port, "Bob", at_bob)
    alice = start(clients, proxy.port, "Alice", at_alice, reconnect_delay=0.05, reconnect_max_delay=0.2)
    assert alice.send_direct("Bob", "before").wait("delivered", WAIT)

    proxy.refuse_new = True  # the "server" is down: every attempt fails
    proxy.cut("Alice")
    assert at_alice.wait(lambda r: len(r.of(Reconnecting)) >= 5)
    assert alice.reconnecting and not alice.connected
    typed = [alice.send_direct("Bob", f"typed offline {i}") for i in range(5)]
    assert all(m.state == "sending" and m.waiting and not m.submitted for m in typed)
    assert [m.text for m in alice.pending] == [m.text for m in typed]
    proxy.refuse_new = False

    for message in typed:
        assert message.wait("delivered", WAIT), message
    assert at_bob.wait(lambda r: len(r.of(DirectMessage)) == 6)
    assert [m.text for m in at_bob.of(DirectMessage)] == ["before"] + [f"typed offline {i}" for i in range(5)]
    # Attempts counted from 1, waits doubling from 0.05 s up to 0.2 s, with +-20 % jitter.
    attempts = at_alice.of(Reconnecting)
    assert [a.attempt for a in attempts] == list(range(1, len(attempts) + 1))
    for event in attempts:
        nominal = nominal_delay(event.attempt, 0.05, 0.2)
        assert 0.8 * nominal - 0.01 <= event.delay <= min(0.2, 1.2 * nominal) + 0.01, event
    assert "the server closed the connection" in attempts[0].reason or "reset" in attempts[0].reason
    assert "reset" in attempts[-1].reason or "during the login" in attempts[-1].reason  # by the proxy
    # The application hears "reconnected" (5 sent again) before any news of those messages.
    reconnected = at_alice.of(Reconnected)
    assert len(reconnected) == 1 and reconnected[0].resent == 5 and reconnected[0].welcome.name == "Alice"
    events = at_alice.events
    first_news = min(i for i, e in enumerate(events) if isinstance(e, MessageUpdate) and e.message in typed)
    assert events.index(reconnected[0]) < first_news
    assert alice.reconnects == 1 and alice.connected


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    # The delays the client's reconnect loop goes over (client.core.backoff, its defaults).
    for _ in range(20):
        for attempt, delay in zip(range(1, 12), backoff()):
            nominal = nominal_delay(attempt, 0.5, 30.0)
            assert 0.8 * nominal <= delay <= min(30.0, 1.2 * nominal)
    assert len({round(list(itertools.islice(backoff(), 3))[2], 6) for _ in range(20)}) > 1  # jitter


def test_the_waiting_queue_is_bounded(proxy: FaultProxy, clients: list[ChatClient]) -> None:
    at_alice = Recorder()
    start(clients, proxy.port, "Bob")
    alice = start(clients, proxy.port, "Alice", at_alice, max_waiting=2)
    proxy.refuse_new = True
    proxy.cut("Alice")
    assert at_alice.wait(lambda r: bool(r.of(Reconnecting)))
    kept = [alice.send_direct("Bob", "one"), alice.send_room("two")]
    refused = alice.send_direct("Bob", "three")
    assert [m.state for m in kept] == ["sending", "sending"]
    assert refused.state == "failed" and not refused.submitted and refused.error[0] == "queue_full"


def test_close_while_reconnecting_ends_at_once(proxy: FaultProxy, clients: list[ChatClient]) -> None:
    at_alice = Recorder()
    start(clients, proxy.port, "Bob")
    alice = start(clients, proxy.port, "Alice", at_alice, reconnect_delay=5.0, reconnect_max_delay=5.0)
    proxy.cut("Alice")
    assert at_alice.wait(lambda r: bool(r.of(Reconnecting)))
    waiting = alice.send_direct("Bob", "never sent")
    started = time.monotonic()
    alice.close()
    assert time.monotonic() - started < 2.0  # the 5 s backoff wait was cut short
    assert alice.closed.is_set() and alice.close_reason == "closed by this client"
    assert waiting.state == "failed" and waiting.error[0] == "connection_lost"
    assert at_alice.of(ConnectionClosed) == [ConnectionClosed()]
    assert len(at_alice.of(Reconnecting)) == 1 and not at_alice.of(Reconnected)
    assert proxy.live_links("Alice") == 0


def test_the_servers_goodbye_ends_the_client_without_reconnecting(server: ServerThread,
                                                                   clients: list[ChatClient]) -> None:
    at_alice = Recorder()
    alice = start(clients, server.port, "Alice", at_alice)
    server.stop()
    assert alice.closed.wait(WAIT)
    assert at_alice.of(Goodbye) and at_alice.events[-1] == ConnectionClosed()
    assert not at_alice.of(Reconnecting)
    assert alice.close_reason == "server shutting down"


def test_giving_up_after_max_attempts(proxy: FaultProxy, clients: list[ChatClient]) -> None:
    at_alice = Recorder()
    alice = start(clients, proxy.port, "Alice", at_alice, max_reconnect_attempts=3)
    proxy.refuse_new = True
    proxy.cut("Alice")
    assert alice.closed.wait(WAIT)
    assert [e.attempt for e in at_alice.of(Reconnecting)] == [1, 2, 3]
    assert alice.close_reason.startswith("gave up reconnecting after 3 attempts")
    assert at_alice.events[-1] == ConnectionClosed()


def test_a_name_claimed_meanwhile_stops_the_reconnections(server: ServerThread, proxy: FaultProxy,
                                                         clients: list[ChatClient]) -> None:
    at_alice = Recorder()
    alice = start(clients, proxy.port, "Alice", at_alice)
    proxy.refuse_new = True
    proxy.cut("Alice")
    assert at_alice.wait(lambda r: bool(r.of(Reconnecting)))
    # Someone else claims the guest name while Alice is away, once its hold is over (a
    # stranger cannot during the hold: tests/integration/test_guests.py).
    server.server.relay.logins.guests.hold = 0.0
    start(clients, server.port, "alice", password="correct horse", register=True)
    proxy.refuse_new = False
    assert alice.closed.wait(WAIT)
    assert alice.login_error is not None and alice.login_error.code == "auth_required"
    assert alice.close_reason.startswith("could not log in again:") and "(auth_required)" in alice.close_reason
    assert at_alice.events[-1] == ConnectionClosed()


def test_heartbeat_silence_reconnects_and_waits_out_the_old_session() -> None:
    # The server drops a silent client after 1 s; until then the guest name is taken.
    config = ServerConfig(host="127.0.0.1", port=0, heartbeat_interval=0.3, heartbeat_timeout=1.0)
    with ServerThread(config) as srv, FaultProxy(srv.host, srv.port) as proxy:
        at_alice = Recorder()
        alice = ChatClient("Alice", "127.0.0.1", proxy.port, on_event=at_alice, heartbeat_interval=0.1,
                           heartbeat_timeout=0.4, reconnect_delay=0.1, reconnect_max_delay=0.2)
        try:
            alice.connect(timeout=WAIT)
            assert proxy.freeze("Alice") == 1
            assert at_alice.wait(lambda r: bool(r.of(Reconnected)))
            reasons = [e.reason for e in at_alice.of(Reconnecting)]
            assert reasons[0].startswith("no data from the server for"), reasons
            assert alice.connected and alice.who(WAIT)[0].name == "Alice"
        finally:
            alice.close()


# --- Receiving: each message shown once, confirmed every time ---------------------------------


def test_a_message_sent_again_is_shown_once_and_confirmed_twice() -> None:
    from test_client_library import SilentServer, connect_in_background  # a hand-driven server

    from protocol import Receipt, Welcome

    silent = SilentServer()
    seen = Recorder()
    client = ChatClient("Bob", "127.0.0.1", silent.port, on_event=seen)
    try:
        thread, _ = connect_in_background(client)
        hello = silent.accept_hello()
        silent.send(Welcome(hello.request_id, "Bob", 1, "raw", 15.0))
        thread.join(WAIT)
        dm = DirectMessage(41, "Alice", "Bob", "only once", 1.0)
        silent.send(dm)
        assert silent.expect(Receipt) == Receipt(41)
        silent.send(dm)  # as after a lost receipt: the same msg_id again
        silent.send(DirectMessage(42, "Alice", "Bob", "next", 2.0))
        assert silent.expect(Receipt) == Receipt(41)
        assert silent.expect(Receipt) == Receipt(42)
        assert [e.msg_id for e in seen.of(DirectMessage)] == [41, 42]
    finally:
        silent.close()
        client.close()


def test_the_seen_set_is_bounded(server: ServerThread, clients: list[ChatClient]) -> None:
    at_bob = Recorder()
    bob = start(clients, server.port, "Bob", at_bob, seen_limit=3)
    alice = start(clients, server.port, "Alice")
    for i in range(6):
        assert alice.send_direct("Bob", f"m{i}").wait("delivered", WAIT)
    assert len(bob.core.seen) == 3


# --- Offline recipients: queued, then delivered or expired ------------------------------------


def test_a_message_to_an_offline_user_is_queued_then_delivered_at_their_login(
        server: ServerThread, clients: list[ChatClient]) -> None:
    start(clients, server.port, "Bob").close()  # Bob is known now, and offline
    at_alice = Recorder()
    alice = start(clients, server.port, "Alice", at_alice)
    message = alice.send_direct("bob", "while you were away")
    assert message.wait("queued", WAIT) and not message.done and message.msg_id is not None
    at_bob = Recorder()
    start(clients, server.port, "Bob", at_bob)
    assert message.wait("delivered", WAIT)
    # The tracker changes before its update reaches on_event (from the receiver thread).
    assert at_alice.holds(lambda: "delivered" in [u.state for u in at_alice.of(MessageUpdate)], WAIT)
    assert [u.state for u in at_alice.of(MessageUpdate)] == ["queued", "delivered"]
    assert [(m.text, m.msg_id) for m in at_bob.of(DirectMessage)] == [("while you were away", message.msg_id)]


def test_delivered_for_an_earlier_run_is_passed_on(server: ServerThread, clients: list[ChatClient]) -> None:
    start(clients, server.port, "Bob").close()
    first_run = start(clients, server.port, "Alice")
    message = first_run.send_direct("Bob", "see you")
    assert message.wait("queued", WAIT)
    first_run.close()  # the tracker dies with this run, the message waits on the server
    assert message.state == "failed" and "will still deliver it" in message.error[1]
    bob = start(clients, server.port, "Bob")
    assert bob.who(WAIT)  # Bob's receipt has reached the server before this answer
    at_alice = Recorder()
    start(clients, server.port, "Alice", at_alice)  # a new run: the outcome comes after the welcome
    assert at_alice.wait(lambda r: bool(r.of(Delivered)))
    assert [(e.request_id, e.msg_id) for e in at_alice.of(Delivered)] == [(message.request_id, message.msg_id)]


def test_an_unconfirmed_message_expires() -> None:
    config = ServerConfig(host="127.0.0.1", port=0, queue_ttl=0.3, expiry_interval=0.1, login_timeout=0.4)
    with ServerThread(config) as srv:
        bob = ChatClient("Bob", srv.host, srv.port)
        bob.connect(timeout=WAIT)
        bob.close()
        alice = ChatClient("Alice", srv.host, srv.port)
        try:
            alice.connect(timeout=WAIT)
            message = alice.send_direct("Bob", "too late")
            assert message.wait_done(WAIT)
            assert message.state == "failed" and message.error[0] == "expired"
        finally:
            alice.close()
