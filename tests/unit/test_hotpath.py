"""The relay's per-message work (issue 9): what a direct message costs besides its bytes.

Driven through the relay rig of tests/test_store.py (fake sessions, a real store), so
they count the work itself, not time.
"""

from __future__ import annotations

import gc
import tracemalloc

import pytest

import const
import registry.names
from protocol import (
    Accepted, Connection, Delivered, DirectMessage, ErrorReply, Hello, HistoryRequest, LookupRequest, OutcomeAck,
    Queued, Receipt, Role, SendDirect, Welcome, codec,
)
from protocol.events import WIRE_EVENTS
from registry import OFFLINE, Registry, canonical
from server.peers import UNANSWERED
from server.store import StoreUnavailable
from test_batch_acks_codec import welcomed_without_json
from test_store import RelayBench, loop  # noqa: F401  (loop is a fixture)


def test_a_direct_message_normalises_the_recipient_name_once_and_nothing_else(loop, monkeypatch) -> None:
    bench = RelayBench(loop)
    alice, bob = bench.login("Alice"), bench.login("Bob")
    calls: list[str] = []
    for module in ("server.relay", "registry.registry"):
        monkeypatch.setattr(f"{module}.canonical", lambda name, rule=canonical: calls.append(name) or rule(name))
    bench.relay.handle(alice, SendDirect("m1", "BOB", "hello"))
    bench.settle()
    [accepted] = alice.take(Accepted)
    [message] = bob.take(DirectMessage)
    assert calls == ["BOB"]  # the request's name; the sender's key was computed at login
    bench.relay.handle(bob, Receipt(message.msg_id))
    bench.settle()
    assert alice.take(Delivered) == [Delivered("m1", accepted.msg_id)]
    bench.relay.handle(alice, OutcomeAck(accepted.msg_id))
    bench.settle()
    assert calls == ["BOB"]  # a receipt and an ack carry ids, not names: nothing to normalise
    bench.store.close()


def test_a_name_only_the_cluster_knows_is_asked_once_and_its_answer_decides(loop) -> None:
    # Relay._send_direct asks the cluster about a name this node does not know, and the
    # answer comes back to it (``named``): a message to a name is stored and queued, one to
    # None refused, each under its own request id.
    bench = RelayBench(loop)
    alice = bench.login("Alice")
    bench.announce_logins()
    asked: list[tuple[str, object]] = []
    bench.relay.peers.known_name = lambda key, callback: asked.append((key, callback))
    bench.relay.handle(alice, SendDirect("m1", "ZED", "hello"))
    bench.relay.handle(alice, SendDirect("m2", "Xavier", "hello"))
    assert [key for key, _callback in asked] == ["zed", "xavier"]
    asked[0][1]("Zed")
    asked[1][1](None)
    bench.settle()
    [queued] = alice.take(Queued)
    [refused] = alice.take(ErrorReply)
    assert queued.request_id == "m1" and refused.request_id == "m2" and refused.code == "unknown_recipient"
    assert len(asked) == 2 and not alice.sent and queued.msg_id > 0
    bench.store.close()


@pytest.mark.parametrize("answer", [None, UNANSWERED])
def test_a_recipient_who_logged_in_here_while_the_cluster_was_asked_gets_the_message(loop, answer) -> None:
    # The cluster's answer (nobody, or Redis did not answer) was asked before Zed logged
    # in on this node; when it comes, he is online here: the message is his, not refused
    # as to nobody nor answered ``unavailable``.
    bench = RelayBench(loop)
    alice = bench.login("Alice")
    bench.announce_logins()
    asked: list[tuple[str, object]] = []
    bench.relay.peers.known_name = lambda key, callback: asked.append((key, callback))
    bench.relay.handle(alice, SendDirect("m1", "ZED", "hello"))
    zed = bench.login("Zed")
    asked[0][1](answer)
    bench.settle()
    assert not alice.take(ErrorReply)
    [accepted] = alice.take(Accepted)
    [message] = zed.take(DirectMessage)
    assert accepted.request_id == "m1" and message.msg_id == accepted.msg_id and message.text == "hello"
    bench.store.close()


