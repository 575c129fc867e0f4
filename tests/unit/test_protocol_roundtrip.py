"""Every wire event survives encode -> bytes -> decode, alone and through two Connections."""

from __future__ import annotations

import json

import pytest

import const
from protocol import RoomRead
from protocol import Blocking, BlockList, Done, EditReceipt
from helpers import SAMPLES, TEXT, ConnectionPair, open_pair
from protocol import (
    Accepted, Delivered, DirectMessage, ErrorReply, Goodbye, Hello, HistoryEntry, HistoryPage, LookupResult, Ping, Pong,
    Queued, RoomMessage, SendRoom, State, UserList, Welcome,
)
from protocol import codec
from protocol.events import WIRE_EVENTS

# Variants with optional fields left out or empty, on top of SAMPLES.
EXTRA = [
    ErrorReply("bad_json", "frame is not valid JSON"),
    LookupResult("req-5", "nobody-here", "unknown"),
    UserList("req-6", ()),
    BlockList("req-8c"),
    Done("req-7b", 1700000000.125),  # an edit's or a delete's ok: when the change was stamped
    EditReceipt(45),  # a client of before: confirms the latest change
    Blocking("req-8c", ()),  # blocks nobody
    Ping(),
    Pong(),
    Goodbye(),
    SendRoom("r", "line one\nline two\r\n\u2028\u2029 \"quoted\" \\ \x00 \t"),
    DirectMessage(0, "a", "b", "", 0),
    SendRoom("r", "🌍" * const.MAX_TEXT_CHARS),
    ErrorReply("rate_limited", "slow down", "req-1", 1.5),
    ErrorReply("expired", "your message 41 to bøb expired", "req-1", msg_id=41),
    ErrorReply("confusable_name", "the name 'Joao' looks too much like 'João'", "h1", like="João"),
    # A refusal of one's own standing in a room: its room, the time left, the ban's reason.
    ErrorReply("muted", "you are muted in #redes for 290 s more", "r7", 290.0, room_name="#redes"),
    ErrorReply("muted", "you are muted in #lobby until a moderator unmutes you", "r8", room_name="#lobby"),
    ErrorReply("banned", "you are banned from #Conceição: spam 🌍", "j1", room_name="#Conceição",
               reason="spam 🌍"),
    RoomRead("#redes", 90),  # the client's form of a read in a room
    RoomRead("#redes", marks=()),  # nobody else has read
    RoomRead("#cálculo", 90, sender="João"),  # one's own mark, read on another session
    Hello("login-2", "zoë", const.PROTOCOL_VERSION, "pässwörd 🌍", True),
    Welcome("login-2", "zoë", const.PROTOCOL_VERSION, "chat", 15.0, True),
    # The fast welcome encoder (issue 9's logins): every optional field, on and off.
    Welcome("hello", "user7", 1, "chät \"srv\"", 30, False, "tok-en_1", ("batch_acks", "carbons"), False),
    Welcome("hello", "user7", 2, "chat", 0.5, False, None, (), True),
    Welcome("h", "🌍", 2, "chat", 1e-05, True, "x", None, None),
    Welcome("h", "Conceição", 2, "chat", 15.0, False, None, None, None, 1_795_000_000_123),  # the server's clock
    Welcome("h", "João", 2, "chat", 15.0, False, None, ("edits",), None, 1_795_000_000_123, 300.0),  # its edit window
    Welcome("h", "João", 2, "chat", 15.0, False, None, ("edits",), None, None, 3600),
    Pong("tok", now=1_795_000_000_123),  # a server's pong says its clock
    ErrorReply("expired", "your message 41 to bøb expired", "req-1", msg_id=41, waited=604800.0),
    ErrorReply("name_taken", "the name 'Otávio' is kept", "h", until=1795000540.0, now=1_795_000_000_123),
]


def _id(event):
    return type(event).__name__


