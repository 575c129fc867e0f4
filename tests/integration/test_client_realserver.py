"""The client library against the real server (in a thread, 127.0.0.1, port 0).

The fake server in tests/support/fakeserver.py is what the other client tests use; these few
checks make sure it has not drifted from the real thing.
"""

from __future__ import annotations

import os
import queue
import sys
import time
from collections.abc import Iterator

import pytest

from client import ChatClient, LoginRefused, MessageUpdate
from client.events import Reconnecting
from logins import library_login
from protocol import ConnectionClosed, DirectMessage, Event, Goodbye

WAIT = 10.0


def connect(clients: list[ChatClient], server: object, name: str) -> ChatClient:
    return library_login(clients, server.port, name, host=server.host)  # type: ignore[attr-defined]


def next_event(client: ChatClient, kind: type[Event]) -> Event:
    deadline = time.monotonic() + WAIT
    while True:
        try:
            event = client.events.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no {kind.__name__} within {WAIT} s") from None
        if isinstance(event, kind):
            return event


def test_direct_message_is_delivered_and_confirmed(server: object, clients: list[ChatClient]) -> None:
    alice = connect(clients, server, "Alice")
    bob = connect(clients, server, "Bob")
    message = alice.send_direct("bob", "olá Bob 🌍")
    assert message.wait({"delivered"}, WAIT), message
    incoming = next_event(bob, DirectMessage)
    assert (incoming.sender, incoming.text, incoming.msg_id) == ("Alice", "olá Bob 🌍", message.msg_id)
    updates = [next_event(alice, MessageUpdate).state, next_event(alice, MessageUpdate).state]
    assert updates == ["sent", "delivered"]


def test_refusals_who_and_whois(server: object, clients: list[ChatClient]) -> None:
    alice = connect(clients, server, "Alice")
    with pytest.raises(LoginRefused) as info:
        connect(clients, server, "ALICE")
    assert info.value.code == "name_taken"
    failed = alice.send_direct("Fulano", "hello?")
    assert failed.wait_done(WAIT) and failed.error is not None and failed.error[0] == "unknown_recipient"
    assert [p.name for p in alice.who(WAIT)] == ["Alice"]
    assert alice.lookup("alice", WAIT).status == "online"
    assert alice.lookup("Fulano", WAIT).status == "unknown"


def test_room_message_is_final_at_sent(server: object, clients: list[ChatClient]) -> None:
    alice = connect(clients, server, "Alice")
    message = alice.send_room("hi all")
    assert message.wait_done(WAIT) and message.state == "sent"


def test_server_shutdown_says_goodbye_then_closes(server: object, clients: list[ChatClient]) -> None:
    alice = connect(clients, server, "Alice")
    server.stop()  # type: ignore[attr-defined]
    assert alice.closed.wait(WAIT)
    assert next_event(alice, Goodbye).reason
    assert next_event(alice, ConnectionClosed) == ConnectionClosed()
    assert alice.send_direct("Bob", "late").state == "failed"


# Past select()'s FD_SETSIZE (1024): the descriptors a process with many connections or
# files open (a bot, a test run, a server with its client in one process) hands a new socket.
HIGH_FD = 1100


def _file_limit() -> int:
    if sys.platform == "win32":
        return 0
    import resource
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


@pytest.fixture
def descriptors_taken() -> Iterator[None]:
    """Descriptors 0 to HIGH_FD in use, the soft limit raised for them (and put back)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = HIGH_FD + 200
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    taken: list[int] = []
    try:
        while not taken or taken[-1] < HIGH_FD:
            taken.append(os.open(os.devnull, os.O_RDONLY))
        yield
    finally:
        for fd in taken:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.skipif(_file_limit() != -1 and _file_limit() < HIGH_FD + 200,
                    reason="the hard limit of open files is below the descriptors this test needs")
def test_a_socket_on_a_descriptor_past_1024_is_read(server: object, clients: list[ChatClient],
                                                    descriptors_taken: None) -> None:
    """The receiver waits for bytes on a selector: select.select() refused a descriptor of
    1024 or more ("filedescriptor out of range"), and the client reconnected for ever,
    every new socket refused the same way, answering nothing."""
    alice = connect(clients, server, "Alice")
    assert alice._sock is not None and alice._sock.fileno() >= 1024  # the case under test
    bob = connect(clients, server, "Bob")
    message = alice.send_direct("Bob", "past the descriptor limit")
    assert message.wait({"delivered"}, WAIT), message
    assert next_event(bob, DirectMessage).text == "past the descriptor limit"
    assert {"Alice", "Bob"} <= {p.name for p in alice.who(WAIT)}
    assert (alice.reconnects, bob.reconnects) == (0, 0)
    assert not [e for e in list(alice.events.queue) if isinstance(e, Reconnecting)]


@pytest.mark.timeout_seconds(60)
def test_a_server_that_fails_after_each_login_is_logged_in_to_ever_more_slowly(
        server: object, clients: list[ChatClient]) -> None:
    """A server (or a path to it) that cuts each session right after its welcome: every
    reconnection began its backoff again at the first wait, and the client logged in again
    five times a second (twice at the default wait), for as long as it failed. After short
    sessions in a row (under STABLE_SESSION) each wait starts one doubling further on."""
    from faultproxy import DOWN, Fault, FaultProxy
    with FaultProxy(server.host, server.port) as proxy:  # type: ignore[attr-defined]
        alice = library_login(clients, proxy.port, "Alice", reconnect_delay=0.1)
        proxy.add(Fault(DOWN, "welcome", when="after", every=1, times=1000, name="Alice"))
        proxy.cut("Alice")
        delays = [next_event(alice, Reconnecting).delay for _ in range(4)]
        alice.close()
    # Doubled each time, whatever the jitter (0.8 to 1.2): each at least 2 x 0.8 / 1.2 the last.
    assert all(later >= 1.3 * earlier for earlier, later in zip(delays, delays[1:])), delays
