"""Seeded mutations of valid inputs, for the fuzz tests (tests/unit/test_fuzz_*.py and
tests/integration/test_fuzz_server.py).

Standard library only: one ``random.Random(seed)`` drives everything, so a failure is
replayed by its seed alone (each test names the seed in its assertion message). Three
levels: bytes (:func:`mutate_bytes`: flips, cuts, splices, hostile byte sequences),
JSON values (:data:`HOSTILE_VALUES`, :func:`mutate_json`: a field of a valid frame given
every wrong type), and the stream (:func:`chunks`: where the reads of a socket split it).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import random
from collections.abc import Iterator, Sequence

# Byte sequences that parsers trip on: invalid and overlong UTF-8, an encoded surrogate,
# NUL and control characters, JSON's non-values and numbers out of every range, deep
# nesting, CR and LF where a frame or a header may not have them.
HOSTILE_BYTES: tuple[bytes, ...] = (
    b"\x00", b"\xff", b"\xfe\xff", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf8\x88\x80\x80\x80", b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80", b"\xc3", b"\x80", b"\x1b[2J", b"\x7f", b"\r", b"\n", b"\r\n", b"\r\n\r\n",
    b'"\\ud800"', b'"\\udfff\\ud800"', b"NaN", b"Infinity", b"-Infinity", b"1e309", b"-1", b"-0",
    b"1.5", b"9" * 400, b"9" * 5000, b"[" * 10000, b"{" * 50, b'"' * 3, b"\\", b"\\u", b"null",
    b"true", b"\t", b" " * 64, b"*-1\r\n", b"$-2\r\n", b":" + b"9" * 5000 + b"\r\n",
    b"\x81\xff" + b"\xff" * 8, b"\x88\x80", b"%00", b"..", b"\xef\xbb\xbf",
)

_BIG = 2 ** 64
# Every wrong type and edge value a JSON field can be given (the parsed form: what
# json.loads of a hostile text gives). NaN and 1e309 are written by json.dumps as NaN and
# Infinity, JSON's non-values, which a strict parser refuses.
HOSTILE_VALUES: tuple[object, ...] = (
    None, True, False, 0, -1, 1, 2 ** 53 - 1, 2 ** 53, _BIG, -_BIG, 10 ** 400, 0.5, -0.0, 1e308,
    float("inf"), float("nan"), "", " ", "\x00", "a\x00b", "\u202e", "\ud800", "x\udfffy", "💥" * 70,
    "x" * 300, "x" * 70000, "João", "1", "true", "null", [], [None], [1, "a"], ["x"] * 600,
    list(range(1001)), {}, {"a": 1}, [[[]]], [{}], [{"name": 5}],
)


def chunks(data: bytes, rng: random.Random) -> Iterator[bytes]:
    """``data`` in random pieces (never empty: ``b""`` means end of stream), sometimes a
    byte at a time, sometimes large."""
    pos = 0
    small = rng.random() < 0.3 and len(data) <= 4096  # (a byte at a time: short streams)
    while pos < len(data):
        size = rng.randint(1, 3) if small else rng.randint(1, max(1, len(data) // 3))
        yield data[pos:pos + size]
        pos += size


def mutate_bytes(data: bytes, rng: random.Random, rounds: int | None = None) -> bytes:
    """``data`` with one to four random changes: a bit flipped, a byte replaced, inserted
    or deleted, a cut, a slice repeated or moved, a hostile sequence inserted."""
    out = bytearray(data)
    for _round in range(rounds or rng.randint(1, 4)):
        pos = rng.randint(0, len(out))
        op = rng.randrange(8)
        if op == 0 and pos < len(out):
            out[pos] ^= 1 << rng.randrange(8)
        elif op == 1 and pos < len(out):
            out[pos] = rng.randrange(256)
        elif op == 2:
            out[pos:pos] = bytes([rng.randrange(256)])
        elif op == 3 and pos < len(out):
            del out[pos:pos + rng.randint(1, 8)]
        elif op == 4:
            del out[pos:]
        elif op == 5 and out:
            start = rng.randrange(len(out))
            piece = out[start:start + rng.randint(1, 64)]
            out[pos:pos] = piece * rng.randint(1, 3)
        elif op == 6 and out:
            start = rng.randrange(len(out))
            piece = out[start:start + rng.randint(1, 32)]
            del out[start:start + len(piece)]
            pos = min(pos, len(out))
            out[pos:pos] = piece
        else:
            out[pos:pos] = rng.choice(HOSTILE_BYTES)
    return bytes(out)


def _any_json(value: object) -> str:
    """``value`` as JSON text, NaN and Infinity included; non-ASCII as it is, but for a
    lone surrogate, which has no UTF-8 and can only be written escaped."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, allow_nan=True)
    return text


