"""What nodes tell each other through Redis streams: small events, encoded as one field.

Sans-I/O: :func:`encode` turns an event into the bytes of a stream entry's ``e`` field,
:func:`decode` turns those bytes back into the event or raises :class:`BadEntry`. The
entries go through two kinds of stream (see docs/cluster.md, "Nodes"):

- the **events** stream, which every node reads from its own position (XREAD), so all
  nodes see its entries in one order: sessions coming (:class:`SessionOn`) and going
  (:class:`SessionOff`), dead nodes (:class:`NodeGone`, written by the reap script),
  the default room's messages (:class:`RoomPost`, written by the Redis store's script
  that stores them) and cache changes (:class:`BlockChange`); named
  rooms' changes (:class:`RoomChanged`, with their notices), their messages
  (:class:`RoomPosted`, written by the Redis store's script that stores them), their
  posts' edits and deletes (:class:`RoomPostChangeStored`, written by the Redis store's
  script that stores them) and administrators made at a console (:class:`AdminAdded`);
- a node's **inbox** (a consumer group, so nothing is lost while the node is briefly
  away from Redis): direct messages for its sessions (:class:`Deliver`) and frames for
  the sessions of one user there (:class:`Tell`: outcomes, ``queued``), copies of what a
  user sent from another node for its sessions there that asked for carbons
  (:class:`CarbonCopy`), messages confirmed or expired elsewhere (:class:`Settled`), asks
  to ping the sessions of a guest whose token logged in elsewhere (:class:`Probe`), a
  session's ``on`` read by a node that showed its user all on itself until then
  (:class:`SessionSeen`), messages stored and routed to nobody (:class:`MessagesWaiting`);
  and what happens to a direct message after "delivered" (:class:`Conversation`: read
  marks, typing, edits and deletes), with the receipts switch on the events stream
  (:class:`ReceiptsSwitch`).

The encoding is a JSON object with a kind ``k``; the reap script (scripts.py) writes
``{"k":"gone","node":...}`` itself, and a :class:`HoldingSaved` for each guest of the dead
node (when it left), so those formats are fixed here and there.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any, ClassVar

from protocol.frozen import fast_init

from ..mailbox import StoredMessage, new_stored_message


class BadEntry(ValueError):
    """A stream entry that is not an event this node understands (the reader skips it)."""


@dataclass(frozen=True, slots=True)
class BusEvent:
    KIND: ClassVar[str] = ""


@dataclass(frozen=True, slots=True)
class SessionOn(BusEvent):
    """A session of user ``key`` logged in on ``node`` (the claim script wrote it)."""

    KIND: ClassVar[str] = "on"
    key: str
    name: str
    shared: bool
    sid: str
    node: str
    address: str
    port: int
    since: float


@dataclass(frozen=True, slots=True)
class SessionOff(BusEvent):
    """Session ``sid`` of user ``key`` ended (``reason`` as the leave notice says it)."""

    KIND: ClassVar[str] = "off"
    key: str
    sid: str
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class NodeGone(BusEvent):
    """``node`` stopped beating: its sessions are gone (the reap script wrote it)."""

    KIND: ClassVar[str] = "gone"
    node: str


@dataclass(frozen=True, slots=True)
class RoomPost(BusEvent):
    """A message of the default room (a ``say``), stored: every node writes it to its
    sessions. Written by the Redis store's script in the same step as the message
    (stores/redis_scripts.py ``ROOM_SAY``), after :func:`room_say_head`, so a stored say is on
    the stream, in the ids' order."""

    KIND: ClassVar[str] = "room"
    msg_id: int
    sender: str
    sender_key: str
    text: str
    sent_at: float


@dataclass(frozen=True, slots=True)
class BlockChange(BusEvent):
    """``owner`` now blocks (or no longer blocks) ``target``: the relays' caches follow."""

    KIND: ClassVar[str] = "block"
    owner: str
    target: str
    blocking: bool


