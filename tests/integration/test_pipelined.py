"""Frames a client sends in the same write, on a real server: each is judged in its order.

A client may send its hello and, without waiting for the welcome, what it has to say (its
offline queue, a ``who``). A hello with a password is checked off the loop (scrypt), and
the frames behind it must wait for that check: judged as a logged-in session's after a
welcome, as a stranger's after a refusal. Over TCP and over WebSocket alike. A pong goes
out in its place among the answers, before those to the frames behind its ping, a bye's
included. Raw sockets, so that the bytes really go in one write.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

from cdp import TEXT, WebSocketClient, _apply_mask
from logins import leave, login
from protocol import (
    Accepted, Delivered, DirectMessage, ErrorCode, ErrorReply, LookupResult, Pong, Receipt, UserJoined, UserLeft,
    UserList, Welcome,
)
from server.outbox import WriteBatcher
from server.web import start_web_server, stop_web_server
from servers import in_thread
from wire import WireClient

PASSWORD = "senha-do-xavier-123"
NOTICES = (UserJoined, UserLeft)


def frames(*objects: dict) -> bytes:
    """The chat frames of ``objects``, one line each, as one client write holds them."""
    return b"".join(json.dumps(obj).encode("utf-8") + b"\n" for obj in objects)


def pipelined(password: str) -> tuple[dict, ...]:
    """A hello as Xavier with ``password``, then a message to Yara and a ``who``."""
    return ({"type": "hello", "id": "h", "name": "Xavier", "version": 1, "password": password},
            {"type": "send", "id": "pipe-1", "to": "Yara", "text": "depois do hello"},
            {"type": "who", "id": "w"})


def answers(client: WireClient, count: int) -> list:
    """The next ``count`` events that are not presence notices."""
    got = []
    while len(got) < count:
        event = client.next()
        if not isinstance(event, NOTICES):
            got.append(event)
    return got


@pytest.fixture
def server(tmp_path):
    with in_thread(tmp_path / "data", login_failure_delay=0.2) as srv:
        with login(srv, "Xavier", PASSWORD, register=True) as xavier:
            leave(xavier)
        yield srv


def test_frames_after_a_password_hello_wait_for_its_welcome(server):
    with login(server, "Yara") as yara, WireClient(server.host, server.port) as xavier:
        xavier.send_raw(frames(*pipelined(PASSWORD)))
        first, *rest = answers(xavier, 3)
        assert isinstance(first, Welcome) and first.registered, first
        assert not [event for event in rest if isinstance(event, ErrorReply)], rest
        accepted = next(event for event in rest if isinstance(event, Accepted))
        assert accepted.request_id == "pipe-1"
        who = next(event for event in rest if isinstance(event, UserList))
        assert {"Xavier", "Yara"} <= {user.name for user in who.users}
        dm = yara.expect(DirectMessage, skip=NOTICES)
        assert (dm.sender, dm.text, dm.msg_id) == ("Xavier", "depois do hello", accepted.msg_id)


def test_frames_after_a_refused_password_hello_are_a_strangers(server):
    with login(server, "Yara") as yara, WireClient(server.host, server.port) as xavier:
        xavier.send_raw(frames(*pipelined("not-the-password")))
        refusal, send, who = answers(xavier, 3)
        assert (refusal.code, refusal.request_id) == (ErrorCode.BAD_PASSWORD, "h"), refusal
        assert (send.code, send.request_id) == (ErrorCode.NOT_LOGGED_IN, "pipe-1"), send
        assert (who.code, who.request_id) == (ErrorCode.NOT_LOGGED_IN, "w"), who
        assert not [event for event in yara.drain() if isinstance(event, DirectMessage)]


@pytest.fixture
def gateway(server):
    """The web gateway on the server's loop: its port."""
    async def start():
        return await start_web_server(server.server.relay, "127.0.0.1", 0,
                                      batcher=WriteBatcher(asyncio.get_running_loop()))
    web = server.run(start())
    yield web.sockets[0].getsockname()[1]
    server.run(stop_web_server(web))


def ws_messages(*objects: dict) -> bytes:
    """One masked WebSocket text message per object, as one client write holds them."""
    out = b""
    for obj in objects:
        payload = json.dumps(obj).encode("utf-8")
        assert len(payload) < 126
        mask = os.urandom(4)
        out += bytes([0x80 | TEXT, 0x80 | len(payload)]) + mask + _apply_mask(payload, mask)
    return out


