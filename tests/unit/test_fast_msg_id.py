"""The fast encoders write a msg_id as the digits of int(msg_id), whatever its type.

They skip the call of int() for an exact int (issue 9, round seventeen): for every other
value they must still write what int() makes of it, not what its own str() or format()
says, and for an int the generic encoder's digits.
"""

from __future__ import annotations

import enum

import pytest

from protocol import Accepted, Delivered, DirectMessage, Queued, RoomMessage
from protocol import codec


class _Loud(int):
    """An int whose text is not its digits: only int() of it gives them."""

    def __str__(self) -> str:
        return "loud"

    __repr__ = __str__

    def __format__(self, spec: str) -> str:
        return "loud"


class _Level(enum.IntEnum):
    HIGH = 7


_BUILDERS = [
    lambda msg_id: Accepted("r1", msg_id),
    lambda msg_id: Queued("r1", msg_id),
    lambda msg_id: Delivered("r1", msg_id),
    lambda msg_id: DirectMessage(msg_id, "ana", "bob", "hi", 1763712000.123456),
    lambda msg_id: RoomMessage(msg_id, "ana", "hi", 1763712000.123456),
]


@pytest.mark.parametrize("build", _BUILDERS, ids=["accepted", "queued", "delivered", "dm", "room"])
@pytest.mark.parametrize("msg_id", [_Loud(12), _Level.HIGH, True, False, 5.0, 9.75, "31"],
                         ids=["int-subclass", "int-enum", "true", "false", "float", "fraction", "str"])
def test_a_msg_id_that_is_not_an_int_is_written_as_its_int(build, msg_id):
    assert codec._FAST.get(type(build(0))) is not None  # the fast way is the one under test
    assert codec.encode(build(msg_id)) == codec.encode(build(int(msg_id)))


@pytest.mark.parametrize("build", _BUILDERS, ids=["accepted", "queued", "delivered", "dm", "room"])
@pytest.mark.parametrize("msg_id", [0, 1, 9, 10, 123456789, 2 ** 53, 2 ** 63 - 1, 10 ** 30])
def test_an_int_msg_id_is_written_as_the_generic_encoder_writes_it(build, msg_id):
    event = build(msg_id)
    assert codec.encode(event) == codec._dumps(codec.to_dict(event)).encode("utf-8") + b"\n"
    assert b'"msg_id":%d,' % msg_id in codec.encode(event) or codec.encode(event).endswith(b'"msg_id":%d}\n' % msg_id)