@dataclass(frozen=True, slots=True)
class Registered(BusEvent):
    """Guest ``key`` made its name an account: more sessions may share it now."""

    KIND: ClassVar[str] = "registered"
    key: str


@dataclass(frozen=True, slots=True)
class Deliver(BusEvent):
    """A stored direct message for the sessions of its recipient on the inbox's node."""

    KIND: ClassVar[str] = "dm"
    message: StoredMessage


@dataclass(frozen=True, slots=True)
class Tell(BusEvent):
    """A frame for the sessions of user ``key`` on the inbox's node, about message
    ``msg_id`` (told only if the name's current holder sent it: see relay._tell_sender)."""

    KIND: ClassVar[str] = "tell"
    key: str
    msg_id: int
    frame: str


@dataclass(frozen=True, slots=True)
class Probe(BusEvent):
    """A login with guest ``key``'s resume token was refused on another node because a
    session of ``key`` holds the name: the inbox's node pings its sessions of ``key`` and
    ends those that stay silent (Relay.probe_holders), as one server does for its own."""

    KIND: ClassVar[str] = "probe"
    key: str


@dataclass(frozen=True, slots=True)
class MessagesWaiting(BusEvent):
    """Messages for user ``key`` were stored and routed to nobody (the ROUTES call that
    carried them failed): the inbox's node fetches what waits in the store for its
    sessions of ``key`` (Relay.fetch_waiting). Routed once Redis answers the storing node
    again; a fetch sends only what still waits and is not in flight, so a message the
    failed call did route after all is not sent twice."""

    KIND: ClassVar[str] = "waiting"
    key: str


@dataclass(frozen=True, slots=True)
class SessionSeen(BusEvent):
    """The routing node read the ``on`` of session ``sid`` of user ``key`` (on the inbox's
    node) while its directory showed every session of ``key`` on itself: until then it gave
    the messages for ``key`` to its own sessions alone and copied what ``key`` sent there
    to nobody else (:class:`CarbonCopy`), so the inbox's node fetches what waits for session
    ``sid`` and tells it to catch up (Relay.seen_elsewhere)."""

    KIND: ClassVar[str] = "seen"
    key: str
    sid: str


@dataclass(frozen=True, slots=True)
class CarbonCopy(BusEvent):
    """A ``sent`` frame (the copy of message ``msg_id``, which user ``key`` sent from
    another node) for those sessions of ``key`` on the inbox's node that asked for carbons."""

    KIND: ClassVar[str] = "carbon"
    key: str
    msg_id: int
    frame: str


@dataclass(frozen=True, slots=True)
class AccountSaved(BusEvent):
    """An account was created (or logged in to), or its password changed: the login
    desks' caches learn it. ``keep`` is set (the hex of a credential hash, or "") when the
    password changed: every resume credential of the account but that one is revoked."""

    KIND: ClassVar[str] = "account"
    key: str
    name: str
    pw_hash: str  # hex
    salt: str  # hex
    kdf: str
    keep: str | None = None  # absent from entries written before password changes


@dataclass(frozen=True, slots=True)
class PasswordReset(BusEvent):
    """The operator reset the password of account ``key`` (after its ``account`` entry), or
    (``code`` ``password_changed``) a session of it on the node that writes this changed
    it: every node ends its sessions (server/relay.py ``end_sessions``; the writer's own
    but the one that changed it). ``node``: the writer of a change by a session, which
    ended its own sessions as it answered and skips the entry when it reads it back (else
    it ended the session that made the change too)."""

    KIND: ClassVar[str] = "reset"
    key: str
    code: str | None = None  # the error code the sessions get; None (and entries before): password_reset
    node: str | None = None  # absent from entries before, and from an operator's reset