def test_a_lookup_the_cluster_could_not_answer_says_so_not_that_nothing_could_be_saved(loop) -> None:
    # ``unavailable`` for a whois whose Redis read got no answer: its words are a read's
    # (nothing was asked to be saved), with the same code and retry_after.
    bench = RelayBench(loop)
    alice = bench.login("Alice")
    asked: list[tuple[str, object]] = []
    bench.relay.peers.known_names = lambda keys, callback: asked.append((keys, callback))
    bench.relay.handle(alice, LookupRequest("w", "Zed"))
    asked[0][1](UNANSWERED)
    bench.settle()
    [refused] = alice.take(ErrorReply)
    assert (refused.code, refused.request_id, refused.retry_after) == ("unavailable", "w", 5.0)
    assert refused.message == READ_UNAVAILABLE
    bench.store.close()


READ_UNAVAILABLE = "the server could not look this up in its storage (it failed or did not answer): try again in 5 s"


def test_a_history_page_the_store_could_not_read_says_so_not_that_nothing_could_be_saved(loop) -> None:
    # A history page's read failed: the read's words, as a whois's, with the same code.
    bench = RelayBench(loop)
    alice = bench.login("Alice")
    bench.store.history = lambda *args: args[-1](StoreUnavailable("disk failing"))
    bench.relay.handle(alice, HistoryRequest("h", "Bob"))
    bench.settle()
    [refused] = alice.take(ErrorReply)
    assert (refused.code, refused.request_id, refused.message) == ("unavailable", "h", READ_UNAVAILABLE)
    bench.store.close()


def test_canonical_remembers_a_bounded_number_of_names() -> None:
    canonical.cache_clear()
    for i in range(registry.names.CANONICAL_CACHE_SIZE + 100):
        assert canonical(f"User{i}") == f"user{i}"
    assert canonical.cache_info().currsize == registry.names.CANONICAL_CACHE_SIZE
    canonical.cache_clear()


def test_sessions_by_key_follow_register_and_unregister() -> None:
    users = Registry()
    users.register("Alice", "192.0.2.1", 1, 1.0, "s1", shared=True)
    assert users.sessions_by_key("alice") == ("s1",) and users.lookup_key("alice").name == "Alice"
    users.register("ALICE", "192.0.2.1", 2, 2.0, "s2", shared=True)
    assert users.sessions_by_key("alice") == ("s1", "s2") == tuple(users.sessions("Alice"))
    users.unregister("alice", "s1")
    assert users.sessions_by_key("alice") == ("s2",)
    users.unregister("Alice", "s2")
    assert users.sessions_by_key("alice") == () and users.lookup_key("alice") is None
    assert users.sessions_by_key("Alice") == ()  # a key is canonical already: never folded here


def test_the_records_read_with_offline_give_the_sessions_by_key() -> None:
    # The relay's message path reads records.get(key, OFFLINE).sessions in place of
    # sessions_by_key (a Python call fewer): the same tuples, online or not, and OFFLINE
    # stays nobody's.
    users = Registry()
    for key in ("alice", "bob"):
        assert users.records.get(key, OFFLINE).sessions == users.sessions_by_key(key) == ()
    users.register("Alice", "192.0.2.1", 1, 1.0, "s1", shared=True)
    users.register("ALICE", "192.0.2.1", 2, 2.0, "s2", shared=True)
    users.register("Bob", "192.0.2.2", 1, 1.0, "s3")
    for key in ("alice", "bob", "carol", "Alice"):
        assert users.records.get(key, OFFLINE).sessions is users.sessions_by_key(key)
    assert users.records.get("alice", OFFLINE).sessions == ("s1", "s2")
    users.unregister("Bob", "s3")
    assert users.records.get("bob", OFFLINE).sessions == () and users.records.get("bob") is None
    assert OFFLINE.sessions == () and OFFLINE.endpoints == () and OFFLINE.name == ""


