"""Issue 9's login fast paths give what the generic steps give, byte for byte.

A login storm of 10,000 guests pays for every Python call of a login, so a few steps take
a shorter way for the common case (an ASCII name, a new token, no failed passwords). Each
is checked here against the steps it stands for.
"""

from __future__ import annotations

import base64
import random
import secrets

import pytest

from registry import Lookalikes, lookalike_key
from registry.names import display_form, skeleton
from server import guests
from server.accounts import FailureThrottle

_PRINTABLE = [chr(i) for i in range(32, 127)]


def _generic_key(name: str) -> str:
    """PROTOCOL.md's rule 8: skeleton, lower case, skeleton, then no accents (U+0300-U+036F), i as l."""
    key = skeleton(skeleton(display_form(name)).lower())
    return "".join(c for c in key if not "\u0300" <= c <= "\u036f").replace("i", "l")


def test_the_look_alike_key_of_an_ascii_name_is_the_generic_skeleton_steps_result():
    rng = random.Random(9)
    names = ["Alice", "AIice", "A1ice", "mario", "rnario", "idle10", "IDLE10", "O0o", "Il1|", "m", "MM"]
    names += _PRINTABLE + [a + b for a in _PRINTABLE for b in _PRINTABLE]
    names += ["".join(rng.choice(_PRINTABLE) for _ in range(rng.randint(1, 32))) for _ in range(5000)]
    lookalike_key.cache_clear()
    for name in names:
        assert lookalike_key.__wrapped__(name) == _generic_key(name), name


@pytest.mark.parametrize("name", ["Zoë", "ｍａｒｉｏ", "joa\u0303o", "Ⅻ", "ǅ", "Алиса"])
def test_a_name_that_is_not_ascii_still_takes_the_generic_steps(name):
    assert lookalike_key.__wrapped__(name) == _generic_key(name)


def test_adding_a_name_to_a_look_alike_index_replaces_the_same_user_under_another_spelling():
    # add skips its discard when nothing could be found: the cases where something is.
    index = Lookalikes(["alice", "мира", "Bob"])
    index.add("Alice")  # the same user (comparison form "alice"), another spelling
    assert len(index) == 3 and index.rivals("AIice") == ["Alice"]
    index.add("Мира")  # filed under another key (Cyrillic capital М looks like rn, small м like ʍ): moved, not doubled
    assert len(index) == 3 and index.rivals("ʍира") == [] and index.rivals("rnира") == ["Мира"]
    index.add("B0b")  # another user who looks like Bob
    assert len(index) == 4 and index.rivals("BOB") == ["B0b"] and index.rivals("b0b") == ["Bob"]
    index.add("bob")  # Bob again, in lower case: still one Bob beside B0b
    assert len(index) == 4 and index.rivals("B0b") == ["bob"]


def test_a_new_guest_token_is_what_secrets_token_urlsafe_gives_for_the_same_bytes(monkeypatch):
    for seed in range(50):
        raw = random.Random(seed).randbytes(32)
        monkeypatch.setattr(guests.os, "urandom", lambda n, raw=raw: raw[:n])
        token, holding = guests.GuestNames({}, 60.0).take("ann", "Ann", 0)
        assert token == base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")  # secrets.token_urlsafe
        assert holding.token_hash == guests._digest(token)
    monkeypatch.undo()
    token, _ = guests.GuestNames({}, 60.0).take("ann", "Ann", 0)
    assert len(token) == len(secrets.token_urlsafe(32)) == 43 and guests.acceptable_token(token)


def test_a_proposed_token_is_still_adopted_and_a_poor_one_replaced():
    good = "A" * guests.MIN_PROPOSED_TOKEN
    assert guests.GuestNames({}, 60.0).take("ann", "Ann", 0, good)[0] == good
    for poor in ("short", "A" * 31, "é" * 40, "A" * 31 + "="):
        token = guests.GuestNames({}, 60.0).take("ann", "Ann", 0, poor)[0]
        assert token != poor and len(token) == 43


def test_the_throttle_says_how_long_to_wait_and_zero_when_nothing_failed():
    throttle = FailureThrottle(base=1.0, cap=8.0)
    keys = ("ann@10.0.0.1", "@10.0.0.1")
    assert throttle.retry_after(keys, 100.0) == 0.0 and throttle.retry_after((), 100.0) == 0.0
    throttle.failed(keys[1:], 100.0)
    assert throttle.retry_after(keys, 100.25) == 0.75  # the address's wait counts for every name
    throttle.failed(keys, 100.0)  # the name@address's first, the address's second
    assert throttle.retry_after(keys, 100.5) == 1.5 and throttle.retry_after(keys[:1], 100.5) == 0.5
    assert throttle.retry_after(keys, 103.0) == 0.0  # over: never a negative wait


def test_a_connection_s_protocol_core_fits_pymalloc_s_160_byte_class():
    # Every idle connection keeps one (issue 9's 2,560 bytes): the peer's role is looked up
    # from the connection's own, not kept in a slot, so the object is 160 bytes, not 176.
    import sys

    from protocol.connection import Connection, Role

    for role in Role:
        assert sys.getsizeof(Connection(role)) <= 160


def test_a_connection_s_protocol_core_fits_pymalloc_s_128_byte_class():
    # Every idle connection keeps one (issue 9's 2,560 bytes): what never changes (role,
    # the peer's types, the two limits) is one object shared by connections made alike,
    # and the two tables of what each side may send now are one pair, so the core has
    # twelve slots: 128 bytes, not 160.
    import sys

    from protocol import ErrorCode
    from protocol.connection import Connection, Role

    for role in Role:
        assert sys.getsizeof(Connection(role)) <= 128
        assert Connection(role).role is role
    assert Connection(Role.SERVER)._fixed is Connection(Role.SERVER)._fixed
    small = Connection(Role.SERVER, max_frame_bytes=100, max_text_chars=10)
    small.receive_data(b"x" * 150 + b"\n")
    assert [e.code for e in small.events()] == [ErrorCode.FRAME_TOO_LARGE]