@dataclass(frozen=True, slots=True)
class AccountDeleted(BusEvent):
    """The account ``key`` was deleted (PROTOCOL.md, "``unregister``"; after the
    ``holding`` entry that holds its name): every node forgets it (server/relay.py
    ``forget_account``) and ends its sessions there."""

    KIND: ClassVar[str] = "unregistered"
    key: str


@dataclass(frozen=True, slots=True)
class HoldingSaved(BusEvent):
    """The holding of guest name ``key`` changed (see guests.py): the caches follow."""

    KIND: ClassVar[str] = "holding"
    key: str
    name: str
    token_hash: str  # hex
    epoch: int
    left_at: float | None


@dataclass(frozen=True, slots=True)
class GuestsForgotten(BusEvent):
    """The guest names ``keys`` (one per line) were forgotten past their hold: written by
    the store's script that forgot them, in that step (stores/redis_scripts.py ``FORGET_GUESTS``,
    after :func:`guests_forgotten_head`); every node's caches drop them."""

    KIND: ClassVar[str] = "forgot"
    keys: str


@dataclass(frozen=True, slots=True)
class Settled(BusEvent):
    """Message ``msg_id`` to ``key`` was confirmed or expired on another node: the inbox's
    node forgets it in flight."""

    KIND: ClassVar[str] = "settled"
    key: str
    msg_id: int


@dataclass(frozen=True, slots=True)
class Conversation(BusEvent):
    """A frame of a direct conversation after "delivered" (``read``, ``typing``,
    ``edited``, ``deleted``: server/afterdelivered.py) for those sessions of user ``key``
    on the inbox's node that asked for ``feature``. ``actor`` is the user whose act it
    tells (the reader, the typist, the editor): unless ``key`` is ``actor`` (its own
    other devices), the receiving node applies the rules again with its own caches
    (receipts switch, blocking), so that a switch turned off there holds at once. ``at``:
    when it was sent, on Redis's clock as the sending node reckons it (clock.py,
    ClockSkew.to_redis; the receiving node takes it back to its own): a ``typing`` that
    arrives late is dropped, never shown late."""

    KIND: ClassVar[str] = "conv"
    key: str
    actor: str
    feature: str
    frame: str
    at: float


@dataclass(frozen=True, slots=True)
class ReceiptsSwitch(BusEvent):
    """User ``key`` turned read receipts (and typing) on or off: every node's switch follows."""

    KIND: ClassVar[str] = "receipts"
    key: str
    on: bool


@dataclass(frozen=True, slots=True)
class RoomChanged(BusEvent):
    """Named room ``key`` is now ``record`` (None: it ended), at ``version``, which the
    ROOM_SAVE script gave it: every node's desk takes it unless it has that version or a
    later one, then writes ``notices`` (JSON text: a list of [name key, frame text], the
    room notices of the change) to its sessions in the room and of the person named."""

    KIND: ClassVar[str] = "roomstate"
    key: str
    version: int
    record: str | None
    notices: str


@dataclass(frozen=True, slots=True)
class RoomPosted(BusEvent):
    """A named room's message, stored: every node writes it to its sessions in room
    ``room`` (its key). Written by the Redis store's script in the same step as the
    message (stores/redis_scripts.py ``ROOM_POST``), after :func:`room_post_head`, so the
    stream's order is the ids' order."""

    KIND: ClassVar[str] = "rpost"
    sender: str
    sender_key: str
    room: str
    text: str
    sent_at: float
    msg_id: int