def test_samples_cover_every_wire_event_once():
    assert sorted(type(e).__name__ for e in SAMPLES) == sorted(cls.__name__ for cls in WIRE_EVENTS)


@pytest.mark.parametrize("event", SAMPLES + EXTRA, ids=_id)
def test_codec_round_trip(event):
    frame = codec.encode(event)
    assert frame.endswith(b"\n") and frame.count(b"\n") == 1
    assert json.loads(frame) == codec.to_dict(event)
    assert codec.to_dict(event)["type"] == event.TYPE
    assert codec.decode(frame[:-1], codec.TYPES, const.MAX_TEXT_CHARS) == event


def test_encoding_keeps_non_ascii_as_raw_utf8():
    # The split-at-every-byte tests rely on multi-byte characters really being on the wire.
    frame = codec.encode(SendRoom("r", TEXT))
    assert TEXT.encode("utf-8") in frame


def test_optional_fields_that_are_none_stay_off_the_wire():
    assert codec.to_dict(LookupResult("r", "x", "unknown")) == {
        "type": "user", "id": "r", "name": "x", "status": "unknown"}
    assert codec.to_dict(ErrorReply("c", "m")) == {"type": "error", "code": "c", "message": "m"}


def test_a_refusal_of_ones_standing_in_a_room_has_its_facts_on_the_wire():
    """``room`` and ``reason`` of an ``error`` (PROTOCOL.md, "error"): with the time left
    of a mute, what a client needs to say a ``muted`` or ``banned`` refusal in its words.
    A version 1 session gets them too (a muted ``say``): unknown keys are ignored."""
    muted = ErrorReply("muted", "you are muted in #redes for 290 s more", "4", 290.0, room_name="#redes")
    banned = ErrorReply("banned", "you are banned from #redes: spam", "5", room_name="#redes", reason="spam")
    assert codec.to_dict(muted) == {"type": "error", "code": "muted", "id": "4", "retry_after": 290.0,
                                    "message": "you are muted in #redes for 290 s more", "room": "#redes"}
    assert codec.to_dict(banned) == {"type": "error", "code": "banned", "message": "you are banned from #redes: spam",
                                     "id": "5", "room": "#redes", "reason": "spam"}
    for version in (1, const.PROTOCOL_VERSION):
        pair = open_pair(version)
        assert pair.send(pair.server, muted, banned) == [muted, banned]


def test_field_names_on_the_wire():
    assert codec.to_dict(DirectMessage(3, "zoë", "bob", "hi", 1.5)) == {
        "type": "dm", "msg_id": 3, "from": "zoë", "to": "bob", "text": "hi", "sent_at": 1.5}


def test_since_travels_with_forward_cursors_and_refuses_a_bad_one():
    """Feature since: its cursors are msg_ids under keys of their own ("after"/"next" are
    names in who/users); a page without next_id is the last, and a bad cursor or limit is
    bad_field, with the request's id."""
    from protocol import FrameRejected, HistoryEntry, SincePage, SinceRequest
    assert codec.to_dict(SinceRequest("9", 118, 20)) == {"type": "since", "id": "9", "after_id": 118, "limit": 20}
    last = SincePage("9", (HistoryEntry(119, "Ana", "João", "oi", 1.5, "delivered"),))
    assert "next_id" not in codec.to_dict(last)
    assert codec.decode(codec.encode(last)[:-1], codec.TYPES, const.MAX_TEXT_CHARS) == last
    assert codec.decode(b'{"type":"since","id":"9","after_id":7}', codec.TYPES, 100) == SinceRequest("9", 7, 50)
    for bad in (b'{"type":"since","id":"9","after_id":-1}', b'{"type":"since","id":"9","after_id":"7"}',
                b'{"type":"since","id":"9"}', b'{"type":"since","id":"9","after_id":7,"limit":501}'):
        rejected = codec.decode(bad, codec.TYPES, 100)
        assert isinstance(rejected, FrameRejected) and rejected.code == "bad_field", bad
        assert rejected.request_id == "9"


