"""The room frames of protocol version 2: their bytes, their errors, and version 1 untouched."""

from __future__ import annotations

import json

import pytest

import const
from helpers import open_pair
from protocol import (
    LATEST_VERSION, Appoint, Ban, ErrorCode, ErrorReply, SetRoomMode, FrameRejected, JoinRoom, MemberEntry, MemberList,
    Mute, RoomEntry, RoomInfo, RoomList, RoomMessage, RoomNotice, RoomPost, RoomsRequest, SendDirect, SendToRoom,
    SetTopic, negotiate,
)
from protocol import codec

CLIENT_TYPES = {cls.TYPE: cls for cls in codec.TYPES.values() if cls.SENDER in ("client", "both")}
SERVER_TYPES = {cls.TYPE: cls for cls in codec.TYPES.values() if cls.SENDER in ("server", "both")}


def _decode(obj: dict, allowed=None):
    frame = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    return codec.decode(frame, allowed or codec.TYPES, const.MAX_TEXT_CHARS)


# The examples of PROTOCOL.md "Rooms", as the wire carries them.
WIRE = [
    ({"type": "join", "id": "j1", "room": "#redes", "create": False, "invite_only": False}, JoinRoom("j1", "#redes")),
    ({"type": "join", "id": "j2", "room": "#lab3", "create": True, "invite_only": True},
     JoinRoom("j2", "#lab3", True, True)),
    ({"type": "send", "id": "m7", "room": "#redes", "text": "olá, turma"}, SendToRoom("m7", "#redes", "olá, turma")),
    ({"type": "send", "id": "m8", "to": "Bob", "text": "hi"}, SendDirect("m8", "Bob", "hi")),
    ({"type": "topic", "id": "t1", "room": "#redes", "topic": "prova na sexta"},
     SetTopic("t1", "#redes", "prova na sexta")),
    ({"type": "mode", "id": "o1", "room": "#lab3", "invite_only": False}, SetRoomMode("o1", "#lab3", False)),
    ({"type": "appoint", "id": "a1", "room": "#redes", "name": "Mia", "role": "owner"},
     Appoint("a1", "#redes", "Mia", "owner")),
    ({"type": "ban", "id": "b1", "room": "#redes", "name": "troll", "reason": "spam"},
     Ban("b1", "#redes", "troll", "spam")),
    ({"type": "mute", "id": "u1", "room": "#redes", "name": "Vic", "seconds": 600},
     Mute("u1", "#redes", "Vic", None, 600)),
    ({"type": "room_info", "id": "j1", "room": "#redes", "count": 12, "invite_only": False,
      "topic": "prova na sexta", "owner": "Olga", "created": False},
     RoomInfo("j1", "#redes", 12, False, "prova na sexta", "Olga", False)),
    ({"type": "room_list", "id": "r1", "rooms": [{"room": "#redes", "count": 12, "topic": "prova"}], "next": "#redes"},
     RoomList("r1", (RoomEntry("#redes", 12, "prova"),), "#redes")),
    ({"type": "rooms", "id": "r2", "mine": True}, RoomsRequest("r2", mine=True)),
    ({"type": "rooms", "id": "r3", "after": "#lab3", "mine": True}, RoomsRequest("r3", "#lab3", True)),
    ({"type": "room_list", "id": "r2", "rooms": [{"room": "#lab3", "count": 2, "topic": ""}], "mine": True},
     RoomList("r2", (RoomEntry("#lab3", 2, ""),), mine=True)),
    ({"type": "room_list", "id": "r4", "mine": True,
      "rooms": [{"room": "#lab3", "count": 2, "topic": "", "invite_only": True},
                {"room": "#redes", "count": 1, "topic": ""}]},
     RoomList("r4", (RoomEntry("#lab3", 2, "", True), RoomEntry("#redes", 1, "")), mine=True)),
    ({"type": "member_list", "id": "s1", "room": "#redes",
      "members": [{"name": "Olga", "role": "owner", "online": True}]},
     MemberList("s1", "#redes", (MemberEntry("Olga", "owner", True),))),
    ({"type": "room", "msg_id": 90, "from": "Ana", "room": "#redes", "text": "oi", "sent_at": 1.5},
     RoomPost(90, "Ana", "#redes", "oi", 1.5)),
    ({"type": "room", "msg_id": 91, "from": "Ana", "text": "oi", "sent_at": 1.5}, RoomMessage(91, "Ana", "oi", 1.5)),
    ({"type": "room_notice", "room": "#redes", "act": "ban", "name": "troll", "at": 2.0, "by": "Olga",
      "reason": "spam"}, RoomNotice("#redes", "ban", "troll", 2.0, "Olga", "spam")),
    # A kick's not_member about the person kicked, not the asker: it names them.
    ({"type": "error", "code": "not_member", "message": "Vic is not in #redes", "id": "k1", "name": "Vic"},
     ErrorReply("not_member", "Vic is not in #redes", "k1", name="Vic")),
]


