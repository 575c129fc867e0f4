"""bench/redis_relay.py, the cluster benchmark's bare reference: two of them on one real Redis
carry a message and its acks across nodes and within one, as the benchmark's clients need."""

from __future__ import annotations

import json
import socket
import sys
import time

import pytest
from redisserver import redis_server  # noqa: F401  (a fixture)

from bench.benchmark import ServerProcess

TIMEOUT = 10.0


class Line:
    """A raw client: JSON lines out, JSON lines in, each read bounded by TIMEOUT."""

    def __init__(self, port: int, name: str) -> None:
        self.name = name
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buffer = b""
        self.send({"type": "hello", "name": name, "version": 1, "features": ["batch_acks"]})
        welcome = self.read()
        assert welcome["type"] == "welcome" and welcome["name"] == name and welcome["features"] == ["batch_acks"]

    def send(self, frame: dict) -> None:
        self.sock.sendall(json.dumps(frame).encode() + b"\n")

    def read(self) -> dict:
        deadline = time.monotonic() + TIMEOUT
        while b"\n" not in self.buffer:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            assert data, "the relay closed the connection"
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)


def exchange(sender: Line, recipient: Line, text: str) -> int:
    """``sender`` sends ``recipient`` ``text``: accepted, the dm, its receipt, delivered;
    the message's id."""
    sender.send({"type": "send", "id": "r1", "to": recipient.name, "text": text})
    accepted = sender.read()
    assert accepted["type"] == "accepted" and accepted["id"] == "r1"
    dm = recipient.read()
    assert (dm["type"], dm["msg_id"], dm["from"], dm["to"], dm["text"]) == (
        "dm", accepted["msg_id"], sender.name, recipient.name, text)
    recipient.send({"type": "receipt", "msg_ids": [dm["msg_id"]]})
    assert sender.read() == {"type": "delivered", "id": "r1", "msg_id": accepted["msg_id"]}
    return accepted["msg_id"]


@pytest.fixture
def two_relays(redis_server):  # noqa: F811  (the fixture imported above)
    command = [sys.executable, "-m", "bench.redis_relay", "--port", "0", "--redis", redis_server.url]
    first = ServerProcess("bare relay 1", command)
    try:
        second = ServerProcess("bare relay 2", command)
    except BaseException:
        first.stop()
        raise
    try:
        yield first.port, second.port
    finally:
        first.stop()
        second.stop()


@pytest.mark.timeout_seconds(60)
def test_a_message_to_the_other_node_goes_through_its_inbox_and_its_receipt_comes_back_as_delivered(two_relays):
    here, there = two_relays
    ana, bia = Line(here, "Ana"), Line(there, "Bia")
    first = exchange(ana, bia, "olá, João e Conceição")
    # And back the other way, with ids of the other node: no id is given twice.
    assert exchange(bia, ana, "oi") != first


@pytest.mark.timeout_seconds(60)
def test_a_message_within_one_node_is_answered_forwarded_and_confirmed_there(two_relays):
    here, _ = two_relays
    ana, caio = Line(here, "Ana"), Line(here, "Caio")
    exchange(ana, caio, "oi")
    caio.send({"type": "receipt", "msg_id": 12345})  # the single form, for nothing awaited: no answer
    caio.send({"type": "ping", "token": "t"})
    assert caio.read() == {"type": "pong", "token": "t"}


@pytest.mark.timeout_seconds(60)
def test_a_name_no_node_has_is_refused_and_a_bad_frame_answered(two_relays):
    here, _ = two_relays
    ana = Line(here, "Ana")
    ana.send({"type": "send", "id": "r1", "to": "Zed", "text": "oi"})
    assert ana.read() == {"type": "error", "code": "unknown_recipient", "message": "never logged in", "id": "r1"}
    ana.sock.sendall(b"not json\n")
    assert ana.read()["code"] == "bad_frame"