def _senders(event):
    return {"client": ["client"], "server": ["server"], "both": ["client", "server"]}[event.SENDER]


CASES = [(event, side) for event in SAMPLES for side in _senders(event)]


@pytest.mark.parametrize("event,side", CASES, ids=[f"{_id(e)}-from-{s}" for e, s in CASES])
def test_connection_round_trip(event, side):
    # Hello and Welcome belong to the handshake; everything else is sent on an open session.
    pair = ConnectionPair() if type(event) in (Hello, Welcome) else open_pair(event.SINCE)
    sender = getattr(pair, side)
    receiver = pair.peer(sender)
    assert pair.send(sender, event) == [event]
    if type(event) is Ping:
        assert receiver.data_to_send() == codec.encode(Pong(event.token))
    else:
        assert receiver.data_to_send() == b""
    expected_state = State.OPEN
    if type(event) is Goodbye:  # the client's leaves the server its answers (CLOSING)
        expected_state = State.CLOSING if side == "client" else State.CLOSED
    if type(event) is Hello:
        expected_state = State.HANDSHAKE
    assert sender.state is expected_state and receiver.state is expected_state


def test_a_dm_deleted_before_delivery_says_so_and_every_other_dm_is_as_it_was():
    # A dm deleted by its sender before it was delivered came with an empty text and no
    # word of why: the receiver showed an empty line. The flag is written only when set.
    deleted = DirectMessage(7, "Ana", "Bob", "", 1.5, True)
    assert codec.encode(deleted) == b'{"type":"dm","msg_id":7,"from":"Ana","to":"Bob","text":"","sent_at":1.5,"deleted":true}\n'
    assert codec.decode(codec.encode(deleted)[:-1], codec.TYPES, 100) == deleted
    assert codec.encode(DirectMessage(7, "Ana", "Bob", "hi", 1.5)) == \
        b'{"type":"dm","msg_id":7,"from":"Ana","to":"Bob","text":"hi","sent_at":1.5}\n'
    bad = codec.decode(b'{"type":"dm","msg_id":7,"from":"Ana","to":"Bob","text":"","sent_at":1.5,"deleted":1}',
                       codec.TYPES, 100)
    assert bad.code == "bad_field" and "'deleted' must be true or false" in bad.message

def test_a_history_entry_says_edited_or_deleted_only_when_it_is_and_keeps_it_both_ways():
    for edited, deleted in ((False, False), (True, False), (False, True)):
        page = HistoryPage("h", "Bob", (HistoryEntry(7, "Ana", "Bob", "" if deleted else "oi", 1.5, "delivered",
                                                     edited, deleted),))
        frame = codec.encode(page)
        assert (b'"edited":true' in frame, b'"deleted":true' in frame) == (edited, deleted)
        assert codec.decode(frame[:-1], codec.TYPES, 100) == page


@pytest.mark.parametrize("event", [e for e in SAMPLES + EXTRA if type(e) in codec._FAST], ids=_id)
def test_fast_encoders_write_exactly_what_the_generic_encoder_writes(event):
    generic = codec._dumps(codec.to_dict(event)).encode("utf-8") + b"\n"
    assert codec.encode(event) == generic


# Strings in every width of UTF-8, and lone surrogates (which UTF-8 cannot encode).
_WIDTHS = ["plain", "é", "€uro", "🌍", "\ud800", "x\udfffy", "é€🌍\x7f"]


