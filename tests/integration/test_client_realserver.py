"""The client library against the real server (in a thread, 127.0.0.1, port 0).

The fake server in tests/support/fakeserver.py is what the other client tests use; these few
checks make sure it has not drifted from the real thing.
"""

from __future__ import annotations

import queue
import time

import pytest

from client import ChatClient, LoginRefused, MessageUpdate
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