@dataclass(frozen=True, slots=True)
class RoomPostChangeStored(BusEvent):
    """A room's post was edited or deleted (issue 13): put on the events stream by the
    store's script that stored the change, in the same step (stores/redis_scripts.py
    CHANGE), so that no change is stored and told to nobody. Decided on ``node``, which
    told its own sessions when the store answered and skips the entry if it did (a node
    that never had the answer tells them from it); ``by``: the moderator or administrator
    who deleted it (None: its sender); ``notices`` (JSON, as :class:`RoomChanged`'s: a
    moderator's ``delete`` notice). Then the post as the change left it: ``msg_id`` in
    ``room`` (its key; "" for the default room), of ``sender`` (``sender_key``), now
    reading ``text`` ("" once ``deleted``), changed at ``at``. Every node writes the
    ``edited`` or ``deleted`` to its sessions in the room that asked for ``edits``,
    except those of members who block the sender, after the notices; on the events
    stream, it follows the post in every node's order."""

    KIND: ClassVar[str] = "rchanged"
    node: str
    by: str | None
    notices: str
    room: str
    msg_id: int
    sender: str
    sender_key: str
    text: str
    at: float
    deleted: bool


@dataclass(frozen=True, slots=True)
class AdminAdded(BusEvent):
    """A server console made account ``key`` an administrator: every node's rooms too."""

    KIND: ClassVar[str] = "admin"
    key: str


@dataclass(frozen=True, slots=True)
class RoomReadMoved(BusEvent):
    """Member ``member`` of named room ``room`` (both keys) has read the room's posts up to
    ``mark`` (stored): every node counts it in the "read by N" lists it sends its sessions
    (server/roomreads.py). A mark is a number, as the lists that carry it."""

    KIND: ClassVar[str] = "rread"
    room: str
    member: str
    mark: int


def room_post_head(sender: str, sender_key: str, room: str, text: str, sent_at: float) -> str:
    """The ``e`` field of a :class:`RoomPosted` entry up to its id: the store's script
    appends the id it gives the message and the closing brace (``msg_id`` is the last field)."""
    return _head({"k": RoomPosted.KIND, "sender": sender, "sender_key": sender_key, "room": room, "text": text,
                  "sent_at": sent_at})


def room_say_head(sender: str, sender_key: str, text: str, sent_at: float) -> str:
    """The ``e`` field of a :class:`RoomPost` entry (a ``say``, the default room's message)
    up to its id, completed as :func:`room_post_head`'s by the store's script that stores
    the message (stores/redis_scripts.py ``ROOM_SAY``). The fields are the entry :func:`encode`
    makes of a RoomPost (a node of the version before reads it), ``msg_id`` last."""
    return _head({"k": RoomPost.KIND, "sender": sender, "sender_key": sender_key, "text": text, "sent_at": sent_at})


def room_post_change_head(node: str, by: str | None, notices: str) -> str:
    """The ``e`` field of a :class:`RoomPostChangeStored` entry up to its ``room``: the
    store's script that stores the change appends the post's fields as it left them,
    ``room`` to ``deleted`` in that order, and the closing brace."""
    return _dumps({"k": RoomPostChangeStored.KIND, "node": node, "by": by, "notices": notices})[:-1] + ","


def guests_forgotten_head() -> str:
    """The ``e`` field of a :class:`GuestsForgotten` entry up to its ``keys``: the script
    appends them as a JSON string and the closing brace."""
    return _dumps({"k": GuestsForgotten.KIND})[:-1] + ',"keys":'


def _head(obj: dict[str, Any]) -> str:
    """``obj`` as an entry's text without its closing brace, ending where its ``msg_id``,
    the last field, goes (a script writes the id and "}")."""
    return _dumps(obj)[:-1] + ',"msg_id":'


_KINDS: dict[str, type[BusEvent]] = {cls.KIND: cls for cls in
                                     (SessionOn, SessionOff, NodeGone, RoomPost, BlockChange, Registered, Deliver,
                                      Tell, AccountSaved, PasswordReset, HoldingSaved, Settled, CarbonCopy,
                                      Conversation, ReceiptsSwitch, RoomChanged, RoomPosted, AdminAdded,
                                      RoomReadMoved, RoomPostChangeStored, GuestsForgotten, Probe, AccountDeleted,
                                      SessionSeen, MessagesWaiting)}
