"""Bad bytes from the peer: each is yielded as a FrameRejected with the right code and id,
and the connection goes on."""

from __future__ import annotations

import pytest

import const
from helpers import TEXT, open_pair
from protocol import (
    Connection, ErrorCode, FrameRejected, Ping, Role, SendDirect, SendRoom, State,
)
from protocol import codec

BAD_ENCODING = ErrorCode.BAD_ENCODING
BAD_JSON = ErrorCode.BAD_JSON
UNKNOWN_TYPE = ErrorCode.UNKNOWN_TYPE
BAD_FIELD = ErrorCode.BAD_FIELD
TOO_LARGE = ErrorCode.MESSAGE_TOO_LARGE

MAX_TEXT = 10
LONG_ID = "i" * 65

# (receiving role, raw frame without newline, expected code, expected request_id)
CASES = [
    # Not UTF-8: nothing can be read, not even the id.
    ("server", b'{"type":"say","id":"r1","text":"\xff"}', BAD_ENCODING, None),
    ("server", b'{"type":"say","id":"r1","text":"\xc0\xaf"}', BAD_ENCODING, None),      # overlong "/"
    ("server", b'{"type":"say","id":"r1","text":"\xe2\x82"}', BAD_ENCODING, None),      # cut character
    ("server", b'{"type":"say","id":"r1","text":"\xed\xa0\x80"}', BAD_ENCODING, None),  # raw surrogate
    ("client", b'\xfe\xff{"type":"ping"}', BAD_ENCODING, None),
    # Not JSON, or JSON but not an object.
    ("server", b"{", BAD_JSON, None),
    ("server", b'{"type":"say","id":"r1","text":"x"', BAD_JSON, None),
    ("server", b"hello server", BAD_JSON, None),
    ("server", b'{"type":"ping"} {"type":"ping"}', BAD_JSON, None),
    ("server", b"{'type':'ping'}", BAD_JSON, None),
    ("server", b"[]", BAD_JSON, None),
    ("server", b'[{"type":"ping"}]', BAD_JSON, None),
    ("server", b'"ping"', BAD_JSON, None),
    ("server", b"42", BAD_JSON, None),
    ("server", b"null", BAD_JSON, None),
    ("client", b"true", BAD_JSON, None),
    ("server", b'{"type":"receipt","msg_id":' + b"9" * 5000 + b"}", BAD_JSON, None),
    # Unknown types, and types the peer's role never sends.
    ("server", b'{"type":"nope","id":"r1"}', UNKNOWN_TYPE, "r1"),
    ("server", b'{"id":"r1","text":"no type"}', UNKNOWN_TYPE, "r1"),
    ("server", b'{"type":7,"id":"r1"}', UNKNOWN_TYPE, "r1"),
    ("server", b'{"type":null}', UNKNOWN_TYPE, None),
    ("server", b'{"type":"SEND","id":"r1","to":"bob","text":"x"}', UNKNOWN_TYPE, "r1"),
    ("server", b'{"type":"joined","id":"r2","name":"mallory","at":1}', UNKNOWN_TYPE, "r2"),
    ("server", b'{"type":"dm","id":"r3","msg_id":1,"from":"a","to":"b","text":"x","sent_at":1}',
     UNKNOWN_TYPE, "r3"),
    ("server", b'{"type":"welcome","id":"r4","name":"a","version":1,"server":"s","heartbeat":1}',
     UNKNOWN_TYPE, "r4"),
    ("server", b'{"type":"error","code":"x","message":"y"}', UNKNOWN_TYPE, None),
    ("client", b'{"type":"hello","id":"r5","name":"a","version":1}', UNKNOWN_TYPE, "r5"),
    ("client", b'{"type":"send","id":"r6","to":"bob","text":"x"}', UNKNOWN_TYPE, "r6"),
    # Missing or wrongly typed fields.
    ("server", b'{"type":"receipt"}', BAD_FIELD, None),
    ("server", b'{"type":"receipt","msg_id":true}', BAD_FIELD, None),
    ("server", b'{"type":"receipt","msg_id":false}', BAD_FIELD, None),
    ("server", b'{"type":"receipt","msg_id":-1}', BAD_FIELD, None),
    ("server", b'{"type":"receipt","msg_id":1.0}', BAD_FIELD, None),
    ("server", b'{"type":"receipt","msg_id":"1"}', BAD_FIELD, None),
    ("server", b'{"type":"receipt","msg_id":null}', BAD_FIELD, None),
    ("server", b'{"type":"send","id":"r1","to":"bob"}', BAD_FIELD, "r1"),
    ("server", b'{"type":"send","id":"r1","to":"bob","text":5}', BAD_FIELD, "r1"),
    ("server", b'{"type":"send","id":"r1","to":"bob","text":["x"]}', BAD_FIELD, "r1"),
    ("server", b'{"type":"send","id":"r1","to":null,"text":"x"}', BAD_FIELD, "r1"),
    ("server", b'{"type":"send","id":"r1","to":"bob","text":"a\\ud800b"}', BAD_FIELD, "r1"),
    ("server", b'{"type":"send","id":"r1","to":"\\udfff","text":"x"}', BAD_FIELD, "r1"),
    ("server", b'{"type":"say","text":"x"}', BAD_FIELD, None),
    ("server", b'{"type":"say","id":5,"text":"x"}', BAD_FIELD, None),
    ("server", b'{"type":"say","id":"\\ud800","text":"x"}', BAD_FIELD, None),
    ("server", b'{"type":"say","id":"' + LONG_ID.encode() + b'","text":"x"}', BAD_FIELD, None),
    ("server", b'{"type":"whois","id":"r1","name":{"n":"a"}}', BAD_FIELD, "r1"),
    # A name over 256 characters breaks the naming rules (PROTOCOL.md "Names", rule 1):
    # invalid_name, as a shorter one over 256 bytes is; not bad_field.
    ("server", b'{"type":"whois","id":"r1","name":"' + b"n" * 257 + b'"}', ErrorCode.INVALID_NAME, "r1"),
    ("server", b'{"type":"hello","id":"h","name":"' + b"n" * 300 + b'","version":2}', ErrorCode.INVALID_NAME, "h"),
    ("server", b'{"type":"join","id":"j","room":"#' + b"r" * 300 + b'"}', ErrorCode.INVALID_NAME, "j"),
    # ... counted in bytes of UTF-8, not characters: 200 "é" are 400 bytes, in every field
    # that holds a name. 64 "𝒜" (4 bytes each) are exactly 256: within the size rule.
    ("server", '{"type":"send","id":"s","to":"' .encode() + "é".encode() * 200 + b'","text":"x"}',
     ErrorCode.INVALID_NAME, "s"),
    ("server", b'{"type":"whois","id":"w","name":"' + "é".encode() * 129 + b'"}', ErrorCode.INVALID_NAME, "w"),
    ("server", b'{"type":"history","id":"h","with":"' + "é".encode() * 200 + b'"}', ErrorCode.INVALID_NAME, "h"),
    ("server", b'{"type":"hello","id":"h","name":"' + "é".encode() * 200 + b'","version":1}',
     ErrorCode.INVALID_NAME, "h"),
    ("server", b'{"type":"ping","token":' + b'"' + b"t" * 65 + b'"}', BAD_FIELD, None),
    ("client", b'{"type":"users","id":"r1","users":{"a":1}}', BAD_FIELD, "r1"),
    ("client", b'{"type":"users","id":"r1","users":[{"name":"a"}]}', BAD_FIELD, "r1"),
    ("client", b'{"type":"users","id":"r1","users":["a"]}', BAD_FIELD, "r1"),
    ("client", b'{"type":"users","id":"r1","users":[{"name":"a","since":"now"}]}', BAD_FIELD, "r1"),
    ("client", b'{"type":"user","id":"r1","name":"a","status":"online","port":-1}', BAD_FIELD, "r1"),
    ("client", b'{"type":"user","id":"r1","name":"a","status":"online","port":true}', BAD_FIELD, "r1"),
    ("client", b'{"type":"accepted","id":"r1","msg_id":true}', BAD_FIELD, "r1"),
    ("client", b'{"type":"dm","msg_id":1,"from":"a","to":"b","text":"x","sent_at":"1"}', BAD_FIELD, None),
    ("client", b'{"type":"dm","msg_id":1,"from":"a","to":"b","text":"x","sent_at":true}', BAD_FIELD, None),
    # Numbers out of range (0 <= n <= 2**53 - 1 for every integer and number field).
    ("server", b'{"type":"receipt","msg_id":9223372036854775808}', BAD_FIELD, None),           # 2**63
    ("server", b'{"type":"receipt","msg_id":9007199254740992}', BAD_FIELD, None),              # 2**53
    ("server", b'{"type":"history","id":"r1","with":"bob","before":9223372036854775808}', BAD_FIELD, "r1"),
    ("server", b'{"type":"history","id":"r1","with":"bob","before":-5}', BAD_FIELD, "r1"),
    ("server", b'{"type":"history","id":"r1","with":"bob","limit":9223372036854775808}', BAD_FIELD, "r1"),
    ("server", b'{"type":"hello","id":"h1","name":"a","version":18446744073709551616}', BAD_FIELD, "h1"),
    ("client", b'{"type":"accepted","id":"r1","msg_id":9007199254740992}', BAD_FIELD, "r1"),
    ("client", b'{"type":"user","id":"r1","name":"a","status":"online","port":65536}', BAD_FIELD, "r1"),
    ("client", b'{"type":"dm","msg_id":1,"from":"a","to":"b","text":"x","sent_at":1' + b"0" * 400 + b'}',
     BAD_FIELD, None),                                                                          # 10**400
    ("client", b'{"type":"dm","msg_id":1,"from":"a","to":"b","text":"x","sent_at":-1}', BAD_FIELD, None),
    ("client", b'{"type":"joined","name":"a","at":1e300}', BAD_FIELD, None),
    ("client", b'{"type":"error","id":"r1","code":"rate_limited","message":"m","retry_after":-0.5}',
     BAD_FIELD, "r1"),
    ("client", b'{"type":"users","id":"r1","users":[{"name":"a","since":9007199254740993}]}', BAD_FIELD, "r1"),
    ("client", b'{"type":"history_page","id":"r1","with":"b","messages":[{"msg_id":9007199254740992,'
     b'"from":"a","to":"b","text":"x","sent_at":1,"state":"sent"}]}', BAD_FIELD, "r1"),
    # Text over max_text_chars (characters, not bytes).
    ("server", b'{"type":"say","id":"r1","text":"' + b"x" * (MAX_TEXT + 1) + b'"}', TOO_LARGE, "r1"),
    ("server", b'{"type":"send","id":"r2","to":"b","text":"' + "🌍".encode() * (MAX_TEXT + 1) + b'"}',
     TOO_LARGE, "r2"),
    ("client", b'{"type":"dm","msg_id":1,"from":"a","to":"b","text":"' + b"x" * (MAX_TEXT + 1)
     + b'","sent_at":1}', TOO_LARGE, None),
]