@pytest.mark.parametrize("obj,event", WIRE, ids=[obj["type"] for obj, _ in WIRE])
def test_frames_on_the_wire(obj, event):
    assert codec.to_dict(event) == obj
    assert _decode(obj) == event


def test_optional_keys_may_be_left_out():
    assert _decode({"type": "join", "id": "j1", "room": "#redes"}) == JoinRoom("j1", "#redes")
    assert _decode({"type": "room_info", "id": "j1", "room": "#redes", "count": 1}) == RoomInfo("j1", "#redes", 1)


def test_a_send_names_a_person_or_a_room_not_both():
    got = _decode({"type": "send", "id": "m1", "to": "Bob", "room": "#redes", "text": "x"}, CLIENT_TYPES)
    assert got == FrameRejected(ErrorCode.BAD_FIELD, "'send' has either 'to' or 'room', not both", "m1")


@pytest.mark.parametrize("obj", [
    {"type": "join", "id": "j", "room": 5},
    {"type": "join", "id": "j"},
    {"type": "join", "id": "j", "room": "#a", "create": "yes"},
    {"type": "send", "id": "m", "room": "#a"},
    {"type": "send", "id": "m", "room": None, "text": "x"},
    {"type": "topic", "id": "t", "room": "#a", "topic": "x" * (const.MAX_TOPIC_CHARS + 1)},
    {"type": "mute", "id": "u", "room": "#a", "name": "b", "seconds": -1},
    {"type": "kick", "id": "k", "room": "#a", "name": "b", "reason": "x" * 257},
    {"type": "appoint", "id": "a", "room": "#a", "name": "b"},
    {"type": "rooms", "id": "r", "after": 3},
    {"type": "rooms", "id": "r", "mine": "yes"},
    {"type": "rooms", "id": "r", "mine": 1},
    {"type": "rooms", "id": "r", "mine": None},
])
def test_bad_fields_are_refused_with_the_request_id(obj):
    got = _decode(obj, CLIENT_TYPES)
    assert type(got) is FrameRejected and got.code == ErrorCode.BAD_FIELD and got.request_id == obj["id"]


@pytest.mark.parametrize("obj,code,field,max_chars,max_bytes", [
    ({"type": "topic", "id": "t", "room": "#a", "topic": "x" * (const.MAX_TOPIC_CHARS + 1)}, ErrorCode.BAD_FIELD,
     "topic", const.MAX_TOPIC_CHARS, None),
    ({"type": "kick", "id": "t", "room": "#a", "name": "b", "reason": "é" * 257}, ErrorCode.BAD_FIELD, "reason", 256,
     None),
    ({"type": "send", "id": "t", "room": "#a", "text": "x" * (const.MAX_TEXT_CHARS + 1)}, ErrorCode.MESSAGE_TOO_LARGE,
     "text", const.MAX_TEXT_CHARS, None),
    ({"type": "invite", "id": "t", "room": "#a", "name": "𝒜" * 65}, ErrorCode.INVALID_NAME, "name", None,
     const.MAX_NAME_BYTES),
    # Over 256 characters a name was told "max_chars": 256; a name's limit is 32.
    ({"type": "invite", "id": "t", "room": "#a", "name": "x" * 257}, ErrorCode.INVALID_NAME, "name",
     const.MAX_NAME_LENGTH, None),
])
def test_a_string_too_long_is_refused_naming_its_field_and_its_limit(obj, code, field, max_chars, max_bytes):
    """A topic over its limit was refused bad_field with the server's English only: no
    client could say which field, nor its limit, in its user's language. The refusal names
    the key and the limit the server holds it to: characters, or bytes of UTF-8 (a name);
    and the error frame carries them."""
    got = _decode(obj, CLIENT_TYPES)
    assert type(got) is FrameRejected and (got.code, got.request_id) == (code, "t")
    assert (got.field, got.max_chars, got.max_bytes) == (field, max_chars, max_bytes)
    reply = ErrorReply(got.code, got.message, got.request_id, field=got.field, max_chars=got.max_chars,
                       max_bytes=got.max_bytes)
    wire = codec.to_dict(reply)
    assert (wire["field"], wire.get("max_chars"), wire.get("max_bytes")) == (field, max_chars, max_bytes)
    assert _decode(wire, SERVER_TYPES) == reply


