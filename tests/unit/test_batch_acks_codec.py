"""Feature batch_acks on the wire: a ``receipt`` or ``ack`` with ``msg_ids`` (PROTOCOL.md,
"Features"), decoded from its bytes exactly as the generic path decodes it, and refused
with ``bad_field`` (nothing of it done) when the list is not a plain list of ids."""

from __future__ import annotations

import json

import pytest

import const
from protocol import (
    BATCH_ACKS, FEATURES, Connection, ErrorCode, FrameRejected, Hello, OutcomeAck, OutcomeAcks, Receipt, Receipts,
    Role, Welcome,
)
from protocol import codec
from protocol.events import WIRE_EVENTS

_CLIENT_TYPES = {cls.TYPE: cls for cls in WIRE_EVENTS
                 if cls.SENDER in ("client", "both") and codec.TYPES.get(cls.TYPE) is cls}
_MAX = codec.MAX_IDS_PER_FRAME


def _decode(frame: bytes):
    return codec.decode(frame, _CLIENT_TYPES, const.MAX_TEXT_CHARS)


def test_batch_acks_is_a_feature_and_the_batched_forms_round_trip() -> None:
    assert BATCH_ACKS in FEATURES
    for event in (Receipts((7,)), Receipts((1, 0, 9007199254740991, 1)), OutcomeAcks(tuple(range(_MAX)))):
        frame = codec.encode(event)
        assert frame == (json.dumps(codec.to_dict(event), separators=(",", ":")) + "\n").encode()
        assert _decode(frame[:-1]) == event
    assert codec.encode(Receipts((3, 4))) == b'{"type":"receipt","msg_ids":[3,4]}\n'


_BATCHED_FRAMES = [
    b'{"type":"receipt","msg_ids":[7]}', b'{"type":"ack","msg_ids":[7,8,9]}', b'{"type":"ack","msg_ids":[0,0]}',
    b'{"type":"receipt","msg_ids":[9007199254740991]}', b'{"type":"receipt","msg_ids":[9007199254740992]}',
    b'{"type":"receipt","msg_ids":[12345678901234567]}', b'{"type":"receipt","msg_ids":[]}',
    b'{"type":"receipt","msg_ids":[07]}', b'{"type":"receipt","msg_ids":[-1]}', b'{"type":"receipt","msg_ids":[1e3]}',
    b'{"type":"receipt","msg_ids":[1.0]}', b'{"type":"receipt","msg_ids":[1,]}', b'{"type":"receipt","msg_ids":[,1]}',
    b'{"type":"receipt","msg_ids":[1 ,2]}', b'{"type":"receipt","msg_ids":[1, 2]}', b'{"type":"receipt","msg_ids":[1]',
    b'{"type":"receipt","msg_ids":[1]}}', b'{"type":"receipt","msg_ids":[1],"x":2}', b'{"type":"ack","msg_ids":["1"]}',
    b'{"type":"ack","msg_ids":[true]}', b'{"type":"ack","msg_ids":[null]}', b'{"type":"ack","msg_ids":1}',
    b'{"type":"ack","msg_ids":{"1":2}}', b'{"type":"ack","msg_ids":[[1]]}', b'{"type":"ack","msg_ids":[1],"msg_id":1}',
    b'{"type":"ack","msg_id":1,"msg_ids":[1]}', b'{"type":"ack","msg_ids":null}', b'{"type":"ack","msg_ids":[\xd9\xa1]}',
    b'{"type":"ack","msg_ids":[' + b",".join(b"1" for _ in range(_MAX)) + b']}',
    b'{"type":"ack","msg_ids":[' + b",".join(b"1" for _ in range(_MAX + 1)) + b']}',
    b'{"msg_ids":[1],"type":"ack"}', b'{"type":"receipt","msg_ids":[1],"id":"r1"}',
]


@pytest.mark.parametrize("frame", _BATCHED_FRAMES, ids=range(len(_BATCHED_FRAMES)))
def test_batched_frames_read_from_their_bytes_decode_as_the_generic_path(frame: bytes, monkeypatch) -> None:
    fast = _decode(frame)
    monkeypatch.setattr(codec, "_BY_BYTES", {})
    quick = _decode(frame)
    monkeypatch.setattr(codec, "_QUICK", {})
    monkeypatch.setattr(codec, "_parse_json", codec._decode_json)
    generic = _decode(frame)
    assert fast == quick == generic