def _open(role: str, **limits) -> Connection:
    pair = open_pair(max_text_chars=MAX_TEXT, **limits)
    return getattr(pair, role)


@pytest.mark.parametrize("role,raw,code,request_id", CASES)
def test_bad_frame_is_rejected_with_code_and_id_and_the_connection_goes_on(role, raw, code, request_id):
    conn = _open(role)
    conn.receive_data(raw + b"\n" + codec.encode(Ping("next")))
    got = list(conn.events())
    assert len(got) == 2, got
    rejected = got[0]
    assert type(rejected) is FrameRejected
    assert (rejected.code, rejected.request_id) == (code, request_id)
    assert rejected.message
    assert got[1] == Ping("next")
    assert conn.state is State.OPEN


@pytest.mark.parametrize("role,raw,code,request_id", CASES)
def test_codec_decode_gives_the_same_verdict(role, raw, code, request_id):
    allowed = {cls.TYPE: cls for cls in codec.TYPES.values()
               if cls.SENDER in ("both", "client" if role == "server" else "server")}
    rejected = codec.decode(raw, allowed, MAX_TEXT)
    assert type(rejected) is FrameRejected
    assert (rejected.code, rejected.request_id) == (code, request_id)


@pytest.mark.parametrize("raw", [
    b"[" * 100_000,
    b"{" * 100_000,
    b'{"type":"say","id":"r1","text":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"type":"say","id":"r1","x":' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b',"text":"t"}',
])
def test_deeply_nested_json_is_bad_json_not_a_crash(raw):
    assert codec.decode(raw, codec.TYPES, MAX_TEXT).code == BAD_JSON
    conn = _open("server", max_frame_bytes=len(raw) + 100)
    conn.receive_data(raw + b"\n" + codec.encode(Ping("next")))
    assert [getattr(e, "code", e) for e in conn.events()] == [BAD_JSON, Ping("next")]


