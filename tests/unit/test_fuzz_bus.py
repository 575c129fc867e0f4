"""The cluster's bus entries (server/cluster/bus.py) against a hostile or broken Redis:
a seeded fuzzer.

Every entry a node reads from the streams comes from Redis. ``bus.decode`` of a mutated
entry returns an event or raises ``BadEntry`` (the reader counts it and goes on), never
another exception; an event it returns (but a dm's, whose fields are not checked: the
cross-node message path) encodes again to itself, so nothing it lets in breaks a node
later. A failure names its seed.
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
    if type(event) is bus.Deliver:
        return
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
