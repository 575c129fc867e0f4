"""The smaller frame limit before the welcome (const.MAX_LOGIN_FRAME_BYTES), on chat TCP and on
the WebSocket: a connection that has not logged in cannot make the server hold a 64 KiB buffer
until its login timeout, while the largest hello a client can send still fits, and every frame
after the welcome has the whole const.MAX_FRAME_BYTES (PROTOCOL.md, "Limits").

The real server runs in a thread on 127.0.0.1, port 0; every wait has a deadline.
"""

from __future__ import annotations

import ssl

import pytest

import const
from cdp import WebSocketClosed
from chatpeer import Peer, TcpPeer, WebPeer
from protocol import ChangePassword, Done, ErrorCode, ErrorReply, Hello, Pong, Welcome
from protocol.events import FEATURES
from server import ServerConfig, ServerThread
from test_tls import make_certificate
from web.websocket.frames import Opcode, serialize_frame

TIMEOUT = 5.0
# The longest name by the naming rules (32 characters), each two bytes of UTF-8.
LONGEST_NAME = "Ж" * const.MAX_NAME_LENGTH
# The longest password, each character escaped in JSON as six bytes (\u0001).
LONGEST_PASSWORD = "\x01" * const.MAX_PASSWORD_CHARS
LONGEST_ID = "i" * 64


def masked(opcode: Opcode, payload: bytes) -> bytes:
    """One client frame, to send several in a single write (one read on the server)."""
    return serialize_frame(opcode, payload, fin=True, mask=b"\x12\x34\x56\x78")


def _padded_ping(token: str, size: int) -> bytes:
    """A ping frame of exactly ``size`` bytes, its newline included (JSON whitespace pads it)."""
    head, tail = b'{"type":"ping","token":"' + token.encode() + b'"', b"}\n"
    return head + b" " * (size - len(head) - len(tail)) + tail


def _peers(srv: ServerThread) -> dict[str, object]:
    return {"tcp": lambda: TcpPeer(srv.host, srv.port, TIMEOUT),
            "web": lambda: WebPeer(f"ws://127.0.0.1:{srv.server.web_address[1]}/ws", timeout=TIMEOUT)}


def _largest_hello(peer: Peer, name: str, password: str, register: bool, resume: str | None) -> Welcome:
    hello = Hello(LONGEST_ID, name, const.PROTOCOL_VERSION, password, register, resume, FEATURES)
    frame = peer.conn.send(hello)
    assert len(frame) > 6000, len(frame)  # near the largest (an earlier audit measured 6,751 bytes)
    peer._write(frame)
    return peer.expect(Welcome, TIMEOUT)


def _send_big(peer: Peer, frame: bytes) -> None:
    if isinstance(peer, WebPeer):
        peer.ws.send_text(frame[:-1].decode())  # one message, however long
    else:
        peer._write(frame)


def test_a_frame_over_the_login_limit_before_the_welcome_is_refused_on_tcp_and_the_connection_goes_on():
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, web_port=0)) as srv:
        peer = TcpPeer(srv.host, srv.port, TIMEOUT)
        try:
            peer._write(_padded_ping("small", const.MAX_LOGIN_FRAME_BYTES))  # the largest: read
            assert peer.expect(Pong, TIMEOUT).token == "small"
            peer._write(_padded_ping("big", const.MAX_LOGIN_FRAME_BYTES + 1))
            refused = peer.expect(ErrorReply, TIMEOUT)
            assert refused.code == ErrorCode.FRAME_TOO_LARGE
            assert str(const.MAX_LOGIN_FRAME_BYTES) in refused.message, refused.message
            assert peer.login("Alice").name == "Alice"
        finally:
            peer.close()


def test_a_message_over_the_login_limit_before_the_welcome_closes_the_websocket_with_1009():
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, web_port=0)) as srv:
        peer = _peers(srv)["web"]()
        try:
            # A message is a frame without its newline: one byte less than the frame limit.
            _send_big(peer, _padded_ping("small", const.MAX_LOGIN_FRAME_BYTES))
            assert peer.expect(Pong, TIMEOUT).token == "small"
            _send_big(peer, _padded_ping("big", const.MAX_LOGIN_FRAME_BYTES + 1))
            try:
                said: object = peer.expect(ErrorReply, TIMEOUT).code
            except WebSocketClosed as closed:
                said = closed.code
            assert said == 1009
        finally:
            peer.close()


@pytest.mark.parametrize("transport", ["tcp", "web"])
def test_the_largest_hello_is_welcomed_and_after_it_a_frame_has_the_whole_limit(transport):
    old, new = LONGEST_PASSWORD, LONGEST_PASSWORD[:-1] + "\x02"
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, web_port=0)) as srv:
        make = _peers(srv)[transport]
        first = make()
        try:
            registered = _largest_hello(first, LONGEST_NAME, old, True, None)
            assert registered.resume
            _send_big(first, _padded_ping("after", 60 * 1024))
            assert first.expect(Pong, TIMEOUT).token == "after"
            # Old and new passwords of the longest (12 KB of escapes), after the welcome.
            first.send(ChangePassword("pw", old, new, registered.resume))
            assert first.expect((Done, ErrorReply), TIMEOUT).request_id == "pw"
        finally:
            first.close()
        again = make()
        try:
            # With the resume credential too: the longest hello a client of ours sends.
            assert _largest_hello(again, LONGEST_NAME, new, False, registered.resume).name == LONGEST_NAME
        finally:
            again.close()


@pytest.mark.parametrize("transport", ["tcp", "web"])
@pytest.mark.parametrize("password", [None, "correct horse"], ids=["guest", "account"])
def test_a_frame_sent_behind_the_hello_in_the_same_write_has_the_whole_limit(transport, password):
    # Judged after the welcome, as every frame behind a hello is (a password's hello is
    # decided while reading is held): not by the login limit it arrived under.
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, web_port=0)) as srv:
        peer = _peers(srv)[transport]()
        try:
            hello = peer.conn.send(Hello("h", "Alice", const.PROTOCOL_VERSION, password, password is not None))
            big = _padded_ping("behind", const.MAX_LOGIN_FRAME_BYTES + 4096)
            if isinstance(peer, WebPeer):
                peer.ws.sock.sendall(masked(Opcode.TEXT, hello[:-1]) + masked(Opcode.TEXT, big[:-1]))
            else:
                peer._write(hello + big)
            assert peer.expect(Welcome, TIMEOUT).name == "Alice"
            assert peer.expect(Pong, TIMEOUT).token == "behind"
        finally:
            peer.close()


def test_over_tls_too_a_frame_over_the_login_limit_is_refused_before_the_welcome_and_not_after(tmp_path):
    cert, key = make_certificate(tmp_path)
    trusting = ssl.create_default_context(cafile=str(cert))
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, web_port=0, tls_cert=cert, tls_key=key)) as srv:
        peer = TcpPeer(srv.host, srv.port, TIMEOUT)
        peer.sock = trusting.wrap_socket(peer.sock, server_hostname="localhost")
        try:
            peer._write(_padded_ping("big", const.MAX_LOGIN_FRAME_BYTES + 1))
            refused = peer.expect(ErrorReply, TIMEOUT)
            assert refused.code == ErrorCode.FRAME_TOO_LARGE
            assert str(const.MAX_LOGIN_FRAME_BYTES) in refused.message, refused.message
            assert peer.login("Alice").name == "Alice"
            peer._write(_padded_ping("after", 60 * 1024))
            assert peer.expect(Pong, TIMEOUT).token == "after"
        finally:
            peer.close()
