"""The session state table: who may send what when, locally (raises) and remotely (rejected)."""

from __future__ import annotations

import pytest

from helpers import HELLO, SAMPLES, WELCOME, ConnectionPair, open_pair
from protocol import (
    Accepted, Connection, ConnectionClosed, DirectMessage, ErrorCode, FrameRejected, Goodbye, Hello,
    LocalProtocolError, Ping, Pong, Role, SendDirect, SendRoom, State, Welcome,
)
from protocol import codec

# Written out from the table in the docstring of protocol/connection.py, by wire type.
SENDABLE = {
    ("client", "HANDSHAKE"): {"hello", "ping", "pong", "bye"},
    ("client", "OPEN"): {"send", "say", "receipt", "ack", "who", "whois", "register", "history", "block",
                         "unblock", "blocks", "watch", "unwatch", "ping", "pong", "bye", "revoke", "password", "unregister",
                         "edit", "delete", "edit_receipt", "settings", "read", "typing", "since"},
    ("server", "HANDSHAKE"): {"welcome", "error", "ping", "pong", "bye"},
    ("server", "OPEN"): {"accepted", "queued", "delivered", "ok", "history_page", "error", "dm", "room", "joined", "left", "users",
                         "user", "ping", "pong", "bye", "skipped", "watching", "blocking", "sent",
                         "edited", "deleted", "read", "typing", "settings", "since_page", "blocked", "unblocked",
                         "catch_up"},
    # After the client's bye (or the end of its stream): the server's answers to what it
    # read before, nothing else.
    ("client", "CLOSING"): set(),
    ("server", "CLOSING"): {"accepted", "queued", "delivered", "ok", "history_page", "error", "users", "user",
                            "pong", "watching", "blocking", "settings", "since_page"},
    ("client", "CLOSED"): set(),
    ("server", "CLOSED"): set(),
}
# What protocol version 2 (rooms) adds in OPEN, by wire type: "send" with "room" and
# "room" with "room" are new events of old types (their SINCE says so).
SENDABLE_SINCE_2 = {
    "client": {"join", "leave", "rooms", "members", "send", "invite", "topic", "kick", "ban", "unban", "mute",
               "unmute", "appoint", "mode"},
    "server": {"room_info", "room_list", "member_list", "room", "room_notice"},
}


def _allowed(role: str, state: str, version: int, event) -> bool:
    if event.SINCE > version:
        return False
    return event.TYPE in SENDABLE[(role, state)] or (
        state == "OPEN" and version >= 2 and event.TYPE in SENDABLE_SINCE_2[role])


def _in_state(pair: ConnectionPair, state: str, version: int = 1) -> ConnectionPair:
    """Drive ``pair`` (fresh) into ``state`` on both sides, at protocol ``version``: CLOSING
    by the client's bye, CLOSED by the server's."""
    if state in ("OPEN", "CLOSING", "CLOSED"):
        pair.send(pair.client, Hello(HELLO.request_id, HELLO.name, version))
        pair.send(pair.server, Welcome(WELCOME.request_id, WELCOME.name, version, WELCOME.server, WELCOME.heartbeat))
    if state == "CLOSING":
        assert pair.send(pair.client, Goodbye("done")) == [Goodbye("done")]
    if state == "CLOSED":
        assert pair.send(pair.server, Goodbye("done")) == [Goodbye("done")]
    assert pair.client.state is State[state] and pair.server.state is State[state]
    return pair


def _id(event):
    return type(event).__name__


# Each (role, state, version) is one test that tries every sample event and lists every
# one that went against the table (one test per event cost the quick suite seconds).
CASES = [(role, state, version) for (role, state) in SENDABLE
         for version in ((1, 2) if state == "OPEN" else (1,))]
_IDS = [f"{r}-{s}-v{v}" for r, s, v in CASES]


def _send_goes_wrong(role, state, version, event) -> str | None:
    """How sending ``event`` went against the table, or None."""
    conn = getattr(_in_state(ConnectionPair(), state, version=version), role)
    if _allowed(role, state, version, event):
        sent = conn.send(event)
        return None if sent == codec.encode(event) else f"sent {sent!r}"
    try:
        conn.send(event)
    except LocalProtocolError:
        return None if conn.state is State[state] else f"refused, but the state became {conn.state}"
    return "sent, though the table forbids it"


