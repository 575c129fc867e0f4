"""The threaded client library (client.library.ChatClient) against the fake server.

Loopback only; every wait has a timeout; no test sleeps to let something happen.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Iterator

import pytest

import const
from client import (
    ChatClient,
    LocalError,
    LoginRefused,
    MessageUpdate,
    NotConnected,
    RequestFailed,
    RequestTimeout,
    ServerUnreachable,
)
from client.events import Reconnecting
from fakeserver import FakeServer
from protocol import (
    Connection,
    ConnectionClosed,
    DirectMessage,
    Event,
    FrameRejected,
    Goodbye,
    Hello,
    Ping,
    Pong,
    Receipt,
    Role,
    RoomMessage,
    SendDirect,
    UserJoined,
    Welcome,
)
from waits import wait_until

WAIT = 5.0  # generous bound for anything that should take milliseconds


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


def connect(clients: list[ChatClient], server: FakeServer, name: str, **kwargs: object) -> ChatClient:
    client = ChatClient(name, server.host, server.port, **kwargs)  # type: ignore[arg-type]
    clients.append(client)
    client.connect(timeout=WAIT)
    return client


def drain(client: ChatClient) -> list[Event]:
    """Everything in the client's queue right now (call after ``closed`` is set)."""
    out = []
    while True:
        try:
            out.append(client.events.get_nowait())
        except queue.Empty:
            return out


