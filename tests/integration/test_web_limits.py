"""The web port's WebSocket under its limits: tiny frames, binary messages, the echo path.

The real server runs in a thread (ServerThread) with its web port on 127.0.0.1, port 0; the
tests talk to it with raw frames (several in one write: one read on the server) and look at
the session's state through the server's loop. Every wait has a deadline.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import const
from cdp import BINARY, WebSocketClient, WebSocketClosed
from chatpeer import WebPeer
from protocol import ErrorReply
from server import ServerConfig, ServerThread
from waits import wait_until
from web.websocket.frames import Opcode, serialize_frame

TIMEOUT = 5.0


def masked(opcode: Opcode, payload: bytes = b"", fin: bool = True) -> bytes:
    """One client frame, to send several in a single write (one read on the server)."""
    return serialize_frame(opcode, payload, fin=fin, mask=b"\x12\x34\x56\x78")


@contextmanager
def browser(config: ServerConfig, name: str) -> Iterator[tuple[ServerThread, WebPeer]]:
    """A server on ``config`` with ``name`` logged in over its WebSocket."""
    with ServerThread(config) as srv:
        port = srv.server.web_address[1]
        peer = WebPeer(f"ws://127.0.0.1:{port}/ws", timeout=TIMEOUT)
        try:
            peer.login(name)
            yield srv, peer
        finally:
            peer.close()


def chat_ping(token: str) -> bytes:
    return masked(Opcode.TEXT, json.dumps({"type": "ping", "token": token}).encode())


def frames_until_chat_pong(peer: WebPeer, token: str) -> list[tuple[int, bytes]]:
    """The frames the server sends up to the chat pong with ``token``, as (opcode, payload)."""
    frames = []
    while True:
        _fin, opcode, payload = peer.ws.recv_frame(TIMEOUT)
        frames.append((opcode, payload))
        if opcode == Opcode.TEXT and json.loads(payload).get("token") == token:
            return frames


# --- Tiny frames ----------------------------------------------------------------------------


def test_a_read_of_a_thousand_pings_gets_one_pong_for_the_latest() -> None:
    # Each of 44,000 empty pings a second had its own pong written (RFC 6455 5.5.3 lets
    # the server answer the most recent only).
    with browser(ServerConfig(host="127.0.0.1", port=0, web_port=0), "Pinger") as (_srv, peer):
        peer.ws.sock.sendall(masked(Opcode.PING) * 999 + masked(Opcode.PING, b"last") + chat_ping("after"))
        pongs = [payload for opcode, payload in frames_until_chat_pong(peer, "after") if opcode == Opcode.PONG]
        # (Two if TCP split the 6 KB write in two reads.)
        assert pongs[-1] == b"last" and len(pongs) <= 2, pongs


def test_every_websocket_frame_costs_the_read_budget_its_minimum() -> None:
    # 2,000 empty pings are 12,000 bytes, under what is read before the budget is looked at
    # (read_check_bytes, 64 KiB); at READ_BYTES_MIN_PER_FRAME each they are
    # 128,000: more than the burst, so the server stops reading this connection.
    assert const.READ_BYTES_MIN_PER_FRAME == 64
    config = ServerConfig(host="127.0.0.1", port=0, web_port=0, rate_per_connection=1.0,
                          read_bytes_per_connection=1024, read_bytes_burst_per_connection=16 * 1024)
    with browser(config, "Pinger") as (srv, peer):
        [session] = [s for s in srv.server.relay.sessions if s.name == "Pinger"]
        assert srv.call(lambda: session.transport.is_reading())
        peer.ws.sock.sendall(masked(Opcode.PING) * 2000 + chat_ping("after"))
        frames_until_chat_pong(peer, "after")  # read and handled
        assert not srv.call(lambda: session.transport.is_reading())


# --- The log stays small ----------------------------------------------------------------


def close_code(ws: WebSocketClient) -> int | None:
    """Read (and drop) messages until the server's close frame; return its code."""
    with pytest.raises(WebSocketClosed) as closed:
        while True:
            ws.recv(TIMEOUT)
    return closed.value.code


def test_binary_messages_from_one_address_make_one_log_line_then_a_summary(caplog) -> None:
    # Each connection that sent a binary message wrote its own line, never summarised.
    count = 30
    caplog.set_level(logging.INFO, logger="chat.server")
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, web_port=0)) as srv:
        port = srv.server.web_address[1]
        for _ in range(count):
            ws = WebSocketClient(f"ws://127.0.0.1:{port}/ws", timeout=TIMEOUT)
            try:
                ws.send_frame(BINARY, b'{"type":"who","id":"1"}')
                assert close_code(ws) == 1003
            finally:
                ws.close()
        wait_until(lambda: not srv.call(lambda: srv.server.relay.sessions), what="the connections gone")
        during = [r.getMessage() for r in caplog.records]
    after = [r.getMessage() for r in caplog.records]
    assert sum("binary message" in line for line in during) == 1, during
    assert f"{count - 1} more binary messages from 127.0.0.1" in "\n".join(after), after


