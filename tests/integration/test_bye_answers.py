"""A client's last requests are answered before its bye closes the connection.

A student's script sends a message and says bye in one write (or closes its writing
side): the message is stored and delivered, and its ``accepted`` reaches the script
before the server closes (PROTOCOL.md, "Session"). On a durable server that answer waits
for the store's commit, which is what these tests make the server wait for.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from protocol import Accepted, DirectMessage, Goodbye, Receipt, SendDirect, UserJoined, UserLeft
from protocol import codec
from redisserver import RedisServer
from servers import in_thread
from wire import WireClient

NOTICES = (UserJoined, UserLeft)


@pytest.fixture(params=["durable", "memory", "cluster"])
def server(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "cluster":  # the Redis store: its answers come in submission order too
        with RedisServer(tmp_path) as redis, in_thread(cluster_url=redis.url) as srv:
            yield srv
        return
    with in_thread(tmp_path if request.param == "durable" else None) as srv:
        yield srv


def _last_words(server, close_writing: bool) -> list:
    """Alice sends to Bob, then says bye in the same write (or shuts her writing side);
    what she reads until the server closes. Bob gets the message all the same."""
    with WireClient.login(server.host, server.port, "Bob") as bob, \
            WireClient.login(server.host, server.port, "Alice") as alice:
        frames = codec.encode(SendDirect("a-1", "Bob", "last words"))
        if close_writing:
            alice.send_raw(frames)
            alice.sock.shutdown(socket.SHUT_WR)
        else:
            alice.send_raw(frames + codec.encode(Goodbye()))
        told = [event for event in alice.wait_closed() if not isinstance(event, NOTICES)]
        dm = bob.expect(DirectMessage, skip=NOTICES)
        assert dm.text == "last words"
        bob.send(Receipt(dm.msg_id))
        return told


def test_a_send_and_a_bye_in_one_write_get_the_sends_answer(server):
    told = _last_words(server, close_writing=False)
    assert [type(event) for event in told] == [Accepted]
    assert told[0].request_id == "a-1"


def test_a_send_before_closing_the_writing_side_gets_its_answer(server):
    told = _last_words(server, close_writing=True)
    assert [type(event) for event in told] == [Accepted]
    assert told[0].request_id == "a-1"