# --- The codec's fast paths decide exactly as the generic ones --------------------------------

_CLIENT_TYPES = {cls.TYPE: cls for cls in WIRE_EVENTS if cls.SENDER in ("client", "both")}
_FRAMES = [
    b'{"type":"send","id":"1","to":"Bob","text":"hi"}', b' {"type":"receipt","msg_id":1} ',
    b'{"type":"receipt","msg_id":1}\t', b'{"type":"receipt","msg_id":1}x', b'{"type":"receipt","msg_id":1}{}',
    b'{"type":"receipt","msg_id":NaN}', b'{"type":"receipt","msg_id":Infinity}', b'[1]', b'', b'  ', b'"x"',
    b'{"type":"send","id":"\\ud800","to":"a","text":"b"}', b'{"type":"send","id":"1","to":"a","text":"\\ud800"}',
    b'{"type":"send","id":"\xc3\xa9\\ud83d\\ude00","to":"\\u00e9","text":"\xe2\x98\x83"}',
    b'{"type":"send","id":"1","to":"a","text":"\\udc00\xc3\xa9"}', b'{"type":"ack","msg_id":3,"id":"x"}',
    b'{"type":"send","id":"1","to":"a","text":"\\x"}', b'{"type":"send"', b'{"a":' * 5000,
]


@pytest.mark.parametrize("frame", _FRAMES, ids=range(len(_FRAMES)))
def test_decoding_a_frame_gives_what_the_generic_json_decoder_gives(frame: bytes, monkeypatch) -> None:
    fast = codec.decode(frame, _CLIENT_TYPES, 4000)
    monkeypatch.setattr(codec, "_parse_json", codec._decode_json)
    assert fast == codec.decode(frame, _CLIENT_TYPES, 4000)


_MSG_ID_FRAMES = [
    b'{"type":"receipt","msg_id":7}', b'{"type":"ack","msg_id":0}', b'{"type":"ack","msg_id":9007199254740991}',
    b'{"type":"ack","msg_id":9007199254740992}', b'{"type":"receipt","msg_id":12345678901234567}',
    b'{"type":"receipt","msg_id":007}', b'{"type":"receipt","msg_id":-1}', b'{"type":"receipt","msg_id":1e3}',
    b'{"type":"receipt","msg_id":1.0}', b'{"type":"receipt","msg_id":}', b'{"type":"receipt","msg_id":1',
    b'{"type":"receipt","msg_id":1 }', b'{"type":"receipt","msg_id":1}}', b'{"type":"receipt","msg_id":1,"x":2}',
    b'{"type":"receipt","msg_id":"1"}', b'{"type":"receipt","msg_id":\xd9\xa1}', b'{"type":"ack","msg_id":1}',
    b'{"type":"ack","msg_id":12}x}', b'{"type":"receipts","msg_id":1}', b'{"type":"acked","msg_id":1}',
]


@pytest.mark.parametrize("frame", _MSG_ID_FRAMES, ids=range(len(_MSG_ID_FRAMES)))
@pytest.mark.parametrize("allowed", ["client", "server"])
def test_receipts_and_acks_read_from_their_bytes_decode_as_the_generic_path(frame: bytes, allowed: str,
                                                                            monkeypatch) -> None:
    types = _CLIENT_TYPES if allowed == "client" else {cls.TYPE: cls for cls in WIRE_EVENTS
                                                       if cls.SENDER in ("server", "both")}
    fast = codec.decode(frame, types, 4000)
    monkeypatch.setattr(codec, "_BY_BYTES", {})
    monkeypatch.setattr(codec, "_QUICK", {})
    monkeypatch.setattr(codec, "_parse_json", codec._decode_json)
    assert fast == codec.decode(frame, types, 4000)