def ws_answers(ws: WebSocketClient, count: int) -> list[dict]:
    """The next ``count`` chat frames that are not presence notices, as JSON objects."""
    got: list[dict] = []
    deadline = time.monotonic() + 10
    while len(got) < count:
        frame = ws.recv_json(max(0.01, deadline - time.monotonic()))
        if frame["type"] not in ("joined", "left"):
            got.append(frame)
    return got


@pytest.mark.parametrize("password", [PASSWORD, "not-the-password"])
def test_websocket_messages_after_a_password_hello_wait_for_its_outcome(server, gateway, password):
    with login(server, "Yara") as yara:
        ws = WebSocketClient(f"ws://127.0.0.1:{gateway}/ws")
        try:
            ws.sock.sendall(ws_messages(*pipelined(password)))
            first, *rest = ws_answers(ws, 3)
        finally:
            ws.sock.close()
        if password == PASSWORD:
            assert first["type"] == "welcome", first
            assert sorted(frame["type"] for frame in rest) == ["accepted", "users"], rest
            assert yara.expect(DirectMessage, skip=NOTICES).text == "depois do hello"
        else:
            assert [(frame.get("code"), frame.get("id")) for frame in (first, *rest)] == [
                (ErrorCode.BAD_PASSWORD, "h"), (ErrorCode.NOT_LOGGED_IN, "pipe-1"), (ErrorCode.NOT_LOGGED_IN, "w")]


# --- Answers in the order of the requests -------------------------------------------------


def test_a_pong_comes_before_the_answers_to_the_frames_after_its_ping(server):
    with WireClient(server.host, server.port) as stranger:
        stranger.send_raw(frames({"type": "ping", "token": "a"}, {"type": "who", "id": "w"},
                                 {"type": "ping", "token": 1}, {"type": "ping", "token": "b"}))
        pong, refused, bad, last = answers(stranger, 4)
        assert isinstance(pong, Pong) and pong.token == "a", pong
        assert (refused.code, refused.request_id) == (ErrorCode.NOT_LOGGED_IN, "w"), refused
        assert bad.code == ErrorCode.BAD_FIELD, bad
        assert isinstance(last, Pong) and last.token == "b", last


def test_a_bye_after_a_ping_in_the_same_write_gets_its_pong_first(server):
    with WireClient(server.host, server.port) as stranger:
        stranger.send_raw(frames({"type": "ping", "token": "a"}, {"type": "bye"}))
        closed = stranger.wait_closed()
        assert closed == [Pong("a", closed[0].now)] and type(closed[0].now) is int, closed  # now: the server's clock
    with login(server, "Yara") as yara:
        yara.send_raw(frames({"type": "ping", "token": "b"}, {"type": "whois", "id": "w", "name": "Yara"},
                             {"type": "bye"}))
        before = [event for event in yara.wait_closed() if not isinstance(event, NOTICES)]
        assert [type(event) for event in before] == [Pong, LookupResult], before


def test_a_send_right_before_a_bye_is_delivered_and_its_outcome_comes_at_the_next_login(server):
    # What PROTOCOL.md ("Session") says of a bye behind a send: its accepted may not come,
    # the message is stored and delivered, its outcome told at the next login.
    with login(server, "Yara") as yara:
        with login(server, "Zacarias") as zacarias:
            zacarias.send_raw(frames({"type": "ping", "token": "a"},
                                     {"type": "send", "id": "last-words", "to": "Yara", "text": "tchau"},
                                     {"type": "bye"}))
            before = [event for event in zacarias.wait_closed() if not isinstance(event, NOTICES)]
            assert before[:1] == [Pong("a", before[0].now)] and type(before[0].now) is int, before
        dm = yara.expect(DirectMessage, skip=NOTICES)
        assert (dm.sender, dm.text) == ("Zacarias", "tchau")
        yara.send(Receipt(dm.msg_id))
        with login(server, "Zacarias") as zacarias:
            delivered = zacarias.expect(Delivered, skip=NOTICES)
            assert (delivered.request_id, delivered.msg_id) == ("last-words", dm.msg_id)