# Built per cross-node message (Deliver, Tell, Settled, CarbonCopy: decoded by the node
# that reads its inbox): each gets protocol/frozen.py's cheaper __init__, as the events do.
_FAST_INIT = tuple(cls for cls in _KINDS.values() if fast_init(cls))
# The type each field must have once decoded (JSON has no tuples; ints may stand for floats).
_TYPES = {"str": (str,), "bool": (bool,), "int": (int,), "float": (int, float),
          "float | None": (int, float, type(None)), "str | None": (str, type(None))}
# Each kind's fields as encode and decode walk them, found once: dataclasses.fields() per
# entry, with replace() per dm entry cut, were most of a node's 11% fewer instructions a
# cross-node message once they went (bench/PROFILE.md, "The cluster's nodes, round fifteen").
_NAMES = {cls: tuple(f.name for f in fields(cls)) for cls in _KINDS.values()}
_CHECKS = {cls: tuple((f.name, _TYPES[f.type], f.type) for f in fields(cls)) for cls in _KINDS.values()
           if cls is not Deliver}  # (a dm entry is a list of its message's fields)
_MESSAGE_FIELDS = [f.name for f in fields(StoredMessage)]
# A dm entry's message is a list of its fields, checked as another kind's are (a broken or
# hostile entry, text a number or an id a list, reached the node's handler and logged a
# traceback there). decode checks them written out, one test a field (about 170 ns of a
# valid entry's 1.9 µs; a loop over these, or its values' types looked up among the 72
# shapes they may take, cost twice that): the fuzz test holds it to these, its fields'
# types (tests/unit/test_fuzz_bus.py); the field at fault is found from them only for an
# entry refused (_dm_problem).
_DM_CHECKS = tuple((f.name, _TYPES[f.type], f.type) for f in fields(StoredMessage))
_FLOAT = _TYPES["float"]
_message_values = attrgetter(*_MESSAGE_FIELDS)  # a StoredMessage's fields, in one call
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _refuse_constant(name: str) -> None:
    # NaN and Infinity are no JSON: encode() never writes them, and no frame can carry them.
    raise ValueError(f"{name} is not a JSON value")


# json.loads without its look for a UTF-16 or UTF-32 text: an entry is UTF-8, always.
_decoder = json.JSONDecoder(parse_constant=_refuse_constant)
_loads = _decoder.decode
_scan = _decoder.scan_once
# A lone surrogate can come in only through an escape ("\ud800"), which encode() never
# writes (it writes text as it is, escaping only quotes, backslashes and control
# characters): only an entry with a "\u" in it is searched.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _text_of(obj: Any) -> str:
    """``_dumps(obj)`` through the C encoder made once here, not by JSONEncoder.encode's
    two Python calls, a closure and a new C encoder per entry (four a cross-node message);
    ``_dumps`` itself where json has no C encoder. The same text: the same C encoder with
    the same settings (no circular check: an entry is flat)."""
    return "".join(_encode_once(obj, 0))


if getattr(json.encoder, "c_make_encoder", None) is not None:
    _encode_once = json.encoder.c_make_encoder(None, json.JSONEncoder().default, json.encoder.encode_basestring, None,
                                               ":", ",", False, False, False)
else:  # pragma: no cover (CPython has the C encoder)
    _text_of = _dumps  # noqa: F811


def _json_of(data: bytes | str) -> Any:
    """The JSON value ``data`` holds, by the decoder's scanner alone (JSONDecoder.decode's
    two Python calls and two whitespace matches, for entries that never have any); what
    the scanner does not take whole (a text with spaces around it, or not JSON: then the
    ValueError saying why) goes through the full decoder."""
    text = data.decode("utf-8") if type(data) is bytes else data  # (json.loads took a str too)
    try:
        obj, end = _scan(text, 0)
    except StopIteration:
        end = -1
    if end != len(text):
        obj = _loads(text)
    if "\\u" in text and type(obj) is dict and any(
            type(v) is str and _SURROGATE.search(v)
            for v in (*obj.values(), *(obj["m"] if type(obj.get("m")) is list else ()))):
        raise ValueError("a lone surrogate in a text")
    return obj