# Sends as clients write them, and every way a send can differ from the plain form that is
# read from its bytes (codec._PLAIN_SEND): the answer must be the generic path's.
_SEND_FRAMES = [
    b'{"type":"send","id":"1","to":"Bob","text":"hi"}', b'{"type":"send","id":"","to":"","text":""}',
    b'{"type":"send","id":"r-1","to":"user7","text":"benchmark message 7 !#$%&\'()*+,-./:;<=>?@[]^_`{|}~"}',
    b'{"type":"send","id":"1","to":"Bob","text":"say \\"hi\\""}', b'{"type":"send","id":"1","to":"Bob","text":"a\\\\b"}',
    b'{"type":"send","id":"1","to":"Bob","text":"\\u00e9"}', b'{"type":"send","id":"1","to":"Bob","text":"\\ud800"}',
    b'{"type":"send","id":"1","to":"Bob","text":"\\n"}', b'{"type":"send","id":"1","to":"Bob","text":"tab\there"}',
    b'{"type":"send","id":"1","to":"Bob","text":"del\x7f"}', b'{"type":"send","id":"1","to":"Bob","text":"\xc3\xa9"}',
    b'{"type":"send","id":"1","to":"B\xc3\xb8b","text":"x"}', b'{"type":"send","id":"1","to":"Bob","text":"\xff"}',
    b'{"type":"send","id":"' + b"i" * 64 + b'","to":"Bob","text":"x"}',
    b'{"type":"send","id":"' + b"i" * 65 + b'","to":"Bob","text":"x"}',
    b'{"type":"send","id":"1","to":"' + b"b" * 256 + b'","text":"x"}',
    b'{"type":"send","id":"1","to":"' + b"b" * 257 + b'","text":"x"}',
    b'{"type":"send","id":"1","to":"Bob","text":"' + b"x" * 4000 + b'"}',
    b'{"type":"send","id":"1","to":"Bob","text":"' + b"x" * 4001 + b'"}',
    b'{"type":"send","id":"1","to":"Bob","text":"hi"} ', b'{"type":"send","id":"1","to":"Bob","text":"hi"}}',
    b'{"type":"send","id":"1","to":"Bob","text":"hi","room":"#r"}', b'{"type":"send","id":"1","text":"hi","to":"Bob"}',
    b'{"type":"send","id":"1","to":"Bob","text":"hi","to":"Al"}', b'{"type":"send","id":"1","to":"Bob"}',
    b'{"type":"send","id":"1","to":"Bob","text":"hi"', b'{"type":"send","id":"1","to":"Bob","text":hi}',
    b'{"type":"send","id":"1","to":"Bob","text":"h"i"}', b'{"type":"send","id":"1", "to":"Bob","text":"hi"}',
    b'{"type":"send","id":1,"to":"Bob","text":"hi"}', b'{"type":"send","id":"1","to":"Bob","text":"\x00"}',
]


@pytest.mark.parametrize("frame", _SEND_FRAMES, ids=range(len(_SEND_FRAMES)))
@pytest.mark.parametrize("allowed", ["server", "every client type"])
def test_sends_read_from_their_bytes_decode_as_the_generic_path(frame: bytes, allowed: str, monkeypatch) -> None:
    # "server": what a server reads ("send" is SendDirect, its variants by key); "every
    # client type": a mapping in which "send" is another event, which takes its own way.
    types = Connection(Role.SERVER)._fixed.peer_types if allowed == "server" else _CLIENT_TYPES
    fast = codec.decode(frame, types, 4000)
    monkeypatch.setattr(codec, "_BY_BYTES", {})
    monkeypatch.setattr(codec, "_QUICK", {})
    monkeypatch.setattr(codec, "_parse_json", codec._decode_json)
    assert fast == codec.decode(frame, types, 4000)
    assert type(fast.to if hasattr(fast, "to") else "") is str  # str, never bytes