@pytest.mark.parametrize("text", _WIDTHS, ids=ascii)
def test_fast_encoders_write_every_width_of_utf8_and_refuse_lone_surrogates_as_the_generic_one(text):
    # Each fast encoder (codec._FAST) with ``text`` in every string field: the generic
    # encoder's bytes, or its error (UnicodeEncodeError) and no frame.
    events = [Accepted(text, 1), Queued(text, 2), Delivered(text, 3), DirectMessage(4, text, text, text, 1.5),
              RoomMessage(5, text, text, 2.25), Welcome(text, text, 2, text, 15.0, True, text, (text,), True)]
    assert {type(event) for event in events} == set(codec._FAST)
    for event in events:
        try:
            generic = codec._dumps(codec.to_dict(event)).encode("utf-8") + b"\n"
        except UnicodeEncodeError:
            with pytest.raises(UnicodeEncodeError):
                codec.encode(event)
        else:
            assert codec.encode(event) == generic


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_fast_encoders_refuse_non_finite_numbers_like_the_generic_one(bad):
    with pytest.raises(ValueError):
        codec.encode(DirectMessage(1, "a", "b", "x", bad))


# Frames of the message path, plainly valid and not: the quick decoders must answer each
# exactly as the generic loop does (the same event, or the same rejection).
_QUICK_FRAMES = [
    {"type": "send", "id": "r1", "to": "bob", "text": "hello"},
    {"type": "send", "id": "r1", "to": "bøb", "text": "héllo 🌍"},
    {"type": "send", "id": "r1", "to": "bob", "text": "\ud800"},
    {"type": "send", "id": "r1", "to": "b" * 257, "text": "x"},
    {"type": "send", "id": "r1", "to": "bob", "text": "x" * (const.MAX_TEXT_CHARS + 1)},
    {"type": "send", "id": "r1", "to": "bob", "text": "x" * const.MAX_TEXT_CHARS},
    {"type": "send", "id": "i" * 65, "to": "bob", "text": "x"},
    {"type": "send", "id": 5, "to": "bob", "text": "x"},
    {"type": "send", "to": "bob", "text": "x"},
    {"type": "send", "id": "r1", "text": "x"},
    {"type": "send", "id": "r1", "to": None, "text": "x"},
    {"type": "send", "id": "r1", "to": "bob", "text": 3},
    {"type": "send", "id": "r1", "to": "bob", "text": "x", "extra": 1},
    {"type": "send", "id": "r1", "room": "#redes", "text": "hello"},
    {"type": "send", "id": "r1", "to": "bob", "room": "#redes", "text": "hello"},
    {"type": "receipt", "msg_id": 7},
    {"type": "receipt", "msg_id": 0},
    {"type": "receipt", "msg_id": codec.MAX_INTEGER},
    {"type": "receipt", "msg_id": codec.MAX_INTEGER + 1},
    {"type": "receipt", "msg_id": -1},
    {"type": "receipt", "msg_id": True},
    {"type": "receipt", "msg_id": 7.0},
    {"type": "receipt"},
    {"type": "ack", "msg_id": 7, "id": "x"},
    {"type": "ack", "msg_id": "7"},
    # The hello (one per login; issue 9's login storm).
    {"type": "hello", "id": "hello", "name": "user1", "version": 2, "register": False},
    {"type": "hello", "id": "hello", "name": "user1", "version": 2},
    {"type": "hello", "id": "h", "name": "zoë", "version": 2},
    {"type": "hello", "id": "h", "name": "\ud800", "version": 2},
    {"type": "hello", "id": "h", "name": "n" * 257, "version": 2},
    {"type": "hello", "id": "h", "name": 7, "version": 2},
    {"type": "hello", "id": "h", "version": 2},
    {"type": "hello", "name": "a", "version": 2},
    {"type": "hello", "id": "h", "name": "a", "version": True},
    {"type": "hello", "id": "h", "name": "a", "version": -1},
    {"type": "hello", "id": "h", "name": "a", "version": codec.MAX_INTEGER + 1},
    {"type": "hello", "id": "h", "name": "a", "version": 2, "register": 1},
    {"type": "hello", "id": "h", "name": "a", "version": 2, "register": None},
    {"type": "hello", "id": "h", "name": "a", "version": 2, "register": True, "password": "pw"},
    {"type": "hello", "id": "h", "name": "a", "version": 2, "password": None, "resume": None, "features": None},
    {"type": "hello", "id": "h", "name": "a", "version": 2, "password": "pässwörd"},
    {"type": "hello", "id": "h", "name": "a", "version": 2, "password": "p" * 1025},
    {"type": "hello", "id": "h", "name": "a", "version": 2, "password": 5},
    {"type": "hello", "id": "h", "name": "a", "version": 2, "resume": "t" * 256},
    {"type": "hello", "id": "h", "name": "a", "version": 2, "resume": "t" * 257},
    {"type": "hello", "id": "h", "name": "a", "version": 2, "resume": ["t"]},
    {"type": "hello", "id": "h", "name": "a", "version": 2, "features": ["batch_acks", "later"]},
    {"type": "hello", "id": "h", "name": "a", "version": 2, "features": []},
    {"type": "hello", "id": "h", "name": "a", "version": 2, "features": ["f" * 65]},
    {"type": "hello", "id": "h", "name": "a", "version": 2, "features": ["x"] * 33},
    {"type": "hello", "id": "h", "name": "a", "version": 2, "features": [1]},
    {"type": "hello", "id": "h", "name": "a", "version": 2, "features": "batch_acks"},
    {"type": "hello", "id": "h", "name": "a", "version": 2, "features": ["fé"]},
    # Fields a quick decoder does not read: the generic path keeps them (a quick decoder
    # once dropped a hello's room_seen, added to Hello after it was written).
    {"type": "hello", "id": "h", "name": "a", "version": 2, "room_seen": 12},
    {"type": "hello", "id": "h", "name": "a", "version": 2, "room_seen": 12, "last_heard": 1763712150250},
    {"type": "send", "id": "s", "to": "Bob", "text": "oi", "room": "#redes"},
]


