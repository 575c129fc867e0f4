"""The fast path's datagrams (server/cluster/fastpath.py): sealed and opened as bytes, and
its endpoint driven with a fake transport and a fake clock; which nodes a user's
"delivered" goes to (Directory.nodes_of); the ones held until their message's flight
(EarlyTells), with the time given."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import pytest

from protocol import Delivered
from protocol.codec import encode
from server.cluster import bus
from server.cluster.directory import Directory
from server.cluster.fastpath import (
    EARLY_MAX, EARLY_SECONDS, MAC_BYTES, MAX_BUFFERED, MAX_DATAGRAM, EarlyTells, FastLink, FastTell, seal, unseal)

KEY = b"0123456789abcdef" * 4
FRAME = encode(Delivered("d1", 42))
TELL = FastTell("vm-1-ab12", "conceição", 42, FRAME)


def sealed_body(body: bytes, secret: bytes = KEY) -> bytes:
    return hmac.new(secret, body, hashlib.sha256).digest()[:MAC_BYTES] + body


def test_a_sealed_tell_opens_as_itself_for_its_node():
    datagram = seal(KEY, TELL)
    assert datagram is not None and len(datagram) <= MAX_DATAGRAM
    assert unseal(KEY, "vm-1-ab12", datagram) == TELL


def test_a_datagram_for_another_node_or_under_another_key_is_refused():
    datagram = seal(KEY, TELL)
    assert unseal(KEY, "vm-2-cd34", datagram) == "node"
    assert unseal(b"another key", "vm-1-ab12", datagram) == "mac"


def test_every_byte_changed_or_cut_breaks_the_seal():
    datagram = seal(KEY, TELL)
    for i in range(len(datagram)):
        changed = bytearray(datagram)
        changed[i] ^= 0x01
        assert unseal(KEY, "vm-1-ab12", bytes(changed)) == "mac", i
    for end in range(MAC_BYTES + 1, len(datagram)):
        assert unseal(KEY, "vm-1-ab12", datagram[:end]) == "mac", end


@pytest.mark.parametrize("data", [b"", b"x" * MAC_BYTES, b"x" * (MAX_DATAGRAM + 1)])
def test_a_datagram_out_of_bounds_is_refused_before_its_seal_is_checked(data):
    assert unseal(KEY, "vm-1-ab12", data) == "size"


@pytest.mark.parametrize("body", [
    b"not json", b"\xff\xfe", b"[]", b'["vm-1-ab12","ana",42]', b'["vm-1-ab12","ana","42","{}"]',
    b'["vm-1-ab12","ana",true,"{}"]', b'["vm-1-ab12",7,42,"{}"]', b'[1,"ana",42,"{}"]', b'["vm-1-ab12","ana",42,5]',
    b'{"a":1,"b":2,"c":3,"d":4}', b"[" * 100_000,
])
def test_a_sealed_body_of_another_form_is_refused(body):
    assert unseal(KEY, "vm-1-ab12", sealed_body(body[:MAX_DATAGRAM - MAC_BYTES])) in ("form", "size")


def test_a_tell_over_the_bound_is_not_sealed():
    frame = json.dumps({"type": "delivered", "id": "x" * MAX_DATAGRAM, "msg_id": 1}).encode()
    assert seal(KEY, FastTell("n", "ana", 1, frame)) is None


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple]] = []
        self.buffered = 0
        self.closed = False

    def get_extra_info(self, name):
        return ("10.0.0.5", 40000) if name == "sockname" else None

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def sendto(self, data: bytes, addr: tuple) -> None:
        self.sent.append((data, addr))

    def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def link(node: str = "vm-1-ab12") -> tuple[FastLink, FakeTransport, list, Clock]:
    received: list = []
    clock = Clock()
    endpoint = FastLink(node, received.append, clock)
    transport = FakeTransport()
    endpoint.connection_made(transport)
    return endpoint, transport, received, clock


def test_nothing_is_sent_or_taken_before_the_key_is_known():
    endpoint, transport, received, _clock = link()
    assert endpoint.address == ("10.0.0.5", 40000)
    endpoint.set_peers({"vm-2-cd34": "10.0.0.6 40001"})
    endpoint.send(FastTell("vm-2-cd34", "ana", 1, FRAME))
    endpoint.datagram_received(seal(KEY, TELL), ("10.0.0.6", 40001))
    assert transport.sent == [] and received == []


def test_a_tell_goes_to_its_nodes_endpoint_and_one_for_an_unknown_node_nowhere():
    endpoint, transport, _received, _clock = link()
    endpoint.secret = KEY
    endpoint.set_peers({"vm-1-ab12": "10.0.0.5 40000", "vm-2-cd34": "10.0.0.6 40001", "vm-3": "::1 40002",
                        "vm-4": "no port", "vm-5": " 40003"})
    assert endpoint.peers == {"vm-2-cd34": ("10.0.0.6", 40001), "vm-3": ("::1", 40002)}  # not itself, nor bad ones
    tell = FastTell("vm-2-cd34", "ana", 7, FRAME)
    endpoint.send(tell)
    endpoint.send(FastTell("vm-9", "ana", 7, FRAME))
    assert len(transport.sent) == 1
    data, where = transport.sent[0]
    assert where == ("10.0.0.6", 40001) and unseal(KEY, "vm-2-cd34", data) == tell


def test_a_full_send_buffer_drops_the_tell_and_the_log_says_so_once_a_minute(caplog):
    endpoint, transport, _received, clock = link()
    endpoint.secret = KEY
    endpoint.set_peers({"vm-2": "10.0.0.6 40001"})
    transport.buffered = MAX_BUFFERED + 1
    caplog.set_level(logging.INFO, logger="chat.cluster")
    for _ in range(100):
        endpoint.send(FastTell("vm-2", "ana", 7, FRAME))
    assert transport.sent == []
    assert [r.getMessage() for r in caplog.records] == [
        "cluster: fast path datagrams dropped (their inbox entries tell the same): 1 buffer"]
    clock.now += 60.0
    endpoint.send(FastTell("vm-2", "ana", 7, FRAME))
    assert caplog.records[-1].getMessage().endswith(": 100 buffer")
    transport.buffered = 0
    endpoint.send(FastTell("vm-2", "ana", 7, FRAME))
    assert len(transport.sent) == 1


def test_only_sealed_datagrams_for_this_node_are_taken_and_a_flood_of_others_is_one_line(caplog):
    endpoint, _transport, received, clock = link()
    endpoint.secret = KEY
    caplog.set_level(logging.INFO, logger="chat.cluster")
    endpoint.datagram_received(seal(KEY, TELL), ("10.0.0.6", 40001))
    assert received == [TELL]
    for _ in range(1000):
        endpoint.datagram_received(b"\x00" * 40, ("10.9.9.9", 1))
        endpoint.datagram_received(seal(KEY, FastTell("vm-2", "ana", 1, FRAME)), ("10.0.0.6", 40001))
    endpoint.error_received(ConnectionRefusedError())
    assert received == [TELL]
    assert len(caplog.records) == 1
    clock.now += 60.0
    endpoint.datagram_received(b"", ("10.9.9.9", 1))
    assert caplog.records[-1].getMessage().endswith(": 1 ConnectionRefusedError, 999 mac, 1000 node, 1 size")


def test_close_closes_the_transport_and_sends_nothing_after():
    endpoint, transport, _received, _clock = link()
    endpoint.secret = KEY
    endpoint.set_peers({"vm-2": "10.0.0.6 40001"})
    endpoint.close()
    endpoint.send(FastTell("vm-2", "ana", 7, FRAME))
    assert transport.closed and transport.sent == []


def test_the_nodes_of_a_user_are_those_of_its_sessions():
    directory = Directory("n1")
    for key, name, sid in (("caio", "Caio", "n1/1"), ("caio", "Caio", "n2/1"), ("caio", "Caio", "n2/2"),
                           ("ana", "Ana", "vm-3-x/9")):
        directory.apply(bus.SessionOn(key, name, True, sid, sid.split("/")[0], "127.0.0.1", 1, 1.0), now=0)
    assert directory.nodes_of("caio") == {"n1", "n2"}
    assert directory.nodes_of("ana") == {"vm-3-x"}
    assert directory.nodes_of("bia") == set()


def test_an_early_tell_is_taken_once_for_its_message_and_not_for_another():
    early = EarlyTells()
    assert not early
    early.hold(TELL, now=100.0)
    assert early and len(early) == 1
    assert early.take("conceição", 43, now=100.1) is None
    assert early.take("joão", 42, now=100.1) is None
    assert early.take("conceição", 42, now=100.1) == TELL
    assert early.take("conceição", 42, now=100.2) is None
    assert not early


def test_an_early_tell_expires_after_early_seconds_and_expired_ones_go_as_others_come():
    early = EarlyTells()
    early.hold(TELL, now=100.0)
    assert early.take("conceição", 42, now=100.0 + EARLY_SECONDS) is None
    assert not early  # taken or not, it is held no more
    early.hold(TELL, now=100.0)
    early.hold(FastTell("vm-1-ab12", "joão", 7, FRAME), now=100.0 + EARLY_SECONDS / 2)
    early.hold(FastTell("vm-1-ab12", "ana", 8, FRAME), now=100.0 + EARLY_SECONDS + 0.1)
    assert len(early) == 2  # conceição's expired
    assert early.take("joão", 7, now=100.0 + EARLY_SECONDS + 0.2) is not None


def test_at_most_early_max_are_held_the_oldest_dropped_first():
    early = EarlyTells()
    for msg_id in range(EARLY_MAX + 10):
        early.hold(FastTell("vm-1-ab12", "ana", msg_id, FRAME), now=100.0)
    assert len(early) == EARLY_MAX
    assert early.take("ana", 9, now=100.0) is None
    assert early.take("ana", 10, now=100.0) is not None
    assert early.take("ana", EARLY_MAX + 9, now=100.0) is not None


def test_the_same_message_held_again_is_the_newest_and_a_discarded_one_is_gone():
    early = EarlyTells()
    early.hold(TELL, now=100.0)
    early.hold(FastTell("vm-1-ab12", "joão", 7, FRAME), now=101.0)
    early.hold(TELL, now=102.0)  # its expiry from now, and the last to be dropped
    assert early.take("conceição", 42, now=100.0 + EARLY_SECONDS + 1) == TELL
    early.hold(TELL, now=103.0)
    early.discard("conceição", 42)
    early.discard("nobody", 1)
    assert early.take("conceição", 42, now=103.0) is None
    assert len(early) == 1