def test_random_sends_read_from_their_bytes_decode_as_the_generic_path(monkeypatch) -> None:
    # Round sixteen matches the plain form against the frame decoded as ASCII, not its bytes:
    # strings of pieces a plain send must not have (a quote, a backslash, a control
    # character, DEL, non-ASCII, bytes that are not UTF-8, another key's head), and of ones
    # it may, each answered as the generic path answers it.
    import random

    rng = random.Random(16)
    pieces = [b"a", b"Z", b" ", b"~", b"#", b"[", b"]", b"}", b"{", b":", b",", b'"', b"\\", b'\\"', b"\x00", b"\x1f",
              b"\x7f", "\u00e9".encode(), b"\xe9", b"\xff", b'","to":"', b'","text":"', b"\\u0041", b"\\n"]
    plain = [piece for piece in pieces if all(0x20 <= byte < 0x7f and byte not in b'"\\' for byte in piece)]

    def string() -> bytes:
        chosen = plain if rng.random() < 0.5 else pieces
        return b"".join(rng.choice(chosen) for _ in range(rng.randrange(0, 6)))

    frames = [b'{"type":"send","id":"%s","to":"%s","text":"%s"}' % (string(), string(), string())
              for _ in range(3_000)]
    types = Connection(Role.SERVER)._fixed.peer_types
    fast = [codec.decode(frame, types, 4000) for frame in frames]
    read_from_bytes = sum(codec._send_by_bytes(frame, types, 4000) is not None for frame in frames)
    monkeypatch.setattr(codec, "_BY_BYTES", {})
    monkeypatch.setattr(codec, "_QUICK", {})
    monkeypatch.setattr(codec, "_parse_json", codec._decode_json)
    assert [(frame, event) for frame, event in zip(frames, fast) if event != codec.decode(frame, types, 4000)] == []
    assert 300 < read_from_bytes < 2_700  # both ways were taken


def test_a_plain_send_is_read_without_the_json_decoder(monkeypatch) -> None:
    # The third frame a client sends per direct message (issue 9): no UTF-8 decoding, JSON
    # scanning, dict or quick decoder for it either.
    conn = welcomed_without_json(monkeypatch)
    conn.receive_data(b'{"type":"send","id":"7","to":"Bob","text":"hi there"}\n')
    assert list(conn.events()) == [SendDirect("7", "Bob", "hi there")]


def test_a_plain_receipt_or_ack_is_read_without_the_json_decoder(monkeypatch) -> None:
    # Two of the three frames a client sends per direct message: no UTF-8 decoding, JSON
    # scanning or dict for them (the server's profile had decoding at a tenth of its time).
    def no_json(text: str) -> None:
        raise AssertionError("decoded as JSON")

    monkeypatch.setattr(codec, "_parse_json", no_json)
    conn = Connection(Role.SERVER)
    conn.receive_data(b'{"type":"hello","id":"1","name":"Al","version":%d}\n' % const.PROTOCOL_VERSION)
    monkeypatch.undo()
    assert [type(event) for event in conn.events()] == [Hello]
    conn.send(Welcome("1", "Al", const.PROTOCOL_VERSION, "test", 30.0))
    monkeypatch.setattr(codec, "_parse_json", no_json)
    conn.receive_data(b'{"type":"receipt","msg_id":41}\n{"type":"ack","msg_id":40}\n')
    assert list(conn.events()) == [Receipt(41), OutcomeAck(40)]


