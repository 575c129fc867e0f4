"""Peers that go silent in ways a LAN makes common, reproduced on the loopback: a client
whose window never opens again (it stopped reading) while it still says it is alive.

The heartbeat (HEARTBEAT_TIMEOUT) ends a client from which nothing comes; these tests are
about one from which something does.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from protocol import Delivered, Queued, SendDirect, UserJoined, UserLeft
from server.listener import open_sockets
from servers import in_thread
from waits import wait_until
from wire import WireClient


def _stuck_client(host: str, port: int, name: str) -> socket.socket:
    """Log in as ``name`` over a socket whose receive window is tiny and that is never read
    again: once the server has written a few kilobytes, the window stays closed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)  # before connecting: the window's size
    sock.settimeout(5)
    sock.connect((host, port))
    sock.sendall(json.dumps({"type": "hello", "id": "h1", "name": name, "version": 1}).encode() + b"\n")
    return sock


@pytest.mark.timeout_seconds(40)
def test_a_client_that_stops_reading_but_still_pings_is_dropped_within_the_heartbeat_timeout() -> None:
    """On a LAN a window that never opens is a client whose program hung while its
    pings go on (or one that reads nothing on purpose): its pings kept it online for
    ever, below the outgoing limit, the messages to it neither delivered nor queued. The
    kernel now bounds how long written data may wait unacknowledged (TCP_USER_TIMEOUT, the
    heartbeat timeout): the zero-window probes count, and the session goes."""
    timeout = 2.0
    with in_thread(fast=True, heartbeat_interval=1.0, heartbeat_timeout=timeout, socket_send_buffer=4096,
                   bytes_per_connection=1e9) as server, \
            WireClient.login(server.host, server.port, "Alice") as alice:
        bob = _stuck_client(server.host, server.port, "Bob")
        try:
            wait_until(lambda: any(isinstance(e, UserJoined) and e.name == "Bob" for e in alice.drain(quiet=0.05)),
                       5, "Bob online")
            for i in range(40):  # 160 KB: far below the outgoing limit, far above the window
                alice.send(SendDirect(f"m{i}", "Bob", "x" * 4000))
            started = time.monotonic()
            left, queued = None, set()
            while left is None and time.monotonic() - started < 20:
                try:
                    bob.sendall(b'{"type":"ping","token":"alive"}\n')  # it says it is alive
                except OSError:
                    pass  # cut: the server has let it go
                for event in alice.drain(quiet=0.25, timeout=1):
                    assert not isinstance(event, Delivered), event
                    if isinstance(event, Queued):
                        queued.add(event.request_id)
                    if isinstance(event, UserLeft) and event.name == "Bob":
                        left = time.monotonic() - started
                        # Not "connection lost (TimeoutError)": it stopped answering, as a
                        # client the heartbeat ends does ("parou de responder").
                        assert event.reason == "timeout", event
            assert left is not None, "Bob, who reads nothing, was still online after 20 s"
            assert left < timeout + 8, left
            # What it never read waits for its next login, and Alice is told so.
            wait_until(lambda: queued.update(e.request_id for e in alice.drain(quiet=0.05) if isinstance(e, Queued))
                       or len(queued) == 40, 5, f"the 40 messages queued (so far {len(queued)})")
        finally:
            bob.close()


@pytest.mark.skipif(not hasattr(socket, "TCP_USER_TIMEOUT"), reason="the system has no TCP_USER_TIMEOUT")
def test_the_listeners_pass_their_timeout_to_what_they_accept_and_a_huge_one_is_held_to_what_fits() -> None:
    """A heartbeat timeout of weeks (a lab that wants nobody dropped) must not stop the
    server: the option is a C int of milliseconds."""
    for timeout, expected in ((2.0, 2000), (1e9, 2**31 - 1)):
        (listening,) = open_sockets("127.0.0.1", 0, backlog=1, unacked_timeout=timeout)
        with listening, socket.create_connection(listening.getsockname()[:2], timeout=5):
            listening.setblocking(True)
            accepted, _peer = listening.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == expected
