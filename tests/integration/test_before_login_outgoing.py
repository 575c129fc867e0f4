"""What the server keeps queued for a connection that has not logged in, and reads nothing.

Before login a peer can make the server write only pongs, errors and refusals, but it can
ask for them as fast as it sends pings, and never read them. Each connection's queue was
bounded by the logged-in bound (const.MAX_OUTGOING_BYTES, 1 MiB), and an address may hold
up to const.MAX_CONNECTIONS_PER_ADDRESS connections: about a gigabyte. Before login the
bound is const.MAX_OUTGOING_BYTES_BEFORE_LOGIN. Small kernel buffers on both ends keep
what waits mostly in the server's own buffer, the one the bound is about.
"""

from __future__ import annotations

import json
import logging
import socket
import time

import const
from servers import in_thread
from waits import wait_until
from web.websocket.frames import Opcode, serialize_frame

TIMEOUT = 5.0
# A chat ping with the longest token (64 characters): its pong is about 120 bytes.
PING = json.dumps({"type": "ping", "token": "p" * 64}).encode() + b"\n"
BOUND = const.MAX_OUTGOING_BYTES_BEFORE_LOGIN


def _sleepy(port: int) -> socket.socket:
    """A socket to the server with a tiny receive window, that the test never reads until the end."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)  # before connecting: the window's size
    sock.settimeout(TIMEOUT)
    sock.connect(("127.0.0.1", port))
    return sock


def _flood_until_dropped(server, sock: socket.socket, batch: bytes) -> int:
    """Send ``batch`` (pings, never logging in) until the server drops the connection, or 4 MiB
    of them: return the bytes sent."""
    def open_sessions() -> int:
        return server.call(lambda: sum(1 for s in server.server.relay.sessions if not s.closing))

    sent, deadline = 0, time.monotonic() + 20
    while open_sessions() and sent < 4 * 1024 * 1024 and time.monotonic() < deadline:
        try:
            sock.sendall(batch)
        except OSError:
            break  # the server has cut it
        sent += len(batch)
    return sent


def _read_to_the_end(sock: socket.socket) -> tuple[bytes, bool]:
    """Everything the server wrote, until it closed the connection (bounded in time), and
    whether the connection ended in a reset: a server that closes with pings unread makes
    its kernel answer a reset, which throws away what the test had not read yet, its last
    frame too (a loaded machine: pings still in flight as the server cut the connection)."""
    received, deadline = bytearray(), time.monotonic() + 4 * TIMEOUT
    while time.monotonic() < deadline:
        try:
            data = sock.recv(1 << 20)
        except ConnectionResetError:
            return bytes(received), True
        except socket.timeout:
            break
        if not data:
            break
        received += data
    return bytes(received), False


def _cut_as_slow_consumer(caplog) -> bool:
    """The server's one line for the connection: dropped as a slow consumer at the small bound."""
    return any("slow consumer" in record.getMessage() and f"over the limit of {BOUND})" in record.getMessage()
               for record in caplog.records)


def test_a_chat_connection_that_pings_and_never_reads_before_login_is_cut_at_the_small_bound(caplog) -> None:
    caplog.set_level(logging.WARNING)
    with in_thread(socket_send_buffer=4096) as server:
        sock = _sleepy(server.port)
        try:
            wait_until(lambda: server.call(lambda: len(server.server.relay.sessions)) == 1, TIMEOUT, "connected")
            sent = _flood_until_dropped(server, sock, PING * 100)
            received, reset = _read_to_the_end(sock)
        finally:
            sock.close()
    assert _cut_as_slow_consumer(caplog), (sent, [record.getMessage() for record in caplog.records])
    if not reset:  # (a reset threw the last frames away: the server's line above says why it cut)
        frames = received.splitlines()
        assert frames and json.loads(frames[-1])["code"] == "slow_consumer", (sent, frames[-1:])
    # What the server held for it: its own buffer (the bound, and the last turn's pongs) and
    # the two small kernel buffers.
    assert len(received) < 2 * BOUND, f"{len(received)} bytes of pongs queued before login ({sent} bytes of pings)"


def test_a_websocket_that_pings_and_never_reads_before_login_is_cut_at_the_small_bound(caplog) -> None:
    caplog.set_level(logging.WARNING)
    with in_thread(web_port=0, socket_send_buffer=4096) as server:
        port = server.server.web_address[1]
        sock = _sleepy(port)
        try:
            sock.sendall(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                         f"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         f"Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{port}\r\n\r\n".encode())
            wait_until(lambda: server.call(lambda: len(server.server.relay.sessions)) == 1, TIMEOUT, "upgraded")
            ping = serialize_frame(Opcode.TEXT, PING[:-1], mask=b"\x12\x34\x56\x78")
            sent = _flood_until_dropped(server, sock, ping * 100)
            received, reset = _read_to_the_end(sock)
        finally:
            sock.close()
    assert _cut_as_slow_consumer(caplog), (sent, [record.getMessage() for record in caplog.records])
    assert received.startswith(b"HTTP/1.1 101 "), received[:100]
    assert reset or b'"slow_consumer"' in received[-300:], (sent, received[-300:])
    assert len(received) < 2 * BOUND, f"{len(received)} bytes of pongs queued before login ({sent} bytes of pings)"