@pytest.mark.parametrize("raw,says", [
    (b'{"type":"receipt","msg_id":' + b"9" * 5000 + b"}", "a number in the frame has too many digits"),
    (b"[" * 100_000, "the frame is nested too deeply"),
    (b'{"type":"ping","token":NaN}', "frame is not valid JSON: NaN is not a JSON value"),
    (b'{"type":"ping",}',
     "frame is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 16 (char 15)"),
])
def test_bad_json_is_told_in_the_protocols_words_not_pythons(raw, says):
    # Python's own words for its limits named its API ("use sys.set_int_max_str_digits()
    # to increase the limit") or its recursion to the peer: the client can do nothing with
    # either. The JSON grammar's own words (where the frame broke) stay.
    rejected = codec.decode(raw, codec.TYPES, MAX_TEXT)
    assert (rejected.code, rejected.message) == (BAD_JSON, says)


@pytest.mark.parametrize("text", ["x" * MAX_TEXT, "🌍" * MAX_TEXT, "ação" + "ç" * (MAX_TEXT - 4)])
def test_text_of_exactly_max_text_chars_is_accepted(text):
    server = _open("server")
    server.receive_data(codec.encode(SendRoom("r1", text)))
    assert list(server.events()) == [SendRoom("r1", text)]


@pytest.mark.parametrize("to", ["n" * 256, "é" * 128, "\U0001d49c" * 64, "a" + "é" * 127 + "b" * 0])
def test_a_name_of_up_to_256_bytes_passes_the_size_rule(to):
    server = _open("server")
    server.receive_data(codec.encode(SendDirect("r1", to, "x")))
    assert list(server.events()) == [SendDirect("r1", to, "x")]