def encode(event: BusEvent) -> bytes:
    """The ``e`` field of the stream entry for ``event``."""
    cls = type(event)
    if cls is Deliver:
        obj: dict[str, Any] = {"k": "dm", "m": list(_message_values(event.message))}
    else:
        obj = {"k": event.KIND}
        for name in _NAMES[cls]:
            obj[name] = getattr(event, name)
    return _text_of(obj).encode("utf-8")


def decode(data: bytes | str) -> BusEvent:
    """The event in an entry's ``e`` field; raises :class:`BadEntry` if it is not one."""
    try:
        obj = _json_of(data)
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:  # (UnicodeDecodeError is a ValueError)
        raise BadEntry(f"not JSON: {exc}"[:200]) from None
    if type(obj) is not dict:
        raise BadEntry("not an object")
    try:
        cls = _KINDS.get(obj.get("k"))  # type: ignore[arg-type]
    except TypeError:  # a list or an object: unhashable (caught, not tested: entries pay nothing)
        cls = None
    if cls is None:
        raise BadEntry(f"unknown kind {obj.get('k')!r}")
    if cls is Deliver:
        values = obj.get("m")
        if type(values) is not list or len(values) != len(_MESSAGE_FIELDS):
            raise BadEntry("a dm entry needs its message's fields")
        (msg_id, sender, sender_key, recipient, recipient_key, text, sent_at, client_id, state, expires_at,
         edited_at, deleted) = values  # StoredMessage's fields (_DM_CHECKS), in its order
        if not (type(msg_id) is int and type(sender) is str and type(sender_key) is str and type(text) is str
                and type(client_id) is str and type(state) is str and type(deleted) is bool
                and (recipient is None or type(recipient) is str)
                and (recipient_key is None or type(recipient_key) is str) and type(sent_at) in _FLOAT
                and (expires_at is None or type(expires_at) in _FLOAT)
                and (edited_at is None or type(edited_at) in _FLOAT)):
            raise _dm_problem(values)
        return Deliver(new_stored_message(*values))
    values = {}
    for name, types, typename in _CHECKS[cls]:
        value = obj.get(name)
        if type(value) not in types:
            raise _wrong(cls.KIND, name, typename)
        values[name] = value
    return cls(**values)


def _wrong(kind: str, name: str, typename: str) -> BadEntry:
    """The refusal of an entry of ``kind`` whose field ``name`` is not a ``typename``."""
    return BadEntry(f"{kind}: field {name!r} is not a {typename}")


def _dm_problem(values: list) -> BadEntry:
    """The refusal of a dm entry's message ``values`` (of the right length), naming its
    first field of another type than its own."""
    for value, (name, types, typename) in zip(values, _DM_CHECKS):
        if type(value) not in types:
            return _wrong(Deliver.KIND, name, typename)
    return BadEntry(f"{Deliver.KIND}: its message's fields are not of their types")  # (decode's test and these differ)


_DELIVER_HEAD = b'{"k":"dm","m":[0,'


def deliver_parts(message: StoredMessage) -> tuple[bytes, bytes]:
    """The ``e`` field of ``Deliver(message)`` cut around its message id: the text before it
    and the text after it, for a script that gives the message its id and routes it in one
    step (the entry is ``before + id + after``, as :func:`encode` makes it; ``message``'s
    own id is not in it)."""
    data = _text_of({"k": "dm", "m": [0, *_message_values(message)[1:]]}).encode("utf-8")
    if not data.startswith(_DELIVER_HEAD):  # encode's layout changed: keep the two in step
        raise AssertionError(f"a dm entry starts {data[:20]!r}")
    return _DELIVER_HEAD[:-2], data[len(_DELIVER_HEAD) - 1:]