# --- The echo path ------------------------------------------------------------------------


@pytest.mark.parametrize("timeouts, partial", [
    pytest.param({"heartbeat_timeout": 1.0}, False, id="idle"),
    pytest.param({"frame_timeout": 1.0}, True, id="a message left unfinished"),
])
def test_an_echo_connection_has_the_chat_websockets_time_limits(timeouts: dict, partial: bool) -> None:
    # The echo path's idle timer was cancelled at the upgrade and the relay's sweeper never
    # sees an echo connection: one that sent nothing, or half a message, stayed for ever.
    config = ServerConfig(host="127.0.0.1", port=0, web_port=0, web_echo=True,
                          **{"heartbeat_interval": 10.0, "heartbeat_timeout": 30.0, "frame_timeout": 30.0, **timeouts})
    with ServerThread(config) as srv:
        ws = WebSocketClient(f"ws://127.0.0.1:{srv.server.web_address[1]}/echo", timeout=TIMEOUT)
        try:
            ws.send_text("echo")
            assert ws.recv(TIMEOUT) == (1, b"echo")
            if partial:
                ws.send_frame(1, b'{"type":', fin=False)
            assert close_code(ws) == 1008
            ws.wait_closed()
        finally:
            ws.close()


# --- Close codes ------------------------------------------------------------------------------


def errors_then_close_code(ws: WebSocketClient) -> tuple[list[str], int | None]:
    """The codes of the chat errors the server sends until its close frame, and its code."""
    codes = []
    try:
        while True:
            frame = json.loads(ws.recv_text(TIMEOUT))
            if frame.get("type") == "error":
                codes.append(frame["code"])
    except WebSocketClosed as closed:
        return codes, closed.code


def hello(version: int = const.PROTOCOL_VERSION) -> str:
    return json.dumps({"type": "hello", "id": "h", "name": "Bob", "version": version})


@pytest.mark.parametrize("send, error", [
    pytest.param(["not json"] * 3, "too_many_errors", id="too many malformed frames"),
    pytest.param([hello(version=99)], "unsupported_version", id="an unsupported version"),
])
def test_a_client_dropped_for_breaking_a_rule_gets_close_code_1008(send: list[str], error: str) -> None:
    # RFC 6455 7.4.1: 1008, policy violation (these were closed with 1000, normal closure).
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, web_port=0, max_bad_frames=3)) as srv:
        ws = WebSocketClient(f"ws://127.0.0.1:{srv.server.web_address[1]}/ws", timeout=TIMEOUT)
        try:
            for text in send:
                ws.send_text(text)
            codes, code = errors_then_close_code(ws)
            assert (codes[-1], code) == (error, 1008), codes
        finally:
            ws.close()


def test_a_browser_that_gives_way_to_a_newcomer_gets_close_code_1008() -> None:
    config = ServerConfig(host="127.0.0.1", port=0, web_port=0, max_connections_per_address=1)
    with ServerThread(config) as srv:
        url = f"ws://127.0.0.1:{srv.server.web_address[1]}/ws"
        ws = WebSocketClient(url, timeout=TIMEOUT)  # upgraded, not logged in: it gives way
        try:
            newcomer = WebPeer(url, timeout=TIMEOUT)
            try:
                codes, code = errors_then_close_code(ws)
                assert (codes[-1], code) == ("too_many_connections", 1008), codes
                assert newcomer.login("Ana").name == "Ana"
            finally:
                newcomer.close()
        finally:
            ws.close()


# --- The message limit --------------------------------------------------------------------------


def test_a_message_the_chat_frame_limit_would_refuse_is_closed_with_1009_and_one_byte_less_is_read() -> None:
    # A chat frame is at most MAX_FRAME_BYTES with its newline, which a WebSocket message
    # goes without: a message of exactly MAX_FRAME_BYTES got the chat error frame_too_large,
    # not the close 1009 PROTOCOL.md promises for a message over the limit.
    with browser(ServerConfig(host="127.0.0.1", port=0, web_port=0), "Bob") as (_srv, peer):
        peer.ws.send_text("x" * (const.MAX_FRAME_BYTES - 1))  # the largest: read, and not JSON
        assert peer.expect(ErrorReply).code == "bad_json"
        peer.ws.send_text("x" * const.MAX_FRAME_BYTES)
        try:
            said: str | int | None = peer.expect(ErrorReply).code
        except WebSocketClosed as closed:
            said = closed.code
        assert said == 1009
