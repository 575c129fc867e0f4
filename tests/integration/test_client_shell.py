"""The threaded shell over the client core, against real servers on 127.0.0.1: a planned
restart that an interactive session survives, failover between servers, and blocking calls
refused on the receiver thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from client import CalledFromReceiver, ChatClient
from client.events import Reconnected, Reconnecting
from client.outgoing import DELIVERED
from protocol import ConnectionClosed, DirectMessage, Event, Goodbye
from recorder import Recorder
from server import ServerConfig, ServerThread

WAIT = 20.0
FAST = {"reconnect_delay": 0.05, "reconnect_max_delay": 0.4}


@pytest.fixture
def second_server() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as srv:
        yield srv


def make(clients: list[ChatClient], name: str, recorder: Recorder | None, **options: object) -> ChatClient:
    client = ChatClient(name, on_event=recorder, **{**FAST, **options})  # type: ignore[arg-type]
    clients.append(client)
    client.connect(timeout=WAIT)
    return client


def test_an_interactive_session_survives_a_planned_restart_and_keeps_what_was_typed(
        clients: list[ChatClient], tmp_path) -> None:
    # A durable server, as a restarted one is: Bob is still known when Alice's typed
    # message goes out, whichever of them reconnects first (in memory, Alice could come
    # back first and be told nobody called Bob ever logged in).
    data = tmp_path / "data"
    first = ServerThread(ServerConfig(host="127.0.0.1", port=0, data_dir=data)).__enter__()
    port = first.port
    at_alice, at_bob = Recorder(), Recorder()
    try:
        alice = make(clients, "Alice", at_alice, port=port, reconnect_on_goodbye=True)
        make(clients, "Bob", at_bob, port=port, reconnect_on_goodbye=True)
        first.stop()  # a planned stop: every client gets the server's goodbye
        at_alice.wait_for(Reconnecting)
        assert at_alice.of(Goodbye) and not at_alice.of(ConnectionClosed) and not alice.closed.is_set()
        typed = alice.send_direct("Bob", "typed while the server was down")
        assert typed.waiting
        with ServerThread(ServerConfig(host="127.0.0.1", port=port, data_dir=data)):  # again, same port
            at_alice.wait_for(Reconnected)
            at_bob.wait_for(Reconnected)
            assert at_alice.of(Reconnected)[0].server == ""  # back on the same server: nothing to name
            assert typed.wait(DELIVERED, WAIT), typed
            at_bob.wait_for(DirectMessage)
            assert [e.text for e in at_bob.of(DirectMessage)] == ["typed while the server was down"]
            assert alice.connected and alice.reconnects == 1
            assert not at_alice.of(ConnectionClosed) and not at_bob.of(ConnectionClosed)
    finally:
        first.stop()


def test_without_the_interactive_option_the_goodbye_still_ends_the_session(clients: list[ChatClient]) -> None:
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as srv:
        at_alice = Recorder()
        alice = make(clients, "Alice", at_alice, port=srv.port)
    assert alice.closed.wait(WAIT)
    assert at_alice.of(Goodbye) and at_alice.events[-1] == ConnectionClosed() and not at_alice.of(Reconnecting)


def test_a_client_fails_over_to_the_next_server_when_its_server_stops(
        server: ServerThread, second_server: ServerThread, clients: list[ChatClient]) -> None:
    at_alice = Recorder()
    alice = make(clients, "Alice", at_alice, servers=[("127.0.0.1", server.port), ("127.0.0.1", second_server.port)],
                 reconnect_on_goodbye=True)
    assert alice.port == server.port
    make(clients, "Bob", None, port=second_server.port)
    server.stop()
    at_alice.wait_for(Reconnected)
    assert alice.port == second_server.port and alice.connected
    assert at_alice.of(Reconnected)[0].server == f"127.0.0.1:{second_server.port}"  # the terminal names where it is now
    assert alice.send_direct("Bob", "from the other server").wait(DELIVERED, WAIT)
    assert not at_alice.of(ConnectionClosed)


def test_the_first_login_goes_to_the_next_server_when_one_cannot_be_reached(
        server: ServerThread, clients: list[ChatClient]) -> None:
    with socket.socket() as probe:  # a port nobody listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        gone = probe.getsockname()[1]
    alice = make(clients, "Alice", None, servers=[("127.0.0.1", gone), ("127.0.0.1", server.port)])
    assert alice.port == server.port and alice.connected


def test_a_blocking_request_from_on_event_is_refused_at_once_and_the_receiver_goes_on(
        server: ServerThread, clients: list[ChatClient]) -> None:
    outcomes: list[object] = []
    done = threading.Event()
    holder: list[ChatClient] = []

    def on_event(event: Event) -> None:
        if isinstance(event, DirectMessage):
            started = time.monotonic()
            try:
                outcomes.append(holder[0].who(timeout=5))
            except CalledFromReceiver as exc:
                outcomes.append((exc, time.monotonic() - started))
            done.set()

    bob = ChatClient("Bob", port=server.port, on_event=on_event)
    holder.append(bob)
    clients.append(bob)
    bob.connect(timeout=WAIT)
    alice = make(clients, "Alice", None, port=server.port)
    started = time.monotonic()
    assert alice.send_direct("Bob", "hello").wait(DELIVERED, WAIT)
    assert done.wait(WAIT)
    (error, spent), = outcomes
    assert isinstance(error, CalledFromReceiver) and "on_event" in str(error)
    assert spent < 1.0 and time.monotonic() - started < 5  # not stalled for who()'s timeout
    assert [user.name for user in bob.who(WAIT)] == ["Alice", "Bob"]  # from another thread it works


def test_waiting_on_a_tracker_from_on_event_is_refused_at_once_and_the_receiver_goes_on(
        server: ServerThread, clients: list[ChatClient]) -> None:
    # The tracker's answer (accepted, delivered) is read by the receiver thread itself: a
    # wait() on it there stalled every event, and the answer, for the wait's whole timeout.
    outcomes: list[object] = []
    done = threading.Event()
    holder: list[ChatClient] = []

    def on_event(event: Event) -> None:
        if isinstance(event, DirectMessage):
            reply = holder[0].send_direct("Alice", "oi, recebi")
            holder.append(reply)  # type: ignore[arg-type]
            started = time.monotonic()
            try:
                outcome: object = reply.wait(DELIVERED, 5)
            except CalledFromReceiver as exc:
                outcome = exc
            outcomes.append((outcome, time.monotonic() - started))
            outcomes.append(reply.wait(DELIVERED, 0))  # a look without waiting is fine
            done.set()

    bob = ChatClient("Bob", port=server.port, on_event=on_event)
    holder.append(bob)
    clients.append(bob)
    bob.connect(timeout=WAIT)
    alice = make(clients, "Alice", None, port=server.port)
    started = time.monotonic()
    assert alice.send_direct("Bob", "hello").wait(DELIVERED, WAIT)
    assert done.wait(WAIT)
    (error, spent), looked = outcomes
    assert isinstance(error, CalledFromReceiver) and "on_event" in str(error), \
        f"wait() on the receiver thread returned {error!r} after {spent:.1f} s"
    assert spent < 1.0 and time.monotonic() - started < 5  # not stalled for wait()'s timeout
    assert looked is False
    assert holder[1].wait(DELIVERED, WAIT)  # from another thread it works  # type: ignore[union-attr]


def test_unwatch_from_on_event_is_refused_before_it_forgets_the_names(
        server: ServerThread, clients: list[ChatClient]) -> None:
    # unwatch() forgot the names locally, then its request was refused on the receiver
    # thread: the server kept watching them for this session while the client's list
    # (``watched``, what a reconnection watches again) said they were not.
    outcomes: list[object] = []
    done = threading.Event()
    holder: list[ChatClient] = []

    def on_event(event: Event) -> None:
        if isinstance(event, DirectMessage):
            try:
                holder[0].unwatch(["Carla"], timeout=5)
                outcomes.append("returned")
            except CalledFromReceiver as exc:
                outcomes.append(exc)
            done.set()

    bob = ChatClient("Bob", port=server.port, on_event=on_event)
    holder.append(bob)
    clients.append(bob)
    bob.connect(timeout=WAIT)
    bob.watch(["Carla"], timeout=WAIT)
    alice = make(clients, "Alice", None, port=server.port)
    assert alice.send_direct("Bob", "hello").wait(DELIVERED, WAIT)
    assert done.wait(WAIT)
    (outcome,) = outcomes
    assert isinstance(outcome, CalledFromReceiver), outcome
    assert bob.watched == ["Carla"]  # nothing done: still watched, here as on the server
    bob.unwatch(["Carla"], timeout=WAIT)  # from another thread it works
    assert bob.watched == []