@pytest.mark.parametrize("obj", _QUICK_FRAMES, ids=lambda obj: obj["type"])
def test_quick_decoders_answer_exactly_as_the_generic_path(obj, monkeypatch):
    frame = json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass")
    allowed = {cls.TYPE: cls for cls in WIRE_EVENTS if cls.SENDER in ("client", "both")}
    assert codec._QUICK, "the message path's frames have quick decoders"
    quick = codec.decode(frame, allowed, const.MAX_TEXT_CHARS)
    monkeypatch.setattr(codec, "_QUICK", {})
    generic = codec.decode(frame, allowed, const.MAX_TEXT_CHARS)
    assert quick == generic


def test_a_login_s_hello_and_welcome_take_the_quick_ways():
    # Issue 9's login storm: the hello read and the welcome written without the generic
    # loops; the tests above hold them to the generic path's answers, byte for byte.
    frame = b'{"type":"hello","id":"hello","name":"user1","version":2,"register":false}'
    seen = []
    quick, keys = codec._QUICK[Hello]

    def spy(*args):
        seen.append(quick(*args))
        return seen[-1]

    original = dict(codec._QUICK)
    codec._QUICK[Hello] = (spy, keys)
    try:
        assert codec.decode(frame, codec.TYPES, const.MAX_TEXT_CHARS) == Hello("hello", "user1", 2)
    finally:
        codec._QUICK.clear()
        codec._QUICK.update(original)
    assert seen == [Hello("hello", "user1", 2)]
    assert Welcome in codec._FAST


def test_ones_own_room_mark_from_another_session_has_from_like_a_direct_read():
    """A room ``read`` forwarded to the reader's other sessions (PROTOCOL.md, "In rooms")
    is shaped as the direct one is: ``msg_id`` and ``from`` (the reader), ``room`` in place
    of ``with``; it passes a version 2 connection from the server."""
    own = RoomRead("#calculo", 90, sender="João")
    assert codec.to_dict(own) == {"type": "read", "room": "#calculo", "msg_id": 90, "from": "João"}
    pair = open_pair(2)
    assert pair.send(pair.server, own) == [own]