def _receive_goes_wrong(role, state, version, event) -> str | None:
    """How receiving ``event`` from ``role`` went against the table, or None."""
    pair = _in_state(ConnectionPair(), state, version=version)
    receiver = pair.peer(getattr(pair, role))
    receiver.receive_data(codec.encode(event))
    got = list(receiver.events())
    if len(got) != 1:
        return f"events {got!r}"
    [got] = got
    if _allowed(role, state, version, event):
        return None if got == event else f"got {got!r}"
    if type(got) is not FrameRejected:
        return f"taken as {got!r}, though the table forbids it"
    if event.SENDER not in (role, "both"):
        expected = ErrorCode.UNKNOWN_TYPE  # this role never sends it
    elif state == "OPEN" and event.SINCE > version:
        expected = ErrorCode.UNKNOWN_TYPE  # as it was to a peer of that version
    elif state == "OPEN":
        expected = ErrorCode.ALREADY_LOGGED_IN
    else:
        expected = ErrorCode.NOT_LOGGED_IN
    if (got.code, got.request_id) != (expected, getattr(event, "request_id", None)):
        return f"rejected as {got.code} for request {got.request_id!r}"
    return None if receiver.state is State[state] else f"rejected, but the state became {receiver.state}"


@pytest.mark.parametrize("role,state,version", CASES, ids=_IDS)
def test_send_follows_the_table(role, state, version):
    wrong = {_id(event): why for event in SAMPLES if (why := _send_goes_wrong(role, state, version, event))}
    assert not wrong, wrong


@pytest.mark.parametrize("role,state,version", CASES, ids=_IDS)
def test_receive_follows_the_table(role, state, version):
    wrong = {_id(event): why for event in SAMPLES if (why := _receive_goes_wrong(role, state, version, event))}
    assert not wrong, wrong


def test_client_cannot_send_direct_before_welcome():
    pair = ConnectionPair()
    pair.send(pair.client, HELLO)
    with pytest.raises(LocalProtocolError):
        pair.client.send(SendDirect("r1", "bob", "too early"))
    assert pair.client.state is State.HANDSHAKE


def test_server_rejects_send_before_hello_with_the_request_id():
    server = Connection(Role.SERVER)
    server.receive_data(codec.encode(SendDirect("r7", "bob", "hi")))
    [rejected] = server.events()
    assert (rejected.code, rejected.request_id) == (ErrorCode.NOT_LOGGED_IN, "r7")
    assert server.state is State.HANDSHAKE


def test_server_rejects_a_second_hello_after_welcome():
    pair = open_pair()
    pair.server.receive_data(codec.encode(Hello("h2", "other", 1)))
    [rejected] = pair.server.events()
    assert (rejected.code, rejected.request_id) == (ErrorCode.ALREADY_LOGGED_IN, "h2")
    assert pair.server.state is State.OPEN


def test_server_cannot_send_direct_message_in_handshake():
    server = Connection(Role.SERVER)
    with pytest.raises(LocalProtocolError):
        server.send(DirectMessage(1, "a", "b", "x", 1.0))


@pytest.mark.parametrize("state", ["HANDSHAKE", "OPEN", "CLOSED"])
def test_client_can_never_send_welcome(state):
    client = _in_state(ConnectionPair(), state).client
    with pytest.raises(LocalProtocolError):
        client.send(WELCOME)
    assert client.state is State[state]


@pytest.mark.parametrize("event", SAMPLES, ids=_id)
def test_nothing_can_be_sent_after_the_servers_goodbye(event):
    pair = _in_state(ConnectionPair(), "CLOSED")
    for conn in (pair.client, pair.server):
        with pytest.raises(LocalProtocolError):
            conn.send(event)


@pytest.mark.parametrize("event", SAMPLES, ids=_id)
def test_after_the_clients_goodbye_only_the_servers_answers_pass(event):
    """A send and a bye in one write: the send's accepted still reaches the client."""
    pair = _in_state(ConnectionPair(), "CLOSING")
    with pytest.raises(LocalProtocolError):
        pair.client.send(event)
    if event.TYPE in SENDABLE[("server", "CLOSING")] and event.SENDER in ("server", "both"):
        assert pair.send(pair.server, event) == [event]
    else:
        with pytest.raises(LocalProtocolError):
            pair.server.send(event)
    assert pair.client.state is State.CLOSING and pair.server.state is State.CLOSING