def next_event(client: ChatClient, kind: type[Event], timeout: float = WAIT) -> Event:
    """The next event of type ``kind`` from the client's queue, skipping others."""
    deadline = time.monotonic() + timeout
    while True:
        event = client.events.get(timeout=max(0.0, deadline - time.monotonic()))
        if isinstance(event, kind):
            return event


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SilentServer:
    """A listener whose one connection is driven by hand with a server-side core."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(WAIT)
        self.port = self.listener.getsockname()[1]
        self.conn = Connection(Role.SERVER)
        self.sock: socket.socket | None = None

    def accept_hello(self) -> Hello:
        self.sock, _ = self.listener.accept()
        self.sock.settimeout(WAIT)
        return self.expect(Hello)  # type: ignore[return-value]

    def expect(self, kind: type[Event], timeout: float = WAIT) -> Event:
        """The next event of ``kind`` from the client, within ``timeout`` seconds in all
        (other frames, pings for instance, do not extend it)."""
        assert self.sock is not None
        deadline = time.monotonic() + timeout
        while True:
            for event in self.conn.events():
                if isinstance(event, kind):
                    return event
            left = deadline - time.monotonic()
            assert left > 0, f"no {kind.__name__} from the client within {timeout} s"
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            assert data, f"the client closed before sending {kind.__name__}"
            self.conn.receive_data(data)

    def send(self, event: Event) -> None:
        assert self.sock is not None
        self.sock.sendall(self.conn.send(event))

    def close(self) -> None:
        for sock in (self.sock, self.listener):
            if sock is not None:
                sock.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def connect_in_background(client: ChatClient, timeout: float = WAIT) -> tuple[threading.Thread, list[object]]:
    result: list[object] = []

    def run() -> None:
        try:
            result.append(client.connect(timeout=timeout))
        except Exception as exc:
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


# --- Logging in -------------------------------------------------------------------------


def test_connect_returns_the_welcome(server: FakeServer, clients: list[ChatClient]) -> None:
    alice = connect(clients, server, "Alice")
    assert isinstance(alice.welcome, Welcome) and alice.welcome.name == "Alice"
    assert alice.connected and not alice.closed.is_set()
    hello = server.received(Hello)[0]
    # A guest proposes the resume token it kept before sending (PROTOCOL.md, "Guest names").
    token = alice.resume_tokens.get(alice.address, "Alice")
    assert token is not None and len(token) >= 43
    # It asks for carbons: copies of what its other sessions send (PROTOCOL.md, "Features"),
    # and for resume: an account's credential, sent in place of its password at a reconnection
    # (client/credential.py; a guest's welcome carries its name token either way).
    assert hello == Hello(hello.request_id, "Alice", const.PROTOCOL_VERSION, resume=token,
                          features=("carbons", "read", "typing", "edits", "batch_acks", "since", "blocks", "resume",
                                    "catch_up"))


def test_refused_login_raises_with_the_code() -> None:
    with FakeServer(refuse=("server_full", "too many users")) as server:
        client = ChatClient("Alice", server.host, server.port)
        with pytest.raises(LoginRefused) as info:
            client.connect(timeout=WAIT)
    assert (info.value.code, info.value.message) == ("server_full", "too many users")
    assert not client.connected


def test_a_taken_name_is_refused(server: FakeServer, clients: list[ChatClient]) -> None:
    connect(clients, server, "Alice")
    with pytest.raises(LoginRefused) as info:
        connect(clients, server, "ALICE")
    assert info.value.code == "name_taken"


def test_an_invalid_name_is_refused_before_connecting() -> None:
    client = ChatClient("not a name!", "127.0.0.1", free_port())
    with pytest.raises(LoginRefused) as info:
        client.connect(timeout=WAIT)
    assert info.value.code == "invalid_name"


def test_a_refused_connection_is_reported_clearly() -> None:
    client = ChatClient("Alice", "127.0.0.1", free_port())
    with pytest.raises(ServerUnreachable) as info:
        client.connect(timeout=WAIT)
    assert isinstance(info.value, ConnectionError)
    assert "refused" in str(info.value) and "running" in str(info.value)


def test_a_server_that_never_answers_the_hello_times_out() -> None:
    with FakeServer(answer_hello=False) as server:
        client = ChatClient("Alice", server.host, server.port)
        started = time.monotonic()
        with pytest.raises(ServerUnreachable, match="did not answer"):
            client.connect(timeout=0.3)
        assert time.monotonic() - started < WAIT


def test_something_that_is_not_a_chat_server_is_reported(silent: SilentServer) -> None:
    client = ChatClient("Alice", "127.0.0.1", silent.port)
    thread, result = connect_in_background(client)
    silent.accept_hello()
    assert silent.sock is not None
    silent.sock.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    thread.join(WAIT)
    assert isinstance(result[0], ServerUnreachable)
    assert "does not speak this chat protocol" in str(result[0])


def test_a_server_closing_during_the_login_is_reported(silent: SilentServer) -> None:
    client = ChatClient("Alice", "127.0.0.1", silent.port)
    thread, result = connect_in_background(client)
    silent.accept_hello()
    assert silent.sock is not None
    silent.sock.close()
    thread.join(WAIT)
    assert isinstance(result[0], ServerUnreachable)
    assert "closed the connection during the login" in str(result[0])


@pytest.mark.parametrize("code", ["name_taken", "server_full"])
def test_a_refusal_leaves_the_client_unconnected_and_reusable(code: str) -> None:
    with FakeServer(refuse=(code, "no")) as server:
        client = ChatClient("Alice", server.host, server.port)
        for _ in range(2):
            with pytest.raises(LoginRefused):
                client.connect(timeout=WAIT)
        assert not client.connected and not client.closed.is_set()


# --- Direct messages --------------------------------------------------------------------


def test_a_direct_message_goes_sent_then_delivered(server: FakeServer, clients: list[ChatClient]) -> None:
    updates: list[MessageUpdate] = []
    alice = connect(clients, server, "Alice", on_event=lambda e: updates.append(e) if isinstance(e, MessageUpdate) else None)
    bob = connect(clients, server, "Bob")
    message = alice.send_direct("Bob", "hi Bob")
    assert message.submitted and message.kind == "direct"
    assert message.wait({"delivered"}, WAIT)
    assert message.state == "delivered" and message.msg_id is not None and message.error is None
    # The tracker changes before its update reaches on_event (from the receiver thread).
    wait_until(lambda: len(updates) >= 2, WAIT, "the second update")
    assert [(u.message, u.state) for u in updates] == [(message, "sent"), (message, "delivered")]
    incoming = next_event(bob, DirectMessage)
    assert (incoming.sender, incoming.to, incoming.text) == ("Alice", "Bob", "hi Bob")
    assert incoming.msg_id == message.msg_id


def test_an_incoming_direct_message_is_confirmed_exactly_once_after_the_app_got_it(
        server: FakeServer, clients: list[ChatClient]) -> None:
    handed: list[Event] = []
    alice = connect(clients, server, "Alice")
    bob = connect(clients, server, "Bob", on_event=handed.append)
    message = alice.send_direct("Bob", "one")
    _, receipt = server.wait_for(lambda name, e: name == "Bob" and isinstance(e, Receipt))
    # The receipt left only after the application had the message.
    assert any(isinstance(e, DirectMessage) and e.msg_id == receipt.msg_id for e in handed)
    assert message.wait("delivered", WAIT)
    # A round trip through the server: any duplicate receipt would have arrived before its answer.
    bob.who(WAIT)
    assert server.received(Receipt, "Bob") == [Receipt(message.msg_id)]


def test_a_message_to_nobody_fails_with_the_servers_reason(server: FakeServer, clients: list[ChatClient]) -> None:
    alice = connect(clients, server, "Alice")
    message = alice.send_direct("Nobody", "hello?")
    assert not message.wait({"delivered"}, WAIT)  # returns as soon as it failed
    assert message.state == "failed" and message.submitted
    assert message.error is not None and message.error[0] == "unknown_recipient"
    update = next_event(alice, MessageUpdate)
    assert (update.message, update.state, update.error) == (message, "failed", message.error)


def test_a_text_over_the_limit_fails_without_being_sent(server: FakeServer, clients: list[ChatClient]) -> None:
    alice = connect(clients, server, "Alice")
    connect(clients, server, "Bob")
    message = alice.send_direct("Bob", "x" * (const.MAX_TEXT_CHARS + 1))
    assert message.state == "failed" and not message.submitted
    assert message.error is not None and message.error[0] == "message_too_large"
    alice.who(WAIT)  # round trip: nothing was sent before it
    assert server.received(SendDirect) == []


def test_text_that_cannot_be_encoded_fails_instead_of_raising(server: FakeServer, clients: list[ChatClient]) -> None:
    alice = connect(clients, server, "Alice")
    message = alice.send_direct("Bob", "broken \udcff input")
    assert message.state == "failed" and message.error is not None and message.error[0] == "bad_field"


def test_messages_arrive_intact_whatever_the_read_boundaries(silent: SilentServer) -> None:
    client = ChatClient("Alice", "127.0.0.1", silent.port)
    try:
        thread, _ = connect_in_background(client)
        hello = silent.accept_hello()
        assert silent.sock is not None
        frames = silent.conn.send(Welcome(hello.request_id, "Alice", 1, "raw", 15.0))
        frames += silent.conn.send(DirectMessage(7, "Bob", "Alice", "olá 世界 🙂 " * 50, 1.0))
        frames += silent.conn.send(RoomMessage(8, "Bob", "after", 2.0))
        silent.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(frames)):  # one byte at a time: splits every UTF-8 sequence too
            silent.sock.sendall(frames[i:i + 1])
        thread.join(WAIT)
        assert next_event(client, DirectMessage) == DirectMessage(7, "Bob", "Alice", "olá 世界 🙂 " * 50, 1.0)
        assert next_event(client, RoomMessage) == RoomMessage(8, "Bob", "after", 2.0)
        assert silent.expect(Receipt) == Receipt(7)
    finally:
        silent.close()
        client.close()


# --- Room, who, whois -------------------------------------------------------------------


def test_a_room_message_is_final_once_sent(server: FakeServer, clients: list[ChatClient]) -> None:
    alice = connect(clients, server, "Alice")
    bob = connect(clients, server, "Bob")
    message = alice.send_room("hi all")
    assert message.wait_done(WAIT) and message.state == "sent" and message.kind == "room"
    assert next_event(bob, RoomMessage).text == "hi all"
    assert next_event(alice, RoomMessage).sender == "Alice"  # the server echoes it back


def test_who_and_lookup(server: FakeServer, clients: list[ChatClient]) -> None:
    alice = connect(clients, server, "Alice")
    connect(clients, server, "Bob")
    assert [p.name for p in alice.who(WAIT)] == ["Alice", "Bob"]
    found = alice.lookup("bob", WAIT)
    assert (found.name, found.status, found.address) == ("Bob", "online", "127.0.0.1")
    assert isinstance(found.port, int) and found.since is not None
    assert alice.lookup("Zed", WAIT).status == "unknown"


def test_a_lookup_of_an_unsendable_name_fails_cleanly(server: FakeServer, clients: list[ChatClient]) -> None:
    alice = connect(clients, server, "Alice")
    with pytest.raises(RequestFailed):
        alice.lookup("bad\udcff", WAIT)
    assert alice.connected


def test_a_request_without_answer_times_out(silent: SilentServer) -> None:
    client = ChatClient("Alice", "127.0.0.1", silent.port)
    try:
        thread, _ = connect_in_background(client)
        hello = silent.accept_hello()
        silent.send(Welcome(hello.request_id, "Alice", 1, "raw", 15.0))
        thread.join(WAIT)
        with pytest.raises(RequestTimeout):
            client.who(timeout=0.2)
        assert client.connected  # a slow answer does not end the session
    finally:
        silent.close()  # this server never closes after a goodbye: spare close() its wait
        client.close()


# --- The end of the connection ----------------------------------------------------------


def test_the_server_closing_gives_one_connection_closed(server: FakeServer, clients: list[ChatClient]) -> None:
    alice = connect(clients, server, "Alice", reconnect=False)
    server.drop("Alice")
    assert alice.closed.wait(WAIT)
    events = drain(alice)
    assert events.count(ConnectionClosed()) == 1 and events[-1] == ConnectionClosed()
    assert not alice.connected
    assert alice.close_reason == "the server closed the connection"


def test_the_servers_goodbye_is_passed_on_then_the_end(server: FakeServer, clients: list[ChatClient]) -> None:
    alice = connect(clients, server, "Alice")
    server.shutdown("server shutting down")
    assert alice.closed.wait(WAIT)
    events = [e for e in drain(alice) if not isinstance(e, UserJoined)]
    assert events == [Goodbye("server shutting down"), ConnectionClosed()]
    assert alice.close_reason == "server shutting down"


def test_sending_after_the_server_vanished_gives_a_failed_tracker(server: FakeServer, clients: list[ChatClient]) -> None:
    alice = connect(clients, server, "Alice", reconnect=False)
    server.stop()
    assert alice.closed.wait(WAIT)
    message = alice.send_direct("Bob", "anyone?")
    assert message.state == "failed" and not message.submitted
    assert message.error is not None and message.error[0] == LocalError.NOT_CONNECTED
    assert alice.send_room("hello?").state == "failed"
    with pytest.raises(NotConnected):
        alice.who(WAIT)


def test_sending_while_the_server_vanishes_never_raises(server: FakeServer, clients: list[ChatClient]) -> None:
    alice = connect(clients, server, "Alice", reconnect=False)
    connect(clients, server, "Bob")
    server.stop()
    # Whatever the receiver has noticed yet, each message ends failed, none raises.
    messages = [alice.send_direct("Bob", f"m{i}") for i in range(50)]
    assert alice.closed.wait(WAIT)
    for message in messages:
        assert message.wait_done(WAIT)
        assert message.state == "failed"
        assert message.error is not None and message.error[0] in (LocalError.NOT_CONNECTED, LocalError.CONNECTION_LOST)


def test_unfinished_messages_fail_before_connection_closed() -> None:
    with FakeServer(deliver=False) as server:
        alice = ChatClient("Alice", server.host, server.port, reconnect=False)
        bob = ChatClient("Bob", server.host, server.port)
        try:
            alice.connect(timeout=WAIT)
            bob.connect(timeout=WAIT)
            message = alice.send_direct("Bob", "never delivered")
            assert message.wait({"sent"}, WAIT)
            server.drop("Alice")
            assert alice.closed.wait(WAIT)
            assert message.state == "failed" and message.error is not None
            assert message.error[0] == LocalError.CONNECTION_LOST
            tail = drain(alice)[-2:]
            assert isinstance(tail[0], MessageUpdate) and tail[0].message is message and tail[0].state == "failed"
            assert tail[1] == ConnectionClosed()
        finally:
            alice.close()
            bob.close()


def test_close_says_goodbye_and_is_idempotent(server: FakeServer, clients: list[ChatClient]) -> None:
    alice = connect(clients, server, "Alice")
    alice.close("bye now")
    alice.close()
    assert alice.closed.is_set()  # close() waited for the receiver
    assert server.wait_for(lambda name, e: name == "Alice" and isinstance(e, Goodbye))[1] == Goodbye("bye now")
    assert drain(alice).count(ConnectionClosed()) == 1
    assert alice.close_reason == "closed by this client"
    assert alice.send_direct("Bob", "late").state == "failed"


def test_close_before_connect_does_nothing() -> None:
    client = ChatClient("Alice", "127.0.0.1", free_port())
    client.close()
    assert not client.connected


def test_close_from_the_receiver_thread_does_not_deadlock(server: FakeServer, clients: list[ChatClient]) -> None:
    holder: list[ChatClient] = []

    def on_event(event: Event) -> None:
        if isinstance(event, RoomMessage):
            holder[0].close()

    alice = connect(clients, server, "Alice", on_event=on_event)
    holder.append(alice)
    alice.send_room("close yourself")
    assert alice.closed.wait(WAIT)


def test_the_client_can_reconnect_and_ids_stay_unique(server: FakeServer, clients: list[ChatClient]) -> None:
    alice = connect(clients, server, "Alice")
    first = alice.send_room("one")
    alice.close()
    server.wait_offline("Alice")  # its server notices the close in its own time
    assert alice.connect(timeout=WAIT).name == "Alice"
    assert not alice.closed.is_set()
    second = alice.send_room("two")
    assert second.wait_done(WAIT) and second.state == "sent"
    other = connect(clients, server, "Bob").send_room("three")
    ids = [first.request_id, second.request_id, other.request_id] + [h.request_id for h in server.received(Hello)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) <= 64 for i in ids)


def test_connect_twice_is_a_programming_error(server: FakeServer, clients: list[ChatClient]) -> None:
    alice = connect(clients, server, "Alice")
    with pytest.raises(RuntimeError):
        alice.connect(timeout=WAIT)


# --- Liveness and robustness ------------------------------------------------------------


def test_pings_from_the_server_are_answered(server: FakeServer, clients: list[ChatClient]) -> None:
    connect(clients, server, "Alice")
    server.send("Alice", Ping("are-you-there"))
    assert server.wait_for(lambda name, e: name == "Alice" and isinstance(e, Pong))[1] == Pong("are-you-there")


def test_a_silent_server_is_pinged_then_declared_lost(silent: SilentServer) -> None:
    client = ChatClient("Alice", "127.0.0.1", silent.port, heartbeat_interval=0.1, heartbeat_timeout=0.5,
                        reconnect=False)
    try:
        thread, _ = connect_in_background(client)
        hello = silent.accept_hello()
        silent.send(Welcome(hello.request_id, "Alice", 1, "raw", 15.0))
        thread.join(WAIT)
        assert isinstance(silent.expect(Ping), Ping)  # the client asked first...
        assert client.closed.wait(WAIT)               # ...then gave up on the silence
        assert "no data from the server" in client.close_reason
    finally:
        client.close()


@pytest.mark.logs_tracebacks("an on_event made to raise")
def test_an_exception_in_on_event_does_not_stop_the_client(server: FakeServer, clients: list[ChatClient]) -> None:
    seen: list[Event] = []

    def on_event(event: Event) -> None:
        seen.append(event)
        raise ValueError("application bug")

    alice = connect(clients, server, "Alice", on_event=on_event)
    bob = connect(clients, server, "Bob")
    assert bob.send_direct("Alice", "first").wait("delivered", WAIT)
    assert bob.send_direct("Alice", "second").wait("delivered", WAIT)
    assert [e.text for e in seen if isinstance(e, DirectMessage)] == ["first", "second"]
    assert alice.connected


def test_garbage_from_the_server_is_reported_not_fatal(server: FakeServer, clients: list[ChatClient]) -> None:
    alice = connect(clients, server, "Alice")
    server.send_raw("Alice", b"{not json}\n" + b'{"type":"dm","msg_id":"x"}\n')
    first = next_event(alice, FrameRejected)
    second = next_event(alice, FrameRejected)
    assert (first.code, second.code) == ("bad_json", "bad_field")
    assert alice.who(WAIT)  # still works


def test_a_login_refused_while_failing_over_names_the_server_that_refused_it(clients: list[ChatClient]) -> None:
    """Failing over from a killed cluster node, the terminal alternated "! connection lost;
    reconnecting in 0.9 s (attempt 4): connection to 127.0.0.1:5001 refused: is the chat
    server running?" with "... (attempt 5): login refused: the name Gil is yours, but your
    earlier session still holds it ...": the second read as the dead server's too, while
    it was the live one's answer, the one the client was about to log in on. With several
    servers, a refused login names the server that refused it."""
    events: list[Event] = []
    with FakeServer() as first, FakeServer(refuse=("unavailable", "busy")) as second:
        gil = ChatClient("Gil", servers=[(first.host, first.port), (second.host, second.port)],
                         reconnect_delay=0.05, reconnect_max_delay=0.2, on_event=events.append)
        clients.append(gil)
        gil.connect(timeout=WAIT)
        first.stop()
        wait_until(lambda: any(isinstance(e, Reconnecting) and "busy" not in e.reason and "storage" in e.reason
                               for e in events), WAIT, "a reconnection line after the second server's refusal")
    reasons = [e.reason for e in events if isinstance(e, Reconnecting) and "storage" in e.reason]
    assert reasons[0].startswith(f"login refused by {second.host}:{second.port}: the server cannot use its storage"), reasons
    # The line says the client's own wait: never "try again later", as if it had stopped.
    assert "try again" not in reasons[0] and reasons[0].endswith("the client tries again by itself"), reasons
    assert all(f"{first.host}:{first.port}" in e.reason for e in events
               if isinstance(e, Reconnecting) and "refused" in e.reason and "storage" not in e.reason), events