def test_one_read_of_many_frames_and_a_partial_one_splits_as_frame_by_frame() -> None:
    # A read of whole frames is split in one go; the same bytes fed a byte at a time give
    # the same events, and the unfinished frame waits for its newline either way.
    frames = b"".join(b'{"type":"receipt","msg_id":%d}\n' % i for i in range(1, 40)) + b'{"type":"ack","msg_'
    ends = []
    for pieces in ([frames], [frames[i:i + 1] for i in range(len(frames))]):
        conn = Connection(Role.SERVER)
        conn.receive_data(b'{"type":"hello","id":"1","name":"Al","version":%d}\n' % const.PROTOCOL_VERSION)
        list(conn.events())
        conn.send(Welcome("1", "Al", const.PROTOCOL_VERSION, "test", 30.0))
        events = []
        for piece in pieces:
            conn.receive_data(piece, 1.0)
            events += conn.events()
        assert conn.unfinished_since == 1.0
        conn.receive_data(b'id":40}\n', 2.0)
        events += conn.events()
        assert conn.unfinished_since is None
        ends.append(events)
    assert ends[0] == ends[1] == [Receipt(i) for i in range(1, 40)] + [OutcomeAck(40)]


# --- Idle memory ----------------------------------------------------------------------------


def test_an_idle_logged_in_connection_core_keeps_a_few_hundred_bytes() -> None:
    # Ten thousand idle connections must fit in 2.5 KiB each, the asyncio transport and
    # socket included: the core's share is kept small (a shared table of frame types, no
    # buffer or outbox while there is nothing in them). It was 810 bytes.
    hello = b'{"type":"hello","id":"1","name":"Alice","version":%d}\n' % const.PROTOCOL_VERSION
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = []
        for _ in range(1000):
            conn = Connection(Role.SERVER)
            conn.receive_data(hello, 1.0)
            assert [type(event) for event in conn.events()] == [Hello]
            conn.send(Welcome("1", "Alice", const.PROTOCOL_VERSION, "test", 30.0))
            kept.append(conn)
        gc.collect()
        per_connection = (tracemalloc.get_traced_memory()[0] - before) / len(kept)
    finally:
        tracemalloc.stop()
    assert per_connection <= 320, per_connection


def test_a_connection_keeps_no_reference_to_a_buffer_the_caller_reuses() -> None:
    # The session reads into one shared buffer: the core must copy what it keeps.
    conn = Connection(Role.SERVER)
    shared = bytearray(b'{"type":"hello","id":"1","na')
    conn.receive_data(shared)
    shared[:] = b"x" * len(shared)
    conn.receive_data(memoryview(b'me":"Al","version":%d}\n' % const.PROTOCOL_VERSION))
    assert list(conn.events()) == [Hello("1", "Al", const.PROTOCOL_VERSION)]


def test_a_tamed_collector_runs_young_collections_rarely() -> None:
    # Python's default first threshold (700 allocations) made the real server scan the
    # objects of the messages in flight every 50 or so messages (issue 9; bench/PROFILE.md).
    from server import app

    before = gc.get_threshold()
    try:
        app._tame_gc(0.0, 0.0)
        assert gc.get_threshold()[0] >= 50_000
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_a_due_full_collection_waits_for_a_quiet_moment_but_not_past_the_latest(monkeypatch) -> None:
    # A full collection scans everything (293 ms with 120,000 messages in the memory store):
    # while messages flow it would be a stall they all wait for.
    from server import app

    period, latest = app._FULL_GC_PERIOD, app._FULL_GC_LATEST
    assert period < latest
    due = app._full_collection_due
    assert not due(period - 1, quiet=True)
    assert due(period, quiet=True)
    assert not due(latest - 1, quiet=False)
    assert due(latest, quiet=False)

    collected: list[int] = []
    monkeypatch.setattr(app.gc, "collect", lambda *args: collected.append(1) or 0)
    before = gc.get_threshold()
    try:
        assert app._tame_gc(period + 5.0, 0.0, quiet=False) == 0.0 and collected == []
        assert app._tame_gc(period + 5.0, 0.0, quiet=True) == period + 5.0 and collected == [1]
        assert app._tame_gc(2 * latest, latest, quiet=False) == 2 * latest and collected == [1, 1]
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