@pytest.mark.parametrize("obj, words", [
    ({"type": "receipt", "msg_ids": []}, "must be a list of 1 to"),
    ({"type": "receipt", "msg_ids": list(range(_MAX + 1))}, "must be a list of 1 to"),
    ({"type": "receipt", "msg_ids": "1,2"}, "must be a list of 1 to"),
    ({"type": "ack", "msg_ids": [1, -2]}, "items must be integers"),
    ({"type": "ack", "msg_ids": [1, True]}, "items must be integers"),
    ({"type": "ack", "msg_ids": [1, 2.0]}, "items must be integers"),
    ({"type": "ack", "msg_ids": [codec.MAX_INTEGER + 1]}, "items must be integers"),
    ({"type": "ack", "msg_ids": [1], "msg_id": 1}, "either 'msg_id' or 'msg_ids'"),
])
def test_a_bad_list_of_ids_is_a_bad_field(obj: dict, words: str) -> None:
    rejected = _decode(json.dumps(obj).encode())
    assert isinstance(rejected, FrameRejected) and rejected.code == ErrorCode.BAD_FIELD
    assert words in rejected.message


def welcomed_without_json(monkeypatch) -> Connection:
    """A server's connection past its welcome, whose JSON decoder now fails any frame it is
    given: what it reads after this must be read from the bytes."""
    def no_json(text: str) -> None:
        raise AssertionError("decoded as JSON")

    conn = Connection(Role.SERVER)
    conn.receive_data(b'{"type":"hello","id":"1","name":"Al","version":%d}\n' % const.PROTOCOL_VERSION)
    assert [type(event) for event in conn.events()] == [Hello]
    conn.send(Welcome("1", "Al", const.PROTOCOL_VERSION, "test", 30.0))
    monkeypatch.setattr(codec, "_parse_json", no_json)
    return conn


def test_batched_frames_are_read_without_the_json_decoder(monkeypatch) -> None:
    conn = welcomed_without_json(monkeypatch)
    conn.receive_data(b'{"type":"receipt","msg_ids":[41,42]}\n{"type":"ack","msg_ids":[40,39]}\n'
                      b'{"type":"receipt","msg_id":43}\n{"type":"ack","msg_id":38}\n')
    assert list(conn.events()) == [Receipts((41, 42)), OutcomeAcks((40, 39)), Receipt(43), OutcomeAck(38)]


def test_random_lists_of_ids_read_from_their_bytes_decode_as_the_generic_path(monkeypatch) -> None:
    """The ids of a plain batched frame are read by the JSON scanner from the frame (issue 9,
    round seventeen): every id, in order, the same ints as the generic path reads, for
    lists of any length up to the limit and ids of every width up to 16 digits; and the
    fast way is the one taken for each frame that holds only valid ids."""
    import random

    rng = random.Random(9)
    frames = []
    for _ in range(400):
        count = rng.choice([1, 2, 3, 4, 5, rng.randrange(1, _MAX + 1), _MAX, _MAX + 1])
        ids = [rng.choice([0, rng.randrange(10), rng.randrange(10 ** rng.randrange(1, 17)), codec.MAX_INTEGER])
               for _ in range(count)]
        if rng.random() < 0.1:  # one id too large
            ids[rng.randrange(count)] = codec.MAX_INTEGER + rng.randrange(1, 3)
        kind = rng.choice([b"receipt", b"ack"])
        frames.append(b'{"type":"%s","msg_ids":[%s]}' % (kind, b",".join(b"%d" % i for i in ids)))
    fast = [_decode(frame) for frame in frames]
    monkeypatch.setattr(codec, "_BY_BYTES", {})
    monkeypatch.setattr(codec, "_QUICK", {})
    monkeypatch.setattr(codec, "_parse_json", codec._decode_json)
    generic = [_decode(frame) for frame in frames]
    assert fast == generic
    valid = [event for event in fast if not isinstance(event, FrameRejected)]
    assert len(valid) > 200 and any(len(event.msg_ids) == _MAX for event in valid)
    assert any(isinstance(event, FrameRejected) for event in fast)  # too many, or an id too large