def mutate_json(obj: dict, rng: random.Random) -> bytes:
    """A frame (no newline) made from the JSON object ``obj`` with one field, or its
    type, given a hostile value, a key removed, duplicated with another value, or the
    object wrapped or nested; as text, never via a strict encoder."""
    obj = dict(obj)
    keys = list(obj)
    op = rng.randrange(6)
    if op <= 2 and keys:
        obj[rng.choice(keys)] = rng.choice(HOSTILE_VALUES)
    elif op == 3 and keys:
        del obj[rng.choice(keys)]
    elif op == 4 and keys:
        key = rng.choice(keys)
        duplicate = f",{json.dumps(key)}:{_any_json(rng.choice(HOSTILE_VALUES))}}}"
        return (frame_text(obj)[:-1] + duplicate).encode("utf-8")
    else:
        depth = rng.choice((1, 2, 100, 10000))
        if rng.random() < 0.5:  # the frame inside lists (10,000 deep: past the recursion limit)
            return ("[" * depth + frame_text(obj) + "]" * depth).encode("utf-8")
        obj[rng.choice(keys) if keys else "type"] = json.loads("[" * 50 + "]" * 50)
    return frame_text(obj).encode("utf-8")


def frame_text(obj: dict) -> str:
    """``obj`` as one line of JSON text, whatever its values (NaN, lone surrogates)."""
    return "{" + ",".join(f"{json.dumps(k)}:{_any_json(v)}" for k, v in obj.items()) + "}"


# --- Events built field by field -------------------------------------------------------------
# Values tried for every field of the protocol: those a field's checker (protocol/codec.py,
# FIELDS) accepts are its pool of valid values, so that a built event mostly passes the
# codec and reaches what handles it, with values at the edges of what is valid.
CANDIDATES: tuple[object, ...] = (
    "Bob", "Alice", "João", "Conceição", "", " ", "#ação", "general", "delivered", "queued", "sent", "expired",
    "owner", "member", "moderator", "admin", "mute", "kick", "online", "timeout", "unknown_recipient",
    "rate_limited", "unavailable", "bad_field", "x" * 64, "x" * 256, "a\x00b", "\u202eevil", "💥",
    0, 1, 2, 7, 41, 45, 500, 1000, 65535, 2 ** 31, 2 ** 53 - 1, 0.5, 1.5, 15.0, 1700000000.25, 1e15,
    True, False, None, [], ["Bob"], ["Bob", "João"], ["Bob"] * 500, [7, 8], [41], [0] * 1000,
    ["batch_acks", "rooms", "since", "edits", "read", "typing", "blocks", "resume", "zzz"],
    [{"name": "Bob", "since": 1.5}], [{"msg_id": 41, "from": "Bob", "to": "Alice", "text": "oi", "sent_at": 1.0,
                                       "state": "delivered"}],
    [{"room": "#ação", "count": 3, "topic": "aula"}], [{"name": "Bob", "role": "member", "online": True}],
)


def field_pools(extra: Sequence[object] = ()) -> dict[str, list[object]]:
    """Each field's valid values among CANDIDATES and ``extra`` (ids a peer waits on)."""
    return {attr: [*pool, *_valid(attr, extra)] for attr, pool in _candidate_pools().items()}


@functools.cache
def _candidate_pools() -> dict[str, tuple[object, ...]]:
    from protocol import codec
    return {attr: tuple(_valid(attr, CANDIDATES)) for attr in codec.FIELDS}


def _valid(attr: str, values: Sequence[object]) -> Iterator[object]:
    from protocol import codec
    key, check = codec.FIELDS[attr]
    for value in values:
        try:
            check(key, value, 4000)
        except codec.FieldError:
            continue
        yield value


def built_frame(rng: random.Random, pools: dict[str, list[object]], classes: list[type]) -> bytes:
    """A frame (with its newline) of an event of one of ``classes``, each field a valid
    value (nine in ten) or a hostile one, optional fields left out at times."""
    from protocol import codec
    cls = rng.choice(classes)
    obj: dict[str, object] = {"type": cls.TYPE}
    for field in dataclasses.fields(cls):
        key = codec.FIELDS[field.name][0]
        if field.default is not dataclasses.MISSING and rng.random() < 0.4:
            continue
        pool = pools[field.name]
        obj[key] = rng.choice(pool) if pool and rng.random() < 0.9 else rng.choice(HOSTILE_VALUES)
    return frame_text(obj).encode() + b"\n"