def test_the_end_of_the_clients_stream_leaves_the_server_its_answers():
    """A send, then the client closes its writing side: the server may still answer it."""
    pair = open_pair()
    pair.server.receive_data(codec.encode(SendDirect("r1", "bob", "last words")))
    pair.server.receive_data(b"")
    assert list(pair.server.events()) == [SendDirect("r1", "bob", "last words"), ConnectionClosed()]
    pair.client.receive_data(pair.server.send(Accepted("r1", 17)))
    assert list(pair.client.events()) == [Accepted("r1", 17)]
    with pytest.raises(LocalProtocolError):
        pair.server.send(DirectMessage(18, "bob", "alice", "too late", 1.0))


def test_goodbye_in_handshake_closes_both_sides():
    pair = ConnectionPair()
    assert pair.send(pair.server, Goodbye("shutting down")) == [Goodbye("shutting down")]
    assert pair.client.state is State.CLOSED and pair.server.state is State.CLOSED


def test_client_welcome_moves_client_to_open_and_server_send_moves_server():
    pair = ConnectionPair()
    pair.send(pair.client, HELLO)
    assert pair.server.state is State.HANDSHAKE  # hello alone opens nothing
    data = pair.server.send(WELCOME)
    assert pair.server.state is State.OPEN and pair.client.state is State.HANDSHAKE
    pair.client.receive_data(data)
    assert list(pair.client.events()) == [WELCOME]
    assert pair.client.state is State.OPEN


@pytest.mark.parametrize("event", [
    Welcome("h1", "zo\ud800", 1, "s", 15.0),
    Welcome("h1", "zoë", 1, "s", float("nan")),
    Goodbye("bye \udfff"),
])
def test_a_send_that_fails_to_encode_changes_no_state(event):
    server = Connection(Role.SERVER)
    with pytest.raises(Exception):
        server.send(event)
    assert server.state is State.HANDSHAKE


# --- Ping / Pong -------------------------------------------------------------------------


@pytest.mark.parametrize("sender", ["client", "server"])
@pytest.mark.parametrize("state", ["HANDSHAKE", "OPEN"])
@pytest.mark.parametrize("token", ["", "t-1", "tök-🌍"])
def test_ping_from_the_peer_is_answered_with_a_pong(sender, state, token):
    pair = _in_state(ConnectionPair(), state)
    sending = getattr(pair, sender)
    receiver = pair.peer(sending)
    assert receiver.data_to_send() == b""
    assert pair.send(sending, Ping(token)) == [Ping(token)]
    pong = receiver.data_to_send()
    assert pong == codec.encode(Pong(token))
    assert receiver.data_to_send() == b""  # the outbox is emptied
    sending.receive_data(pong)
    assert list(sending.events()) == [Pong(token)]
    assert sending.data_to_send() == b""  # a pong is not answered


def test_several_pings_get_pongs_in_order():
    pair = open_pair()
    pair.send(pair.server, Ping("a"), Ping("b"), Ping("c"))
    assert pair.client.data_to_send() == b"".join(codec.encode(Pong(t)) for t in "abc")


@pytest.mark.parametrize("raw", [
    b'{"type":"ping","token":5}',
    b'{"type":"ping","token":"' + b"t" * 65 + b'"}',
])
def test_rejected_ping_gets_no_pong(raw):
    server = open_pair().server
    server.receive_data(raw + b"\n")
    [rejected] = server.events()
    assert rejected.code == ErrorCode.BAD_FIELD
    assert server.data_to_send() == b""


def test_ping_after_goodbye_gets_no_pong():
    pair = _in_state(ConnectionPair(), "CLOSED")
    pair.server.receive_data(codec.encode(Ping("late")))
    [rejected] = pair.server.events()
    assert rejected.code == ErrorCode.NOT_LOGGED_IN
    assert pair.server.data_to_send() == b""


def test_frames_after_eof_close_the_session_for_sending():
    pair = open_pair()
    pair.client.receive_data(b"")
    assert list(pair.client.events()) == [ConnectionClosed()]
    with pytest.raises(LocalProtocolError):
        pair.client.send(SendRoom("r", "anyone?"))


def test_a_server_given_a_clock_says_its_time_in_every_pong():
    """PROTOCOL.md, "Either direction": a server's ``pong`` carries ``now`` (its wall
    clock, ms since the epoch), from the clock it was given; a client's has none."""
    server = Connection(Role.SERVER, clock=lambda: 1_795_000_000_123)
    server.receive_data(codec.encode(Ping("t")))
    assert list(server.events()) == [Ping("t")]
    assert server.data_to_send() == codec.encode(Pong("t", now=1_795_000_000_123))
