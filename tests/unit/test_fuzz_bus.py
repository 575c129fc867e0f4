"""The cluster's bus entries (server/cluster/bus.py) against a hostile or broken Redis:
a seeded fuzzer.

Every entry a node reads from the streams comes from Redis. ``bus.decode`` of a mutated
entry returns an event or raises ``BadEntry`` (the reader counts it and goes on), never
another exception; an event it returns (a dm's too: the cross-node message path, whose
message's fields are checked as well) encodes again to itself, so nothing it lets in
breaks a node later. A failure names its seed.
"""

from __future__ import annotations

import random

import pytest

from mutations import HOSTILE_VALUES, frame_text, mutate_bytes, mutate_json
from server.cluster import bus
from test_cluster_bus import EVENTS

SEEDS = range(4)


def _check(data: bytes, seed: int) -> None:
    try:
        event = bus.decode(data)
    except bus.BadEntry:
        return
    except Exception as exc:
        raise AssertionError(f"seed {seed}: decode raised {exc!r} for {data[:300]!r}") from exc
    try:
        again = bus.decode(bus.encode(event))
    except Exception as exc:
        raise AssertionError(f"seed {seed}: {event!r}, read from {data[:300]!r}, cannot be encoded: {exc!r}") from exc
    assert again == event, (seed, data[:300], event, again)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_mutated_entry_is_an_event_or_a_bad_entry(seed: int) -> None:
    rng = random.Random(seed)
    for event in EVENTS:
        data = bus.encode(event)
        for _ in range(60):
            _check(mutate_bytes(data, rng), seed)
            _check(mutate_json(bus._json_of(data), rng), seed)


def test_every_field_of_every_entry_given_every_wrong_value_is_an_event_or_a_bad_entry() -> None:
    for event in EVENTS:
        obj = bus._json_of(bus.encode(event))
        for key in obj:
            for value in HOSTILE_VALUES:
                _check(frame_text({**obj, key: value}).encode(), -1)



def test_every_field_of_a_dm_entrys_message_given_every_wrong_value_is_refused_unless_of_its_type() -> None:
    # A dm entry's message is a list: each of its places, each hostile value, and the
    # values of each type a field may hold. decode's checks are written out (the cross-node
    # message path): they must say what the message's fields say, BadEntry naming the field.
    obj = bus._json_of(bus.encode(next(event for event in EVENTS if type(event) is bus.Deliver)))
    kinds = [0, 1.5, "x", None, True, [], {}]
    for place, (name, types, _typename) in enumerate(bus._DM_CHECKS):
        for value in [*HOSTILE_VALUES, *kinds]:
            data = frame_text({**obj, "m": [*obj["m"][:place], value, *obj["m"][place + 1:]]}).encode()
            _check(data, -1)
            if type(value) in types:
                try:
                    assert getattr(bus.decode(data).message, name) == value, (name, value)
                except bus.BadEntry as exc:  # (a lone surrogate: no UTF-8, refused as that)
                    assert "not JSON" in str(exc), (name, value, exc)
            else:  # (NaN and the infinities: no JSON, refused as that)
                with pytest.raises(bus.BadEntry, match=f"field {name!r}|not JSON"):
                    bus.decode(data)


# --- Findings, each seen failing before its fix ---------------------------------------------


@pytest.mark.parametrize("data", [b'{"k":[]}', b'{"k":{}}'], ids=["a list", "an object"])
def test_an_entry_whose_kind_is_not_a_string_is_a_bad_entry(data: bytes) -> None:
    # Found by the fuzzer: the kind was looked up in a dict as it came, and a list is
    # unhashable: TypeError, which the node's reader does not take for a bad entry.
    with pytest.raises(bus.BadEntry):
        bus.decode(data)


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_an_entry_with_nan_or_infinity_is_a_bad_entry(constant: bytes) -> None:
    # Found by the fuzzer: the decoder took JSON's non-values, so a presence's time could
    # be NaN, which no chat frame can carry (the codec refuses to write it).
    with pytest.raises(bus.BadEntry):
        bus.decode(b'{"k":"off","key":"ana","sid":"n1/1","reason":"quit","at":' + constant + b"}")
