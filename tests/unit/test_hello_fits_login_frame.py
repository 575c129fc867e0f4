"""Every hello the codec accepts fits in a frame before the welcome (const.MAX_LOGIN_FRAME_BYTES),
with room to spare: a client that keeps to the field limits is never told frame_too_large for
its login. The largest hello is found by asking the codec itself, so a limit raised later
(a longer field, more features) is caught here, not by a user whose login is refused."""

from __future__ import annotations

import json

import const
from protocol import Hello
from protocol import codec
from protocol.events import FrameRejected

# What the codec writes each of these as: a control character is escaped as \\u0001 (6 bytes),
# a quote as \\" (2), an emoji is 4 bytes of UTF-8, the euro sign 3, a letter 1.
CHARACTERS = ("\x01", '"', "\U0001F600", "\u20ac", "a")
# Bytes a valid hello leaves free below the limit: room for fields added later.
SPARE_BYTES = 4096
HELLO = {"type": "hello", "id": "r1", "name": "Alice", "version": 2}
SEARCH_UP_TO = 1 << 15


def _accepts(fields: dict) -> bool:
    frame = json.dumps({**HELLO, **fields}, ensure_ascii=False).encode()
    return not isinstance(codec.decode(frame, {"hello": Hello}, const.MAX_TEXT_CHARS), FrameRejected)


def _most(valid) -> int:
    """The largest n in 0..SEARCH_UP_TO for which valid(n) holds (valid is monotone, valid(0) holds)."""
    low, high = 0, SEARCH_UP_TO
    while low < high:
        middle = (low + high + 1) // 2
        if valid(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _largest_string(key: str) -> str:
    candidates = [char * _most(lambda n, char=char: _accepts({key: char * n})) for char in CHARACTERS]
    return max(candidates, key=lambda value: len(json.dumps(value, ensure_ascii=False).encode()))


def _largest_features() -> list[str]:
    candidates = []
    for char in CHARACTERS:
        item = char * _most(lambda n, char=char: _accepts({"features": [char * n]}))
        if item:
            candidates.append([item] * _most(lambda n, item=item: _accepts({"features": [item] * n})))
    return max(candidates, key=lambda value: len(json.dumps(value, ensure_ascii=False).encode()))


def test_the_largest_valid_hello_fits_in_a_login_frame_with_room_to_spare():
    fields = {key: _largest_string(key) for key in ("id", "name", "password", "resume")}
    fields["features"] = _largest_features()
    fields.update(version=codec.MAX_INTEGER, register=True, room_seen=codec.MAX_INTEGER,
                  last_heard=codec.MAX_INTEGER)
    frame = json.dumps({**HELLO, **fields}, ensure_ascii=False).encode()
    hello = codec.decode(frame, {"hello": Hello}, const.MAX_TEXT_CHARS)
    assert isinstance(hello, Hello), hello
    size = len(codec.encode(hello))
    assert size <= const.MAX_LOGIN_FRAME_BYTES - SPARE_BYTES, (
        f"the largest valid hello takes {size} bytes; a login frame holds {const.MAX_LOGIN_FRAME_BYTES}")


def test_a_feature_name_over_its_limit_is_refused_naming_field_and_limit():
    refused = codec.decode(json.dumps({**HELLO, "features": ["f" * (codec.MAX_FEATURE_CHARS + 1)]}).encode(),
                           {"hello": Hello}, const.MAX_TEXT_CHARS)
    assert isinstance(refused, FrameRejected)
    assert (refused.code, refused.field, refused.max_chars) == ("bad_field", "features", codec.MAX_FEATURE_CHARS)


def test_a_feature_name_of_other_than_printable_ascii_is_refused():
    for name in ("caf\u00e9", "tab\there", "\x01"):
        refused = codec.decode(json.dumps({**HELLO, "features": [name]}).encode(), {"hello": Hello},
                               const.MAX_TEXT_CHARS)
        assert isinstance(refused, FrameRejected) and refused.code == "bad_field", (name, refused)
        assert "printable ASCII" in refused.message


def test_every_known_feature_name_keeps_to_the_rule():
    from protocol.events import FEATURES
    assert _accepts({"features": list(FEATURES)})
