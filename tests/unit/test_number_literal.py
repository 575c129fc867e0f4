"""The fast encoders' numbers (protocol/codec.py, ``_number_literal``): exactly repr()'s text
for every float, whether written from whole microseconds (issue 9, round sixteen: the
server stamps ``sent_at`` so) or by repr itself."""

from __future__ import annotations

import math
import random
import struct

import pytest

from protocol import DirectMessage, RoomMessage
from protocol import codec

_LIMIT = codec._WHOLE_MICROS_BELOW


def _whole_micros(rng: random.Random, low: float, high: float) -> float:
    return rng.randrange(int(low * 1e6), int(high * 1e6)) / 1e6


def _samples() -> list[float]:
    rng = random.Random(16)
    values = []
    for _ in range(20_000):
        values.append(_whole_micros(rng, 1.0, 2 * _LIMIT))  # the fast way, and above its bound
        values.append(_whole_micros(rng, 1.7e9, 1.9e9))  # times of these years
        values.append(rng.randrange(1, 20_000) * 100_000 / 1e6)  # trailing zeros, ".0" included
        values.append(rng.uniform(0.0, 2 * _LIMIT))  # times not in whole microseconds
        values.append(struct.unpack("<d", rng.randbytes(8))[0])  # any double at all
    for power in range(0, 11):  # either side of a power of ten, a microsecond apart
        for micros in (-2, -1, 0, 1, 2):
            values.append((10 ** (power + 6) + micros) / 1e6)
    for edge in (1.0, 2.0, 0.5, 1e-5, 0.0, -0.0, -1.5, -1763712000.5, _LIMIT, 2 * _LIMIT, 1e16, 1e22, 5e-324,
                 1763712000.5, 1763712001.0, 1763712000.000001, 1763712000.999999, 1763712000.1):
        values += [edge, math.nextafter(edge, math.inf), math.nextafter(edge, -math.inf)]
    values += [math.nextafter(_LIMIT, 0.0), math.floor(_LIMIT * 1e6 - 1) / 1e6]
    return [value for value in values if math.isfinite(value)]


def test_a_number_is_written_exactly_as_repr_writes_it() -> None:
    wrong = [(value, codec._number_literal(value)) for value in _samples()
             if codec._number_literal(value) != repr(value)]
    assert wrong == []


@pytest.mark.parametrize("kind", [DirectMessage, RoomMessage])
def test_a_message_in_whole_microseconds_is_encoded_as_the_generic_encoder_encodes_it(kind) -> None:
    rng = random.Random(9)
    for _ in range(2_000):
        sent_at = _whole_micros(rng, 1.7e9, 1.9e9)
        event = kind(7, "Alice", "Bob", "hi", sent_at) if kind is DirectMessage else kind(7, "Alice", "hi", sent_at)
        assert codec.encode(event) == codec._dumps(codec.to_dict(event)).encode("utf-8") + b"\n"


def test_whole_microseconds_are_written_without_repr(monkeypatch) -> None:
    # What the round bought: the fast way is taken for them, repr() for the others.
    calls = []

    def counted(value):
        calls.append(value)
        return float.__repr__(value)

    monkeypatch.setattr(codec, "repr", counted, raising=False)  # the module's global shadows the builtin
    for value in (1763712000.123456, 1763712000.25, 1763712000.0, 1.5, math.floor(_LIMIT * 1e6 - 1) / 1e6):
        assert codec._number_literal(value) == float.__repr__(value)
    rng = random.Random(32)
    for _ in range(5_000):
        value = _whole_micros(rng, 1.0, _LIMIT)
        assert codec._number_literal(value) == float.__repr__(value)
    assert calls == []
    assert codec._number_literal(1763712000.1234567) == "1763712000.1234567"
    assert codec._number_literal(_LIMIT) == "4294967296.0"
    assert calls == [1763712000.1234567, _LIMIT]