def test_a_name_over_256_bytes_is_told_in_bytes():
    server = _open("server")
    server.receive_data(codec.encode(SendDirect("r1", "\U0001d49c" * 65, "x")))
    [rejected] = server.events()
    assert (rejected.code, rejected.request_id) == (ErrorCode.INVALID_NAME, "r1")
    assert "260 bytes" in rejected.message and "256" in rejected.message, rejected.message


def test_escaped_surrogate_pair_is_a_character_not_an_error():
    server = _open("server")
    server.receive_data(b'{"type":"send","id":"r1","to":"bob","text":"\\ud83c\\udf0d \\u00e7"}\n')
    assert list(server.events()) == [SendDirect("r1", "bob", "🌍 ç")]


def test_unknown_keys_are_ignored():
    server = _open("server")
    server.receive_data(b'{"type":"say","id":"r1","text":"' + TEXT.encode() + b'","future":[1,{}]}\n')
    assert list(server.events()) == [SendRoom("r1", TEXT)]


def test_rejected_hello_leaves_the_server_in_handshake():
    server = Connection(Role.SERVER)
    server.receive_data('{"type":"hello","id":"h1","name":"zoë","version":"1"}\n'.encode())
    [rejected] = server.events()
    assert (rejected.code, rejected.request_id) == (BAD_FIELD, "h1")
    assert server.state is State.HANDSHAKE


