"""Encoding events to frames and decoding frames to events.

A frame is one JSON object in UTF-8 followed by ``\\n``. JSON escapes every newline inside
strings, so the newline can only ever end a frame. :func:`encode` turns an event into a
frame; :func:`decode` turns one frame (without its newline) into an event, or into a
:class:`FrameRejected` that says precisely what is wrong with it.

Every field name means the same thing in every event, so one table (``FIELDS``) says how
each is checked. Keys a receiver does not know are ignored, so later versions can add some.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import const

from .errors import ErrorCode
from .events import VARIANTS, WIRE_EVENTS, Event, FrameRejected, HistoryEntry, MemberEntry, Presence, RoomEntry
from .frozen import fast_new

# Lone surrogates can come in through JSON escapes ("\ud800") but cannot be encoded
# as UTF-8 again: refuse them where they enter, not where they would crash an encoder.
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_ID_CHARS = 64
_MAX_SHORT_TEXT = 256
_MAX_PASSWORD_CHARS = const.MAX_PASSWORD_CHARS
MAX_HISTORY_PAGE = 500
# Names in one watch or unwatch request. The answer to a watch lists those online, each
# with its time: 500 names of Latin letters fit in one frame, but not 500 of the longest
# (128 bytes of UTF-8 each): the server refuses a watch whose answer would not fit
# (server/registrydesk.py, _watch).
MAX_NAMES_PER_REQUEST = 500
# Names in one watch whose answer always fits, whatever they are (the longest online, or
# offline as sent in MAX_NAME_BYTES): what the project's clients send in one request.
WATCH_PART = 250
# Message ids in one batched receipt or ack (feature batch_acks): the most a server has in
# flight to one client at a time (const.MAX_PENDING_RECEIPTS); 1,000 ids of 16 digits take
# about 17 KB, well within a frame.
MAX_IDS_PER_FRAME = const.MAX_PENDING_RECEIPTS
# Every integer and number on the wire is in 0 <= n <= MAX_INTEGER: what a JSON parser
# that reads numbers as doubles (JavaScript's) represents exactly, and what fits a SQLite
# INTEGER. Message ids and cursors are far below it; anything above is a bad_field.
MAX_INTEGER = 2 ** 53 - 1
# Feature names in one hello or welcome (see events.FEATURES): far more than exist. Each is
# printable ASCII of at most MAX_FEATURE_CHARS characters (the longest known has 10): so the
# list takes about 2 KB at most, and the largest valid hello fits in a login frame
# (const.MAX_LOGIN_FRAME_BYTES) with room to spare; 32 names of 64 escaped control
# characters took 12 KB and made a valid hello too large to be read.
MAX_FEATURES = 32
MAX_FEATURE_CHARS = 32
MAX_PORT = 65535


class FieldError(Exception):
    """A field is missing or has the wrong type or size; carries the error code, and for a
    string too long the field's key on the wire (``field``) and its limit: ``max_chars``
    characters, or ``max_bytes`` bytes of UTF-8 (the error frame says them: PROTOCOL.md,
    "error"), else None."""

    def __init__(self, code: str, message: str, field: str | None = None, max_chars: int | None = None,
                 max_bytes: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.max_chars = max_chars
        self.max_bytes = max_bytes


def _string(max_chars: int | None, code: str = ErrorCode.BAD_FIELD,
            max_bytes: int | None = None) -> Callable[[str, Any, int], str]:
    """A checker of a string field of at most ``max_chars`` characters (None: the text
    limit) and, if given, ``max_bytes`` bytes of UTF-8; ``code`` for one too long."""
    # Up to this many characters a string cannot pass max_bytes (4 bytes a character at
    # most): only longer ones are encoded to count their bytes.
    safe_chars = None if max_bytes is None else max_bytes // 4

    def check(key: str, value: Any, max_text: int) -> str:
        if type(value) is not str:
            raise FieldError(ErrorCode.BAD_FIELD, f"'{key}' must be a string")
        limit = max_text if max_chars is None else max_chars
        if len(value) > limit:
            raise FieldError(code, f"'{key}' is {len(value)} characters long; the limit is {limit}", key,
                             max_chars=limit)
        # isascii() reads a flag CPython keeps on every string: most text needs no search
        # (and an ASCII string has as many bytes as characters).
        if not value.isascii():
            if _SURROGATE.search(value):
                raise FieldError(ErrorCode.BAD_FIELD, f"'{key}' contains an unpaired surrogate")
            if safe_chars is not None and len(value) > safe_chars and len(value.encode()) > max_bytes:
                raise FieldError(code, f"'{key}' is {len(value.encode())} bytes long in UTF-8; "
                                 f"the limit is {max_bytes} bytes", key, max_bytes=max_bytes)
        return value

    return check


def _optional(check: Callable[[str, Any, int], Any]) -> Callable[[str, Any, int], Any]:
    def check_optional(key: str, value: Any, max_text: int) -> Any:
        return None if value is None else check(key, value, max_text)

    check_optional.required = check  # what _spec uses where the event needs a value
    return check_optional


def _integer(key: str, value: Any, max_text: int) -> int:
    # bool is a subclass of int in Python, but true is not a message id.
    if type(value) is not int or not 0 <= value <= MAX_INTEGER:
        raise FieldError(ErrorCode.BAD_FIELD, f"'{key}' must be an integer from 0 to {MAX_INTEGER}")
    return value


def _port(key: str, value: Any, max_text: int) -> int:
    value = _integer(key, value, max_text)
    if value > MAX_PORT:
        raise FieldError(ErrorCode.BAD_FIELD, f"'{key}' must be an integer from 0 to {MAX_PORT}")
    return value


def _number(key: str, value: Any, max_text: int) -> float:
    # Compared, not passed to math.isfinite: that raises OverflowError for a huge int.
    # NaN fails every comparison, so it is refused here too.
    if type(value) not in (int, float) or not 0 <= value <= MAX_INTEGER:
        raise FieldError(ErrorCode.BAD_FIELD, f"'{key}' must be a number from 0 to {MAX_INTEGER}")
    return value


def _mute_seconds(key: str, value: Any, max_text: int) -> float:
    """A mute's length: a number of seconds from 0 to const.MAX_MUTE_SECONDS (a year), so
    that no mute ends in a year nobody can read ("until 14/10/3170900"). The refusal names
    the key and, in its message, the limit."""
    if type(value) not in (int, float) or not 0 <= value <= const.MAX_MUTE_SECONDS:  # (NaN: refused too)
        raise FieldError(ErrorCode.BAD_FIELD, f"'{key}' must be a number of seconds from 0 to "
                         f"{const.MAX_MUTE_SECONDS} (a year)", key)
    return value


def _boolean(key: str, value: Any, max_text: int) -> bool:
    if type(value) is not bool:
        raise FieldError(ErrorCode.BAD_FIELD, f"'{key}' must be true or false")
    return value


def _objects(key: str, value: Any) -> list[dict]:
    """``value`` if it is a list of JSON objects, else FieldError."""
    if type(value) is not list:
        raise FieldError(ErrorCode.BAD_FIELD, f"'{key}' must be a list")
    if any(type(item) is not dict for item in value):
        raise FieldError(ErrorCode.BAD_FIELD, f"'{key}' items must be objects")
    return value


def _presences(key: str, value: Any, max_text: int) -> tuple[Presence, ...]:
    return tuple(Presence(_name("name", item.get("name"), max_text), _number("since", item.get("since"), max_text))
                 for item in _objects(key, value))


def _history(key: str, value: Any, max_text: int) -> tuple[HistoryEntry, ...]:
    return tuple(HistoryEntry(
        _integer("msg_id", item.get("msg_id"), max_text), _name("from", item.get("from"), max_text),
        _name("to", item.get("to"), max_text), _string(None)("text", item.get("text"), max_text),
        _number("sent_at", item.get("sent_at"), max_text), _short("state", item.get("state"), max_text),
        _boolean("edited", item.get("edited", False), max_text), _boolean("deleted", item.get("deleted", False), max_text))
        for item in _objects(key, value))


def _room_entries(key: str, value: Any, max_text: int) -> tuple[RoomEntry, ...]:
    return tuple(RoomEntry(_name("room", item.get("room"), max_text), _integer("count", item.get("count"), max_text),
                           _topic("topic", item.get("topic"), max_text),
                           _boolean("invite_only", item.get("invite_only", False), max_text))
                 for item in _objects(key, value))


def _member_entries(key: str, value: Any, max_text: int) -> tuple[MemberEntry, ...]:
    return tuple(MemberEntry(_name("name", item.get("name"), max_text), _short("role", item.get("role"), max_text),
                             _boolean("online", item.get("online"), max_text),
                             _boolean("muted", item.get("muted", False), max_text))
                 for item in _objects(key, value))


def _names(least: int) -> Callable[[str, Any, int], tuple[str, ...]]:
    """A list of ``least`` to MAX_NAMES_PER_REQUEST names (strings; the relay checks the
    naming rules): a watch list is sent in parts, so that the answer fits in one frame."""
    def check(key: str, value: Any, max_text: int) -> tuple[str, ...]:
        if type(value) is not list:
            raise FieldError(ErrorCode.BAD_FIELD, f"'{key}' must be a list")
        if not least <= len(value) <= MAX_NAMES_PER_REQUEST:
            raise FieldError(ErrorCode.BAD_FIELD, f"'{key}' must hold {least} to {MAX_NAMES_PER_REQUEST} names")
        return tuple(_name(key, item, max_text) for item in value)

    return check


def _msg_ids(key: str, value: Any, max_text: int) -> tuple[int, ...]:
    """A list of 1 to MAX_IDS_PER_FRAME message ids (each as ``msg_id``), kept in order;
    the same id twice means what two frames with it would."""
    if type(value) is not list or not 1 <= len(value) <= MAX_IDS_PER_FRAME:
        raise FieldError(ErrorCode.BAD_FIELD, f"'{key}' must be a list of 1 to {MAX_IDS_PER_FRAME} message ids")
    for item in value:
        if type(item) is not int or not 0 <= item <= MAX_INTEGER:
            raise FieldError(ErrorCode.BAD_FIELD, f"'{key}' items must be integers from 0 to {MAX_INTEGER}")
    return tuple(value)


def _marks(key: str, value: Any, max_text: int) -> tuple[int, ...]:
    """A list of at most const.ROOM_READS_LIMIT message ids (a room's read marks)."""
    if type(value) is not list or len(value) > const.ROOM_READS_LIMIT:
        raise FieldError(ErrorCode.BAD_FIELD, f"'{key}' must be a list of at most {const.ROOM_READS_LIMIT} message ids")
    for item in value:
        if type(item) is not int or not 0 <= item <= MAX_INTEGER:
            raise FieldError(ErrorCode.BAD_FIELD, f"'{key}' items must be integers from 0 to {MAX_INTEGER}")
    return tuple(value)


def _features(key: str, value: Any, max_text: int) -> tuple[str, ...] | None:
    """A list of at most MAX_FEATURES names, each printable ASCII (space to ``~``) of at most
    MAX_FEATURE_CHARS characters; names nobody knows are kept (the receiver ignores them), so
    a later client can ask for features this server lacks."""
    if value is None:
        return None
    if type(value) is not list or len(value) > MAX_FEATURES:
        raise FieldError(ErrorCode.BAD_FIELD, f"'{key}' must be a list of at most {MAX_FEATURES} names")
    if any(type(item) is not str for item in value):  # said of the list: "must be a string" misled
        raise FieldError(ErrorCode.BAD_FIELD, f"'{key}' must be a list of strings (feature names)")
    for item in value:
        if len(item) > MAX_FEATURE_CHARS:
            raise FieldError(ErrorCode.BAD_FIELD, f"'{key}' holds a name {len(item)} characters long; the limit "
                             f"is {MAX_FEATURE_CHARS}", key, max_chars=MAX_FEATURE_CHARS)
        if not (item.isascii() and item.isprintable()):
            raise FieldError(ErrorCode.BAD_FIELD, f"'{key}' names must be printable ASCII")
    return tuple(value)


def _limit(key: str, value: Any, max_text: int) -> int:
    value = _integer(key, value, max_text)
    if not 1 <= value <= MAX_HISTORY_PAGE:
        raise FieldError(ErrorCode.BAD_FIELD, f"'{key}' must be between 1 and {MAX_HISTORY_PAGE}")
    return value


_id = _string(_MAX_ID_CHARS)
# A name over 256 bytes of UTF-8 breaks the naming rules (PROTOCOL.md "Names", rule 1):
# invalid_name, in every field that holds one, whatever its number of characters. The
# other rules are the registry's (registry/names.py), where the name is looked up.
_name_bytes = _string(const.MAX_NAME_BYTES, ErrorCode.INVALID_NAME, const.MAX_NAME_BYTES)


def _name(key: str, value: Any, max_text: int) -> str:
    # Over MAX_NAME_BYTES characters a name is over its bytes too (a character is a byte at
    # least), and over const.MAX_NAME_LENGTH after NFC (which joins at most 3 into 1): that
    # limit is the one to tell, the one a user can keep to (it was told "the limit is 256").
    if type(value) is str and len(value) > const.MAX_NAME_BYTES:
        raise FieldError(ErrorCode.INVALID_NAME, f"'{key}' is {len(value)} characters long; a name is at most "
                         f"{const.MAX_NAME_LENGTH} characters", key, max_chars=const.MAX_NAME_LENGTH)
    return _name_bytes(key, value, max_text)

_short = _string(_MAX_SHORT_TEXT)
_topic = _string(const.MAX_TOPIC_CHARS)

# field name -> (key on the wire, checker(key, value, max_text) -> value or FieldError)
FIELDS: Mapping[str, tuple[str, Callable[[str, Any, int], Any]]] = {
    "request_id": ("id", _id),
    "name": ("name", _name),
    "to": ("to", _name),
    "sender": ("from", _name),
    "text": ("text", _string(None, ErrorCode.MESSAGE_TOO_LARGE)),
    "msg_id": ("msg_id", _integer),
    "version": ("version", _integer),
    "server": ("server", _short),
    "heartbeat": ("heartbeat", _number),
    "code": ("code", _short),
    "message": ("message", _string(4 * _MAX_SHORT_TEXT)),
    "reason": ("reason", _short),
    "token": ("token", _id),
    "sent_at": ("sent_at", _number),
    "at": ("at", _number),
    "since": ("since", _optional(_number)),
    "status": ("status", _short),
    "address": ("address", _optional(_short)),
    "port": ("port", _optional(_port)),
    "online": ("online", _boolean),
    "users": ("users", _presences),
    "password": ("password", _optional(_string(_MAX_PASSWORD_CHARS))),
    "old_password": ("old", _string(_MAX_PASSWORD_CHARS)),
    "new_password": ("new", _string(_MAX_PASSWORD_CHARS)),
    "register": ("register", _boolean),
    "registered": ("registered", _boolean),
    "peer": ("with", _name),
    "limit": ("limit", _limit),
    "before": ("before", _optional(_integer)),
    # Feature since: msg_id cursors going forward (not "after"/"next": those are names).
    "after_id": ("after_id", _integer),
    "next_id": ("next_id", _optional(_integer)),
    "messages": ("messages", _history),
    "retry_after": ("retry_after", _optional(_number)),
    "like": ("like", _optional(_short)),
    "reserved": ("reserved", _optional(_boolean)),  # a confusable_name's: its like is a reserved word
    "uncertain": ("uncertain", _optional(_boolean)),
    "after": ("after", _optional(_name)),
    "next": ("next", _optional(_name)),
    "resume": ("resume", _optional(_short)),
    "room": ("room", _integer),
    "names": ("names", _names(1)),
    "offline": ("offline", _names(0)),
    "unknown": ("unknown", _optional(_names(0))),  # a watching's: the names nobody has
    "blocked": ("blocked", _names(0)),
    "features": ("features", _features),
    "state": ("state", _short),
    # Rooms (version 2). The key "room" names a room in these frames; in "skipped" (version
    # 1) it is a count of room messages, under the attribute "room" above.
    "room_name": ("room", _name),
    "create": ("create", _boolean),
    "invite_only": ("invite_only", _boolean),
    "topic": ("topic", _topic),
    "seconds": ("seconds", _mute_seconds),  # a mute's length (no other frame has "seconds")
    "role": ("role", _short),
    "act": ("act", _short),
    "by": ("by", _name),
    "until": ("until", _number),
    "waited": ("waited", _number),  # an expired error's: how long the message waited
    "now": ("now", _optional(_integer)),  # a welcome's and a server's pong: its clock, in ms
    "edit_window": ("edit_window", _optional(_number)),  # a welcome's, with edits: seconds
    "last_id": ("last_id", _optional(_integer)),  # a welcome's, with since: the highest msg_id then
    "count": ("count", _integer),
    "owner": ("owner", _name),
    "created": ("created", _boolean),
    "rooms": ("rooms", _room_entries),
    "members": ("members", _member_entries),
    "node": ("node", _optional(_short)),
    "read_receipts": ("read_receipts", _optional(_boolean)),
    "msg_ids": ("msg_ids", _msg_ids),
    "room_seen": ("room_seen", _optional(_integer)),
    "last_heard": ("last_heard", _optional(_integer)),  # a hello's: the server's clock, in ms
    "marks": ("marks", _marks),
    "mine": ("mine", _boolean),  # rooms: only one's own (a room_list's: the answer honours it)
    "address_banned": ("address_banned", _optional(_boolean)),  # a guest's ban: its address too
    "read_up_to": ("read_up_to", _optional(_integer)),  # a history page's: the peer's read mark
    "deleted": ("deleted", _optional(_boolean)),  # a dm deleted before it was delivered (only when true)
    # An error's about a string too long: its key, and its limit in characters or in bytes.
    "field": ("field", _optional(_short)),
    "max_chars": ("max_chars", _optional(_integer)),
    "max_bytes": ("max_bytes", _optional(_integer)),
}


@dataclasses.dataclass(frozen=True, slots=True)
class _Spec:
    """How one event class maps to and from the wire."""

    cls: type[Event]
    # (attribute, wire key, checker, required) for each field, in declaration order.
    fields: tuple[tuple[str, str, Callable[[str, Any, int], Any], bool], ...]


def _spec(cls: type[Event]) -> _Spec:
    fields = []
    for field in dataclasses.fields(cls):
        key, check = FIELDS[field.name]
        required = field.default is dataclasses.MISSING
        # A field optional in one event (a hello's password) may be required in another (a
        # register's): there null is no value either, so the checker without _optional.
        if required and "None" not in str(field.type):
            check = getattr(check, "required", check)
        fields.append((field.name, key, check, required))
    return _Spec(cls, tuple(fields))


SPECS: dict[type[Event], _Spec] = {cls: _spec(cls) for cls in WIRE_EVENTS}
# Events told apart from an older one of the same type by a key (events.VARIANTS) are not
# in TYPES: decode() finds them through the older one.
_VARIANT_EVENTS = frozenset(newer for _key, newer in VARIANTS.values())
TYPES: dict[str, type[Event]] = {cls.TYPE: cls for cls in WIRE_EVENTS if cls not in _VARIANT_EVENTS}
# variant -> wire keys the older event has and the variant has not: a frame with both is
# neither (a send with both "to" and "room").
_EXCLUSIVE: dict[type[Event], tuple[str, ...]] = {
    newer: tuple(sorted({key for _a, key, _c, _r in SPECS[older].fields} - {key for _a, key, _c, _r in SPECS[newer].fields}))
    for older, (_key, newer) in VARIANTS.items()}

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def to_dict(event: Event) -> dict[str, Any]:
    """The JSON object for ``event``; optional fields that are None are left out (a
    required one that may be None, a revoke's ``resume``, is written as null)."""
    spec = SPECS[type(event)]
    out: dict[str, Any] = {"type": event.TYPE}
    for attr, key, _check, required in spec.fields:
        value = getattr(event, attr)
        if value is None and not required:
            continue
        if attr in ("names", "offline", "unknown", "blocked", "features", "msg_ids", "marks"):
            value = list(value)
        elif attr in ("users", "messages", "rooms", "members"):
            value = [_item_dict(item) for item in value]
        out[key] = value
    return out


def _item_dict(item: Presence | HistoryEntry | RoomEntry | MemberEntry) -> dict[str, Any]:
    """The JSON object for one item of a list field (``users``, ``messages``, ``rooms``,
    ``members``)."""
    if type(item) is Presence:
        return {"name": item.name, "since": item.since}
    if type(item) is RoomEntry:
        room = {"room": item.room_name, "count": item.count, "topic": item.topic}
        # Only when true: a public room's entry is the bytes it was before the key.
        if item.invite_only:
            room["invite_only"] = True
        return room
    if type(item) is MemberEntry:
        member = {"name": item.name, "role": item.role, "online": item.online}
        # Only when true: an entry of someone not muted is the bytes it was before the key.
        if item.muted:
            member["muted"] = True
        return member
    entry = {"msg_id": item.msg_id, "from": item.sender, "to": item.to, "text": item.text,
             "sent_at": item.sent_at, "state": item.state}
    # Marks of the ``edits`` feature, only when true: an entry without them is as before.
    if item.edited:
        entry["edited"] = True
    if item.deleted:
        entry["deleted"] = True
    return entry


# --- Frames that fit ------------------------------------------------------------------------
# Bytes a page (users, history_page) stays under the frame limit: room for a receiver
# that counts a CR before the newline, or its own framing, in its limit.
PAGE_MARGIN = 64


# Bytes of an item with empty strings and zero numbers: any item takes at least this, plus
# one byte per character of its strings.
_EMPTY_ITEM_BYTES = {Presence: len(_dumps(_item_dict(Presence("", 0)))),
                     HistoryEntry: len(_dumps(_item_dict(HistoryEntry(0, "", "", "", 0, "")))),
                     RoomEntry: len(_dumps(_item_dict(RoomEntry("", 0, "")))),
                     MemberEntry: len(_dumps(_item_dict(MemberEntry("", "", False))))}
# What ``"invite_only":true`` adds to a room's entry.
_INVITE_ONLY_BYTES = len(_dumps(_item_dict(RoomEntry("", 0, "", True)))) - _EMPTY_ITEM_BYTES[RoomEntry]


def _least_bytes(item: Presence | HistoryEntry) -> int:
    """A lower bound of the bytes ``item`` takes in a frame, found without encoding it."""
    if type(item) is Presence:
        return _EMPTY_ITEM_BYTES[Presence] + len(item.name)
    if type(item) is RoomEntry:
        return (_EMPTY_ITEM_BYTES[RoomEntry] + len(item.room_name) + len(item.topic)
                + (_INVITE_ONLY_BYTES if item.invite_only else 0))
    if type(item) is MemberEntry:
        return _EMPTY_ITEM_BYTES[MemberEntry] + len(item.name) + len(item.role)
    return _EMPTY_ITEM_BYTES[HistoryEntry] + len(item.sender) + len(item.to) + len(item.text) + len(item.state)


def fits(event: Event, max_frame_bytes: int = const.MAX_FRAME_BYTES) -> bool:
    """True if the frame for ``event`` (newline included) is within ``max_frame_bytes``
    less PAGE_MARGIN: the one rule for whether the server may send it in one frame."""
    return len(encode(event)) <= max_frame_bytes - PAGE_MARGIN


def fit_page(build: Callable[[int], Event], items: Sequence[Presence | HistoryEntry],
             max_frame_bytes: int = const.MAX_FRAME_BYTES) -> Event:
    """The page ``build(n)`` with the largest ``n <= len(items)`` whose frame :func:`fits`.

    ``build(n)`` makes the event holding the first ``n`` of ``items`` (in the order
    given: the order in which a page takes them) and the cursor for the rest. At least one
    item goes in a page when there is one: one user or one message of MAX_TEXT_CHARS
    (at most 6 bytes each, escaped) is far below the limit. Costs one encoding of the page
    when all of ``items`` fit, else one per item in the page and one or two of the page.
    """
    budget = max_frame_bytes - PAGE_MARGIN
    if items and sum(map(_least_bytes, items)) <= budget:
        whole = build(len(items))  # the usual case (a short conversation, few users): one encoding
        if fits(whole, max_frame_bytes):
            return whole
    size = len(encode(build(0)))
    count = 0
    for item in items:
        size += len(_dumps(_item_dict(item)).encode("utf-8")) + (1 if count else 0)  # and a comma
        if size > budget:
            break
        count += 1
    page = build(max(count, 1) if items else 0)
    while count > 1 and not fits(page, max_frame_bytes):  # the cursor can add a few bytes
        count -= 1
        page = build(count)
    return page


def encode(event: Event) -> bytes:
    """The frame for ``event``: compact UTF-8 JSON and a newline. Raises KeyError for
    events that never go on the wire (FrameRejected, ConnectionClosed), ValueError for
    non-finite numbers, UnicodeEncodeError for lone surrogates."""
    fast = _FAST.get(type(event))
    if fast is not None:
        return fast(event)
    return _dumps(to_dict(event)).encode("utf-8") + b"\n"


# --- Fast encoders for the frames of the message path -------------------------------------
# The server writes three of these per direct message; building a dict for the generic
# encoder was a fifth of its time per message. Each produces exactly the bytes of the
# generic path (tests/unit/test_protocol_roundtrip.py checks that), so the wire cannot tell.
_string_literal = json.encoder.encode_basestring  # "..." with JSON escapes, non-ASCII kept
# Each writes its text with str.encode() and no argument: UTF-8, strict, as
# encode("utf-8") (the default is UTF-8 whatever the locale), without parsing the argument
# and normalising the codec's name: about 235 instructions a frame, three frames a direct
# message (issue 9, round eighteen).


# Below 2**32 (seconds: the year 2106) two doubles are less than half a microsecond apart,
# so the reals that round to a double span less than a microsecond and hold at most one
# number of whole microseconds (and value * 1e6 + 0.5, below 2**52, floors to it). A
# double that is the nearest to such a number (the server stamps ``sent_at`` so: see
# Relay._send_direct) therefore has that number's digits, trailing zeros dropped, as its
# shortest round-trip repr: what repr() finds with dtoa's bignums (about 7,400
# instructions a message), written from an int (issue 9, round sixteen).
_WHOLE_MICROS_BELOW = 2.0 ** 32


def _number_literal(value: float) -> str:
    if type(value) is float:
        if 1.0 <= value < _WHOLE_MICROS_BELOW:
            micros = math.floor(value * 1e6 + 0.5)  # (not int(): half the instructions)
            if micros / 1e6 == value:  # the nearest double to micros µs is value: repr's digits are micros's
                digits = str(micros)  # at least 7: value >= 1
                if digits[-1] != "0":  # nine in ten
                    return f"{digits[:-6]}.{digits[-6:]}"
                text = f"{digits[:-6]}.{digits[-6:]}".rstrip("0")
                return text if text[-1] != "." else text + "0"
        elif not math.isfinite(value):
            raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")
    return repr(value)


# A msg_id is written as the digits of int(msg_id). For an int itself (every msg_id the
# server makes) those are its own: the f-string writes an exact int as str() does, so the
# fast encoders below call int() only for anything else (a bool, a subclass, whatever a
# caller passed), writing the same bytes for every value without a type call of int()
# for each of the three frames of a direct message (about 370 instructions each; issue 9,
# round seventeen).


def _fast_ack(kind: str) -> Callable[[Any], bytes]:
    head = '{"type":"' + kind + '","id":'

    def encode_ack(event: Any) -> bytes:
        msg_id = event.msg_id
        return (f'{head}{_string_literal(event.request_id)},"msg_id":'
                f'{msg_id if type(msg_id) is int else int(msg_id)}}}\n').encode()

    return encode_ack


_fast_delivered_ack = _fast_ack("delivered")


def _fast_delivered(event: Any) -> bytes:
    # The recipient (``to``) is told only with the outcomes of a login (an earlier run's
    # messages): those take the generic way; the live one pays one slot read for it.
    if event.to is not None:
        return _dumps(to_dict(event)).encode("utf-8") + b"\n"
    return _fast_delivered_ack(event)


def _fast_dm(event: Any) -> bytes:
    # A dm deleted before it was delivered (``deleted``, never None then: a few per
    # deletion) takes the generic way, which writes the flag; every other pays one slot
    # read and one comparison for it.
    if event.deleted is not None:
        return _dumps(to_dict(event)).encode("utf-8") + b"\n"
    msg_id = event.msg_id
    return (f'{{"type":"dm","msg_id":{msg_id if type(msg_id) is int else int(msg_id)},'
            f'"from":{_string_literal(event.sender)},'
            f'"to":{_string_literal(event.to)},"text":{_string_literal(event.text)},'
            f'"sent_at":{_number_literal(event.sent_at)}}}\n').encode()


def _fast_room(event: Any) -> bytes:
    msg_id = event.msg_id
    return (f'{{"type":"room","msg_id":{msg_id if type(msg_id) is int else int(msg_id)},'
            f'"from":{_string_literal(event.sender)},'
            f'"text":{_string_literal(event.text)},"sent_at":{_number_literal(event.sent_at)}}}\n').encode()


def _fast_welcome(event: Any) -> bytes:
    # One per login (issue 9's login storm). Values of any other type than these take the
    # generic way, which decides how they look on the wire.
    heartbeat, features, read, now = event.heartbeat, event.features, event.read_receipts, event.now
    window, last_id = event.edit_window, event.last_id
    if (type(event.request_id) is not str or type(event.name) is not str or type(event.server) is not str
            or not (event.resume is None or type(event.resume) is str)
            or type(event.version) is not int or type(heartbeat) not in (int, float) or type(event.registered) is not bool
            or not (read is None or type(read) is bool) or not (now is None or type(now) is int)
            or not (window is None or type(window) in (int, float))
            or not (last_id is None or type(last_id) is int)
            or not (features is None or type(features) is tuple and all(type(f) is str for f in features))):
        return _dumps(to_dict(event)).encode("utf-8") + b"\n"
    resume = "" if event.resume is None else f',"resume":{_string_literal(event.resume)}'
    listed = "" if features is None else f',"features":[{",".join(map(_string_literal, features))}]'
    said = "" if read is None else (',"read_receipts":true' if read else ',"read_receipts":false')
    clock = "" if now is None else f',"now":{now}'
    edits = "" if window is None else f',"edit_window":{_number_literal(window)}'
    since = "" if last_id is None else f',"last_id":{last_id}'
    return (f'{{"type":"welcome","id":{_string_literal(event.request_id)},"name":{_string_literal(event.name)},'
            f'"version":{event.version!r},"server":{_string_literal(event.server)},'
            f'"heartbeat":{_number_literal(heartbeat)},"registered":{"true" if event.registered else "false"}'
            f'{resume}{listed}{said}{clock}{edits}{since}}}\n').encode()


_FAST: dict[type[Event], Callable[[Any], bytes]] = {
    TYPES["welcome"]: _fast_welcome,
    TYPES["accepted"]: _fast_ack("accepted"),
    TYPES["queued"]: _fast_ack("queued"),
    TYPES["delivered"]: _fast_delivered,
    TYPES["dm"]: _fast_dm,
    TYPES["room"]: _fast_room,
}


class _NotJsonValue(ValueError):
    """NaN or Infinity in a frame: Python's json reads them, JSON has no such values."""


def _refuse_constant(name: str) -> None:
    raise _NotJsonValue(f"{name} is not a JSON value")


# One decoder for all frames: json.loads with any keyword builds a new one every call.
_decoder = json.JSONDecoder(parse_constant=_refuse_constant)
_decode_json = _decoder.decode
_scan_json = _decoder.scan_once


def _parse_json(text: str) -> Any:
    """``_decode_json(text)``, faster for a frame that is one JSON value and nothing else.

    ``JSONDecoder.decode`` matches whitespace with a regular expression before and after
    the value, which took two thirds of its time for a small frame. The scanner alone
    reads the value; anything else (leading or trailing bytes, a bad value) goes the
    generic way, which accepts or refuses it with its own words.
    """
    try:
        obj, end = _scan_json(text, 0)
    except StopIteration:
        return _decode_json(text)
    return obj if end == len(text) else _decode_json(text)


# --- Quick decoders for the frames of the message path ---------------------------------------
# A client sends three of these per direct message (send, receipt, ack). Each returns the
# event when every field is plainly valid (the types and sizes right, ASCII text, so no
# surrogate to look for), and None otherwise: the generic loop below then decides, with
# its own words for whatever is wrong. So they accept exactly a subset of what the generic
# path accepts, with the same values (tests/unit/test_protocol_roundtrip.py checks both).
def _quick_send(cls: type[Event], obj: dict, request_id: str | None, max_text: int) -> Event | None:
    to, text = obj.get("to"), obj.get("text")
    if (request_id is not None and type(to) is str and type(text) is str and len(to) <= _MAX_SHORT_TEXT
            and len(text) <= max_text and to.isascii() and text.isascii()):
        return cls(request_id, to, text)
    return None


def _quick_msg_id(cls: type[Event], obj: dict, request_id: str | None, max_text: int) -> Event | None:
    if "msg_ids" in obj:
        return _quick_msg_ids(cls, obj, request_id, max_text)
    msg_id = obj.get("msg_id")
    if type(msg_id) is int and 0 <= msg_id <= MAX_INTEGER:
        return cls(msg_id)
    return None


def _quick_msg_ids(cls: type[Event], obj: dict, request_id: str | None, max_text: int) -> Event | None:
    # The batched receipt or ack (feature batch_acks), found through its variant key.
    msg_ids = obj.get("msg_ids")
    if (type(msg_ids) is list and 0 < len(msg_ids) <= MAX_IDS_PER_FRAME and "msg_id" not in obj
            and all(type(item) is int and 0 <= item <= MAX_INTEGER for item in msg_ids)):
        return _BATCHED[cls](tuple(msg_ids))
    return None


def _plain(value: Any, limit: int) -> bool:
    """True for a string of at most ``limit`` ASCII characters (so no surrogate to look for)."""
    return type(value) is str and len(value) <= limit and value.isascii()


def _quick_hello(cls: type[Event], obj: dict, request_id: str | None, max_text: int) -> Event | None:
    # One per login: a login storm of 10,000 clients paid the generic loop's seven checks
    # for each (issue 9). Optional fields absent or plainly valid, as every client sends them.
    name, version, register = obj.get("name"), obj.get("version"), obj.get("register", False)
    password, resume, features = obj.get("password"), obj.get("resume"), obj.get("features")
    if (request_id is None or not _plain(name, _MAX_SHORT_TEXT) or type(version) is not int
            or not 0 <= version <= MAX_INTEGER or type(register) is not bool
            or password is not None and not _plain(password, _MAX_PASSWORD_CHARS)
            or resume is not None and not _plain(resume, _MAX_SHORT_TEXT)):
        return None
    if features is not None:
        if type(features) is not list or len(features) > MAX_FEATURES:
            return None
        for feature in features:
            if not _plain(feature, MAX_FEATURE_CHARS) or not feature.isprintable():
                return None
        features = tuple(features)
    return cls(request_id, name, version, password, register, resume, features)


# Each quick decoder with the keys it reads: a frame with any other key (a field added to
# the event later, a variant such as a send's "room") takes the generic path, so a quick
# decoder never drops a field it does not know.
_QUICK: dict[type[Event], tuple[Callable[[type[Event], dict, str | None, int], Event | None], frozenset[str]]] = {
    TYPES["send"]: (_quick_send, frozenset({"type", "id", "to", "text"})),
    TYPES["receipt"]: (_quick_msg_id, frozenset({"type", "msg_id", "msg_ids"})),
    TYPES["ack"]: (_quick_msg_id, frozenset({"type", "msg_id", "msg_ids"})),
    TYPES["hello"]: (_quick_hello, frozenset({"type", "id", "name", "version", "register", "password", "resume",
                                              "features"})),
}


# --- Frames read from their bytes ------------------------------------------------------------
# A receipt and an ack are a fixed head and an integer: as every client writes them (the
# generic encoder's compact JSON, keys in this order), they are read straight from the bytes,
# with no UTF-8 decoding, JSON scanning or dict. So are their batched forms (feature
# batch_acks): a fixed head and a list of integers. Anything else about them (spaces,
# another key order, a leading zero, a number out of range) goes the ways below, which
# decide it.
_BY_BYTES: dict[bytes, str] = {b'{"type":"receipt","msg_id":': "receipt", b'{"type":"ack","msg_id":': "ack"}
_BY_BYTES_HEADS = tuple(_BY_BYTES)
_BATCHED_HEADS = {"receipt": b'{"type":"receipt","msg_ids":[', "ack": b'{"type":"ack","msg_ids":['}
# A send is read from its bytes too when, as every client writes it, its keys come in this
# order with nothing else, and its three strings are printable ASCII with no quote or
# backslash (so no escape to undo, no surrogate to look for): one match and three ASCII
# decodings instead of UTF-8 decoding, the JSON scanner, a dict and the quick decoder
# (issue 9: 3.6 µs a frame against 1.5). Each character class stops at the quote that ends
# its string, so the match is linear in the frame's length.
_SEND_DIRECT = TYPES["send"]
_new_send_direct = fast_new(_SEND_DIRECT)  # as _SEND_DIRECT(...) builds it, cheaper (protocol/frozen.py)
_SEND_HEAD = b'{"type":"send","id":"'
_PLAIN_CHARS = r'[ !#-\[\]-~]*'  # 0x20-0x7E but " and \
# Matched against the frame decoded as ASCII (only an ASCII frame can match, and it decodes
# to the same characters): one decoding of the frame, not one of each of the three strings
# (issue 9, round sixteen: about 1,000 instructions a send).
_PLAIN_SEND = re.compile(r'\{"type":"send","id":"(%s)","to":"(%s)","text":"(%s)"\}'
                         % (_PLAIN_CHARS, _PLAIN_CHARS, _PLAIN_CHARS))
_BY_BYTES_STARTS = _BY_BYTES_HEADS + tuple(_BATCHED_HEADS.values()) + (_SEND_HEAD,)
# The batched event of each single one (events.VARIANTS under "msg_ids").
_BATCHED: dict[type[Event], type[Event]] = {older: newer for older, (key, newer) in VARIANTS.items()
                                            if key == "msg_ids"}
# Its builder, as the class builds it, cheaper (protocol/frozen.py; issue 9, round fourteen).
_NEW_BATCHED: dict[type[Event], Callable[..., Event]] = {older: fast_new(newer) for older, newer in _BATCHED.items()}
# What JSON writes for a list of integers, compactly: no leading zeros, no signs or
# exponents, at most 16 digits each (enough for MAX_INTEGER, and int() stays cheap).
_ID_LIST = re.compile(rb"(?:0|[1-9][0-9]{0,15})(?:,(?:0|[1-9][0-9]{0,15}))*")


def _by_bytes(frame: bytes, allowed: Mapping[str, type[Event]]) -> Event | None:
    """The event of a plain receipt or ack frame (single or batched), or None to decode
    it the usual way."""
    kind = "receipt" if frame[9:10] == b"r" else "ack"
    cls = allowed.get(kind)
    if cls is None or frame[-1:] != b"}":
        return None
    head = _BY_BYTES_HEADS[0] if kind == "receipt" else _BY_BYTES_HEADS[1]
    if frame.startswith(head):
        digits = frame[len(head):-1]
        # JSON has no leading zeros, and "1e3" or "-1" are not what isdigit() accepts; 16
        # digits are enough for MAX_INTEGER and keep int() cheap.
        if not (0 < len(digits) <= 16 and digits.isdigit()) or digits[0] == 0x30 and len(digits) > 1:
            return None
        msg_id = int(digits)
        return cls(msg_id) if msg_id <= MAX_INTEGER else None
    head = _BATCHED_HEADS[kind]
    batched = _NEW_BATCHED.get(cls)
    if batched is None or frame[-2:-1] != b"]" or not frame.startswith(head):
        return None
    if _ID_LIST.fullmatch(frame, len(head), len(frame) - 2) is None:
        return None
    # Plain digits and commas between the head's "[" and the "]" that ends the frame, all
    # ASCII: the JSON scanner reads that list in C, from the frame decoded once, where
    # split() and an int() of each id's bytes cost about 200 instructions more an id
    # (issue 9, round seventeen). (decode() with no argument: see _send_by_bytes.)
    msg_ids = tuple(_scan_json(frame.decode(), len(head) - 1)[0])
    if len(msg_ids) > MAX_IDS_PER_FRAME or max(msg_ids) > MAX_INTEGER:
        return None
    return batched(msg_ids)


def _send_by_bytes(frame: bytes, allowed: Mapping[str, type[Event]], max_text: int) -> Event | None:
    """The event of a plain send frame (see _PLAIN_SEND), or None to decode it the usual
    way: the same event, with the same checks, as _quick_send gives."""
    cls = allowed.get("send")
    if cls is not _SEND_DIRECT or not frame.isascii():  # a receiver that reads "send" as another event: its way
        return None
    # UTF-8, the default, reads an ASCII frame as ASCII does, without parsing an argument
    # and normalising the codec's name (about 170 instructions a frame; round eighteen).
    match = _PLAIN_SEND.fullmatch(frame.decode())
    if match is None:
        return None
    request_id, to, text = match.groups()
    if len(request_id) > _MAX_ID_CHARS or len(to) > _MAX_SHORT_TEXT or len(text) > max_text:
        return None
    return _new_send_direct(request_id, to, text)


def decode(frame: bytes, allowed: Mapping[str, type[Event]], max_text: int) -> Event:
    """Decode one frame (without its newline) into an event.

    ``allowed`` maps the wire types this receiver accepts to their classes (a server does
    not accept ``"joined"`` from a client, for instance). Never raises for bad input:
    returns a :class:`FrameRejected` that names the problem instead.
    """
    if _BY_BYTES and frame.startswith(_BY_BYTES_STARTS):
        event = _send_by_bytes(frame, allowed, max_text) if frame[9:10] == b"s" else _by_bytes(frame, allowed)
        if event is not None:
            return event
    try:
        text = frame.decode("utf-8")
    except UnicodeDecodeError as exc:
        return FrameRejected(ErrorCode.BAD_ENCODING, f"frame is not valid UTF-8 (byte {exc.start})")
    try:
        obj = _parse_json(text)
    except (json.JSONDecodeError, _NotJsonValue) as exc:  # the grammar's words: what broke, and where
        return FrameRejected(ErrorCode.BAD_JSON, f"frame is not valid JSON: {exc}"[:200])
    except ValueError:  # Python's cap on an integer's digits, whose words name its API (set_int_max_str_digits)
        return FrameRejected(ErrorCode.BAD_JSON, "a number in the frame has too many digits")
    except RecursionError:  # Python's words name its own recursion
        return FrameRejected(ErrorCode.BAD_JSON, "the frame is nested too deeply")
    if type(obj) is not dict:
        return FrameRejected(ErrorCode.BAD_JSON, "frame must be a JSON object")
    request_id = obj.get("id")
    if (type(request_id) is not str or len(request_id) > _MAX_ID_CHARS
            or not request_id.isascii() and _SURROGATE.search(request_id)):
        request_id = None
    kind = obj.get("type")
    cls = allowed.get(kind) if type(kind) is str else None
    if cls is None:
        if "type" not in obj:
            return FrameRejected(ErrorCode.UNKNOWN_TYPE, "frame has no 'type'", request_id)
        if type(kind) is not str:
            return FrameRejected(ErrorCode.UNKNOWN_TYPE, "'type' must be a string", request_id)
        return FrameRejected(ErrorCode.UNKNOWN_TYPE, f"unknown message type {kind[:40]!r}", request_id)
    quick = _QUICK.get(cls)
    if quick is not None and obj.keys() <= quick[1]:
        event = quick[0](cls, obj, request_id, max_text)
        if event is not None:
            return event
    # After the quick decoders (which leave a send with "room" to this path), so that the
    # frames of the message path pay nothing for the variants.
    variant = VARIANTS.get(cls)
    if variant is not None and variant[0] in obj:
        cls = variant[1]
        # (filter, not a generator expression: one would make obj a cell, created by every
        # call of decode, the message path's included; issue 9, round twelve)
        both = next(filter(obj.__contains__, _EXCLUSIVE[cls]), None)
        if both is not None:
            return FrameRejected(ErrorCode.BAD_FIELD, f"'{kind}' has either '{both}' or '{variant[0]}', not both",
                                 request_id)
    values = {}
    try:
        for attr, key, check, required in SPECS[cls].fields:
            if key in obj:
                values[attr] = check(key, obj[key], max_text)
            elif required:
                raise FieldError(ErrorCode.BAD_FIELD, f"'{kind}' needs the field '{key}'")
    except FieldError as exc:
        return FrameRejected(exc.code, str(exc), request_id, exc.field, exc.max_chars, exc.max_bytes)
    return cls(**values)