@pytest.mark.parametrize("seconds", [const.MAX_MUTE_SECONDS + 1, 99999999999999, 1e300, codec.MAX_INTEGER + 1])
def test_a_mute_longer_than_the_longest_is_refused_naming_the_limit(seconds):
    """"/mute Rita 99999999999999" muted Rita "until 14/10/3170900": the server took any
    length up to 2**53 s. A mute is at most const.MAX_MUTE_SECONDS; a longer one is refused
    bad_field naming "seconds" and, in its message, the limit (nothing is muted)."""
    got = _decode({"type": "mute", "id": "u", "room": "#a", "name": "b", "seconds": seconds}, CLIENT_TYPES)
    assert type(got) is FrameRejected and (got.code, got.request_id, got.field) == (ErrorCode.BAD_FIELD, "u", "seconds")
    assert str(const.MAX_MUTE_SECONDS) in got.message, got.message


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_mute_of_no_finite_length_is_refused(literal):
    """Python's json would read NaN, Infinity and 1e999 (a float overflow: inf): none is a
    length (the codec refused them before the limit came; kept so)."""
    frame = ('{"type":"mute","id":"u","room":"#a","name":"b","seconds":%s}' % literal).encode()
    got = codec.decode(frame, CLIENT_TYPES, const.MAX_TEXT_CHARS)
    assert type(got) is FrameRejected and got.code in (ErrorCode.BAD_FIELD, ErrorCode.BAD_JSON), got


def test_the_longest_mute_is_taken():
    got = _decode({"type": "mute", "id": "u", "room": "#a", "name": "b", "seconds": const.MAX_MUTE_SECONDS},
                  CLIENT_TYPES)
    assert got == Mute("u", "#a", "b", None, const.MAX_MUTE_SECONDS)


def test_mine_is_optional_and_a_plain_room_list_says_nothing_of_it():
    """A plain ``rooms`` is what it was; a ``room_list`` without ``mine`` (an older
    server's, or the answer to a plain request) decodes with ``mine`` None, so a client
    can tell that the list is not only its own rooms (PROTOCOL.md, ``rooms``)."""
    assert _decode({"type": "rooms", "id": "r"}, CLIENT_TYPES) == RoomsRequest("r")
    assert RoomsRequest("r").mine is False
    plain = _decode({"type": "room_list", "id": "r", "rooms": []}, SERVER_TYPES)
    assert plain == RoomList("r", ()) and plain.mine is None
    assert "mine" not in codec.to_dict(RoomList("r", ()))
    refused = _decode({"type": "room_list", "id": "r", "rooms": [], "mine": "yes"}, SERVER_TYPES)
    assert type(refused) is FrameRejected and refused.code == ErrorCode.BAD_FIELD


def test_a_room_entry_says_invite_only_only_when_it_is():
    """``invite_only`` in a ``room_list`` entry is sent only when true, so a public room's
    entry is the bytes it always was; an entry without it (a public room, or an older
    server's) decodes as not invite-only, and a value that is not a boolean is refused."""
    assert codec.to_dict(RoomList("r", (RoomEntry("#redes", 1, ""),)))["rooms"] == [
        {"room": "#redes", "count": 1, "topic": ""}]
    assert codec.to_dict(RoomList("r", (RoomEntry("#lab3", 2, "", True),)))["rooms"] == [
        {"room": "#lab3", "count": 2, "topic": "", "invite_only": True}]
    old = _decode({"type": "room_list", "id": "r", "rooms": [{"room": "#lab3", "count": 2, "topic": ""}]}, SERVER_TYPES)
    assert old == RoomList("r", (RoomEntry("#lab3", 2, ""),)) and old.rooms[0].invite_only is False
    for event in (RoomList("r", (RoomEntry("#lab3", 2, "t", True), RoomEntry("#redes", 0, "")), "#redes", True),
                  RoomList("r", (RoomEntry("#lab3", 2, "t", False),))):
        assert codec.decode(codec.encode(event)[:-1], SERVER_TYPES, const.MAX_TEXT_CHARS) == event
    refused = _decode({"type": "room_list", "id": "r", "rooms": [{"room": "#a", "count": 1, "topic": "",
                                                                  "invite_only": "yes"}]}, SERVER_TYPES)
    assert type(refused) is FrameRejected and refused.code == ErrorCode.BAD_FIELD