@pytest.mark.parametrize("value", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_non_finite_numbers_are_rejected(value):
    raw = b'{"type":"joined","name":"bob","at":' + value + b"}"
    event = codec.decode(raw, codec.TYPES, MAX_TEXT)
    assert type(event) is FrameRejected, event


@pytest.mark.parametrize("raw,expected", [
    (b'{"type":"receipt","msg_id":9007199254740991}', "Receipt(msg_id=9007199254740991)"),   # 2**53 - 1
    (b'{"type":"receipt","msg_id":0}', "Receipt(msg_id=0)"),
    (b'{"type":"history","id":"r1","with":"b","before":9007199254740991}', "before=9007199254740991"),
])
def test_integers_up_to_2_53_minus_1_are_accepted(raw, expected):
    event = codec.decode(raw, codec.TYPES, MAX_TEXT)
    assert type(event) is not FrameRejected, event
    assert expected in repr(event)


def test_a_huge_integer_where_a_number_belongs_is_rejected_not_raised():
    # math.isfinite(10**400) raises OverflowError: decode must never raise.
    raw = b'{"type":"joined","name":"bob","at":1' + b"0" * 400 + b"}"
    assert codec.decode(raw, codec.TYPES, MAX_TEXT).code == BAD_FIELD


@pytest.mark.parametrize("field", [b"room_seen", b"last_heard"])
@pytest.mark.parametrize("value", [b"-1", b"true", b"1.5", b'"7"', b"9007199254740992"])
def test_a_hello_room_seen_that_is_no_message_id_is_bad_field(field, value):
    # PROTOCOL.md, "Room messages cut mid-stream" and "Changes a device missed": an
    # integer from 0 (to 2**53 - 1), or left out.
    allowed = {cls.TYPE: cls for cls in codec.TYPES.values() if cls.SENDER in ("both", "client")}
    raw = b'{"type":"hello","id":"h1","name":"Bob","version":2,"room_seen":5,"' + field + b'":' + value + b"}"
    rejected = codec.decode(raw, allowed, MAX_TEXT)
    assert type(rejected) is FrameRejected and (rejected.code, rejected.request_id) == (BAD_FIELD, "h1")
    ok = codec.decode(b'{"type":"hello","id":"h1","name":"Bob","version":2,"room_seen":0,"last_heard":0}',
                      allowed, MAX_TEXT)
    assert (ok.room_seen, ok.last_heard) == (0, 0)


@pytest.mark.parametrize("features", [[1], ["batch_acks", None], [["x"]]])
def test_features_that_are_not_strings_are_said_to_be_a_list_of_strings(features):
    """``features`` is a list of strings: an item of another type is said so of the list,
    not "'features' must be a string" (which told a client to send one string)."""
    import json
    conn = _open("server")
    conn.receive_data(json.dumps({"type": "hello", "id": "h", "name": "a", "version": 2,
                                  "features": features}).encode() + b"\n")
    [rejected] = list(conn.events())
    assert (rejected.code, rejected.message) == (BAD_FIELD, "'features' must be a list of strings (feature names)")


@pytest.mark.parametrize("raw,words", [
    (b'{"id":"r1","text":"no type"}', "frame has no 'type'"),
    (b'{"type":null,"id":"r1"}', "'type' must be a string"),
    (b'{"type":7,"id":"r1"}', "'type' must be a string"),
    (b'{"type":"nope","id":"r1"}', "unknown message type 'nope'"),
])
def test_an_unknown_type_says_whether_the_type_is_missing_not_a_string_or_unknown(raw, words):
    # A missing type read "unknown message type 'None'": as if the client had sent "None".
    allowed = {cls.TYPE: cls for cls in codec.TYPES.values() if cls.SENDER in ("both", "client")}
    assert codec.decode(raw, allowed, MAX_TEXT).message == words


@pytest.mark.parametrize("port, fits", [(0, True), (65535, True), (65536, False)])
def test_a_port_is_taken_from_0_to_65535(port, fits):
    raw = b'{"type":"user","id":"r1","name":"Ana","status":"online","address":"10.0.0.1","port":%d}' % port
    event = codec.decode(raw, codec.TYPES, 100)
    if fits:
        assert event.port == port
    else:
        assert (type(event), event.code) == (FrameRejected, BAD_FIELD)


@pytest.mark.parametrize("frame", [
    b'{"type":"hello","id":"h","name":"Ana","version":2,"features":[%s]}',  # (its quick decoder)
    b'{"type":"welcome","id":"h","name":"Ana","version":2,"server":"s","heartbeat":10,"features":[%s]}',
])
@pytest.mark.parametrize("count, fits", [(codec.MAX_FEATURES, True), (codec.MAX_FEATURES + 1, False)])
def test_a_hello_or_a_welcome_may_name_up_to_max_features_features(frame, count, fits):
    names = ",".join(f'"f{i}"' for i in range(count)).encode()
    event = codec.decode(frame % names, codec.TYPES, 100)
    if fits:
        assert len(event.features) == count
    else:
        assert (type(event), event.code) == (FrameRejected, BAD_FIELD)


def test_a_string_is_no_list_of_features():
    frame = b'{"type":"welcome","id":"h","name":"Ana","version":2,"server":"s","heartbeat":10,"features":"since"}'
    assert codec.decode(frame, codec.TYPES, 100).code == BAD_FIELD  # not the names "s", "i", "n"...


@pytest.mark.parametrize("limit, fits", [(1, True), (codec.MAX_HISTORY_PAGE, True), (0, False),
                                         (codec.MAX_HISTORY_PAGE + 1, False)])
def test_a_history_asks_from_one_to_max_history_page_messages(limit, fits):
    event = codec.decode(b'{"type":"history","id":"h","with":"Ana","limit":%d}' % limit, codec.TYPES, 100)
    assert (event.limit == limit) if fits else (event.code == BAD_FIELD)


@pytest.mark.parametrize("count, fits", [(const.ROOM_READS_LIMIT, True), (const.ROOM_READS_LIMIT + 1, False)])
def test_a_rooms_read_marks_are_at_most_room_reads_limit(count, fits):
    marks = ",".join(str(n) for n in range(count)).encode()
    event = codec.decode(b'{"type":"read","room":"#redes","msg_id":5,"marks":[%s]}' % marks, codec.TYPES, 100)
    assert (len(event.marks) == count) if fits else (event.code == BAD_FIELD)


@pytest.mark.parametrize("count, fits", [(1, True), (codec.MAX_NAMES_PER_REQUEST, True), (0, False),
                                         (codec.MAX_NAMES_PER_REQUEST + 1, False)])
def test_a_watch_names_one_to_max_names_per_request(count, fits):
    names = ",".join(f'"n{i}"' for i in range(count)).encode()
    event = codec.decode(b'{"type":"watch","id":"w","names":[%s]}' % names, codec.TYPES, 100)
    assert (len(event.names) == count) if fits else (event.code == BAD_FIELD)