def test_a_member_entry_says_muted_only_when_they_are():
    """``muted`` in a ``member_list`` entry is sent only when true, so the entry of someone
    not muted is the bytes it always was; an entry without it (an older server's) decodes
    as not muted, and a value that is not a boolean is refused."""
    assert codec.to_dict(MemberList("s", "#redes", (MemberEntry("Mia", "member", True),)))["members"] == [
        {"name": "Mia", "role": "member", "online": True}]
    assert codec.to_dict(MemberList("s", "#redes", (MemberEntry("Vic", "member", False, True),)))["members"] == [
        {"name": "Vic", "role": "member", "online": False, "muted": True}]
    old = _decode({"type": "member_list", "id": "s", "room": "#redes",
                   "members": [{"name": "Vic", "role": "member", "online": True}]}, SERVER_TYPES)
    assert old == MemberList("s", "#redes", (MemberEntry("Vic", "member", True),)) and not old.members[0].muted
    event = MemberList("s", "#redes", (MemberEntry("Mia", "member", True), MemberEntry("Vic", "member", True, True)))
    assert codec.decode(codec.encode(event)[:-1], SERVER_TYPES, const.MAX_TEXT_CHARS) == event
    refused = _decode({"type": "member_list", "id": "s", "room": "#redes",
                       "members": [{"name": "Vic", "role": "member", "online": True, "muted": 1}]}, SERVER_TYPES)
    assert type(refused) is FrameRejected and refused.code == ErrorCode.BAD_FIELD


def test_a_long_room_text_is_message_too_large_as_in_a_send():
    got = _decode({"type": "send", "id": "m", "room": "#a", "text": "x" * (const.MAX_TEXT_CHARS + 1)}, CLIENT_TYPES)
    assert got.code == ErrorCode.MESSAGE_TOO_LARGE


@pytest.mark.parametrize(("unit", "counts"), [
    ("😀", 1),                                      # outside the BMP: one, though two UTF-16 units
    ("🇧🇷", 2),                                     # a flag: two regional indicators
    ("👨\u200d👩\u200d👧\u200d👦", 7),                # a family: four people, three ZWJ
    ("Conceic\u0327a\u0303o", 11),                 # decomposed (NFD): never normalised first
    ("\x01", 1),                                   # escaped in JSON as six bytes
])
def test_a_texts_length_is_counted_in_code_points_as_sent_and_the_longest_fits_a_frame(unit: str, counts: int):
    """PROTOCOL.md, ``send``: characters are the code points of the text as sent."""
    fits = unit * (const.MAX_TEXT_CHARS // counts)
    over = fits + unit
    for text, accepted in ((fits, True), (over, False)):
        frame = json.dumps({"type": "send", "id": "m", "to": "Bob", "text": text}).encode()  # ASCII-escaped: longest
        assert len(frame) < const.MAX_FRAME_BYTES
        got = codec.decode(frame, CLIENT_TYPES, const.MAX_TEXT_CHARS)
        assert (got.text == text) if accepted else (got.code == ErrorCode.MESSAGE_TOO_LARGE), len(text)


@pytest.mark.parametrize("frame", [
    b'{"type":"join","id":"j1","room":"#redes"}',
    b'{"type":"send","id":"m1","room":"#redes","text":"hi"}',
    b'{"type":"kick","id":"k1","room":"#redes","name":"Vic"}',
])
def test_a_version_1_session_knows_no_room_request(frame):
    pair = open_pair(1)
    pair.server.receive_data(frame + b"\n")
    [got] = pair.server.events()
    assert type(got) is FrameRejected and got.code == ErrorCode.UNKNOWN_TYPE and got.request_id
    pair = open_pair(2)
    pair.server.receive_data(frame + b"\n")
    [got] = pair.server.events()
    assert type(got) is not FrameRejected


def test_a_version_1_client_is_never_sent_a_room_frame():
    from protocol import LocalProtocolError
    pair = open_pair(1)
    for event in (RoomPost(1, "a", "#r", "x", 1.0), RoomNotice("#r", "joined", "a", 1.0)):
        with pytest.raises(LocalProtocolError):
            pair.server.send(event)
    # ...and what it has always been sent goes on as before, byte for byte.
    assert pair.server.send(RoomMessage(2, "a", "x", 1.0)) == (
        b'{"type":"room","msg_id":2,"from":"a","text":"x","sent_at":1.0}\n')


def test_version_negotiation():
    assert LATEST_VERSION == 2
    assert negotiate(1) == 1  # today's clients: version 1, nothing new
    assert negotiate(2) == 2
    assert negotiate(7) is None  # unsupported_version: the client may try an older one
    assert negotiate(0) is None
    assert negotiate(2, highest=1) is None  # a server that does not offer rooms
    assert open_pair(2).server.may_send(RoomNotice) and not open_pair(1).server.may_send(RoomNotice)
