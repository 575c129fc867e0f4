"""Byte-driven tests for web.websocket.connection (RFC 6455 server behaviour)."""

from __future__ import annotations

import pytest

from web.websocket.connection import ConnectionState, LocalProtocolError, WebSocketConnection
from web.websocket.events import BinaryMessage, CloseConnection, Ping, Pong, TextMessage
from web.websocket.frames import Frame, FrameParser, Opcode, serialize_frame

MASK = b"\x37\xfa\x21\x3d"
OPEN, CLOSING, CLOSED = ConnectionState.OPEN, ConnectionState.CLOSING, ConnectionState.CLOSED


def client(opcode: Opcode, payload: bytes = b"", *, fin: bool = True) -> bytes:
    """A masked frame as a client sends it."""
    return serialize_frame(opcode, payload, fin=fin, mask=MASK)


def raw_client(first_byte: int, payload: bytes = b"") -> bytes:
    """A masked frame with an arbitrary first byte (bad opcodes, RSV bits)."""
    assert len(payload) < 126
    return bytes([first_byte, 0x80 | len(payload)]) + MASK + bytes(p ^ MASK[i % 4] for i, p in enumerate(payload))


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return code.to_bytes(2, "big") + reason


def server_frames(data: bytes) -> list[Frame]:
    """Parse what the server sent, as a client would (frames must be unmasked)."""
    parser = FrameParser(mask_expected=False)
    parser.receive_data(data)
    frames = []
    while (frame := parser.next_frame()) is not None:
        assert frame.frame_complete  # whole buffer given: one chunk per frame
        frames.append(frame)
    return frames


def feed(conn: WebSocketConnection, *chunks: bytes) -> list:
    for chunk in chunks:
        conn.receive_data(chunk)
    return list(conn.events())


def close_frame(code: int) -> Frame:
    return Frame(Opcode.CLOSE, code.to_bytes(2, "big"))


def assert_failed(conn: WebSocketConnection, events: list, code: int) -> None:
    """The connection was failed with ``code``: close sent, event emitted, CLOSED."""
    assert events[-1].code == code and isinstance(events[-1], CloseConnection)
    frames = server_frames(conn.data_to_send())
    assert len(frames) == 1 and frames[0].opcode is Opcode.CLOSE
    assert frames[0].payload[:2] == code.to_bytes(2, "big")
    assert conn.state is CLOSED and conn.failed  # we closed it: the peer broke the protocol


# -- messages ------------------------------------------------------------------


def test_rfc_masked_hello():
    conn = WebSocketConnection()
    assert feed(conn, b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58") == [TextMessage("Hello")]
    assert conn.data_to_send() == b""
    assert conn.state is OPEN


FRAGMENTED_WITH_PING = (
    client(Opcode.TEXT, b"Hel", fin=False) + client(Opcode.PING, b"hb") + client(Opcode.CONTINUATION, b"lo")
)


@pytest.mark.parametrize(
    "data",
    [b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", FRAGMENTED_WITH_PING],
    ids=["rfc masked hello", "fragments with ping"],
)
def test_every_split_yields_the_same_events(data):
    whole = WebSocketConnection()
    expected = feed(whole, data)
    expected_out = whole.data_to_send()
    assert TextMessage("Hello") in expected
    one_at_a_time = WebSocketConnection()
    assert feed(one_at_a_time, *(bytes([b]) for b in data)) == expected
    assert one_at_a_time.data_to_send() == expected_out
    for cut in range(1, len(data)):  # b"" would mean EOF, so both parts are non-empty
        conn = WebSocketConnection()
        assert feed(conn, data[:cut], data[cut:]) == expected, f"split at {cut}"
        assert conn.data_to_send() == expected_out


def test_binary_and_empty_messages():
    conn = WebSocketConnection()
    events = feed(conn, client(Opcode.BINARY, b"\x00\xff") + client(Opcode.TEXT) + client(Opcode.BINARY))
    assert events == [BinaryMessage(b"\x00\xff"), TextMessage(""), BinaryMessage(b"")]


def test_several_messages_in_one_read():
    conn = WebSocketConnection()
    data = client(Opcode.TEXT, b"one") + client(Opcode.TEXT, b"two") + client(Opcode.BINARY, b"3")
    assert feed(conn, data) == [TextMessage("one"), TextMessage("two"), BinaryMessage(b"3")]


def test_fragmented_message_with_interleaved_control_frames():
    conn = WebSocketConnection()
    events = feed(
        conn,
        client(Opcode.BINARY, b"ab", fin=False)
        + client(Opcode.PING, b"1")
        + client(Opcode.CONTINUATION, b"", fin=False)
        + client(Opcode.PONG, b"2")
        + client(Opcode.CONTINUATION, b"cd"),
    )
    assert events == [Ping(b"1"), Pong(b"2"), BinaryMessage(b"abcd")]
    assert server_frames(conn.data_to_send()) == [Frame(Opcode.PONG, b"1")]


def test_utf8_sequence_split_across_fragments():
    euro = "€".encode()  # e2 82 ac
    conn = WebSocketConnection()
    data = (
        client(Opcode.TEXT, b"x" + euro[:1], fin=False)
        + client(Opcode.CONTINUATION, euro[1:2], fin=False)
        + client(Opcode.CONTINUATION, euro[2:] + "κόσμε".encode())
    )
    assert feed(conn, data) == [TextMessage("x€κόσμε")]


def test_two_fragmented_messages_in_a_row():
    conn = WebSocketConnection()
    one = client(Opcode.TEXT, b"a", fin=False) + client(Opcode.CONTINUATION, b"b")
    two = client(Opcode.BINARY, b"c", fin=False) + client(Opcode.CONTINUATION, b"d")
    assert feed(conn, one + two) == [TextMessage("ab"), BinaryMessage(b"cd")]


# -- UTF-8 validation ------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff",
        b"\xc0\xaf",  # overlong "/"
        b"\xed\xa0\x80",  # UTF-16 surrogate
        b"\xf4\x90\x80\x80",  # above U+10FFFF
        b"abc\xe2\x82",  # truncated at the end of the message
    ],
)
def test_invalid_utf8_closes_1007(payload):
    conn = WebSocketConnection()
    assert_failed(conn, feed(conn, client(Opcode.TEXT, payload)), 1007)


@pytest.mark.parametrize("bad", [b"\xf4\x90", b"\xed\xa0", b"\xc0"])
def test_invalid_utf8_in_a_fragment_fails_before_the_message_ends(bad):
    conn = WebSocketConnection()
    # The message is never finished: the error must come from the bad prefix.
    events = feed(conn, client(Opcode.TEXT, "κόσμε".encode(), fin=False) + client(Opcode.CONTINUATION, bad, fin=False))
    assert_failed(conn, events, 1007)


def test_invalid_utf8_inside_one_frame_fails_before_the_frame_ends():
    conn = WebSocketConnection()
    frame = client(Opcode.TEXT, b"hello\xffworld")
    # Header (2) + mask (4) + "hello\xff" (6): the rest of the frame never arrives.
    events = feed(conn, *(bytes([b]) for b in frame[:12]))
    assert_failed(conn, events, 1007)


def test_binary_messages_are_not_utf8_checked():
    conn = WebSocketConnection()
    assert feed(conn, client(Opcode.BINARY, b"\xff\xed\xa0\x80")) == [BinaryMessage(b"\xff\xed\xa0\x80")]


# -- fragmentation and framing violations --------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(client(Opcode.CONTINUATION, b"x"), id="continuation without start"),
        pytest.param(client(Opcode.CONTINUATION, b"x", fin=False), id="unfinished continuation without start"),
        pytest.param(client(Opcode.TEXT, b"a", fin=False) + client(Opcode.TEXT, b"b"), id="text inside text"),
        pytest.param(client(Opcode.TEXT, b"a", fin=False) + client(Opcode.BINARY, b"b"), id="binary inside text"),
        pytest.param(b"\x81\x05Hello", id="unmasked client frame"),
        pytest.param(raw_client(0xC1, b"x"), id="rsv1"),
        pytest.param(raw_client(0xA1, b"x"), id="rsv2"),
        pytest.param(raw_client(0x91, b"x"), id="rsv3"),
        pytest.param(raw_client(0x83), id="opcode 3"),
        pytest.param(raw_client(0x87), id="opcode 7"),
        pytest.param(raw_client(0x8B), id="opcode 11"),
        pytest.param(raw_client(0x8F), id="opcode 15"),
        pytest.param(raw_client(0x09, b"x"), id="fragmented ping"),
        pytest.param(bytes([0x89, 0x80 | 126, 0, 126]) + MASK + bytes(126), id="ping over 125"),
        pytest.param(raw_client(0x88, b"\x03"), id="close with 1-byte payload"),
    ],
)
def test_protocol_violations_close_1002(data):
    conn = WebSocketConnection()
    assert_failed(conn, feed(conn, data), 1002)


def test_events_before_a_violation_are_kept():
    conn = WebSocketConnection()
    events = feed(conn, client(Opcode.TEXT, b"ok") + raw_client(0x83) + client(Opcode.TEXT, b"never"))
    assert events[0] == TextMessage("ok")
    assert_failed(conn, events[1:], 1002)


# -- size limits -------------------------------------------------------------------


def test_message_exactly_at_the_limit_is_accepted():
    conn = WebSocketConnection(max_message_bytes=10)
    data = client(Opcode.BINARY, b"12345", fin=False) + client(Opcode.CONTINUATION, b"67890")
    assert feed(conn, data) == [BinaryMessage(b"1234567890")]


def test_single_frame_over_the_limit_closes_1009_on_its_header():
    conn = WebSocketConnection(max_message_bytes=10)
    frame = client(Opcode.BINARY, b"x" * 11)
    assert_failed(conn, feed(conn, frame[:2]), 1009)


def test_fragments_adding_up_over_the_limit_close_1009_on_the_header():
    conn = WebSocketConnection(max_message_bytes=10)
    first = client(Opcode.TEXT, b"x" * 6, fin=False)
    second = client(Opcode.CONTINUATION, b"y" * 5)
    assert_failed(conn, feed(conn, first, second[:2]), 1009)


def test_frame_limit_is_separate_from_message_limit():
    conn = WebSocketConnection(max_message_bytes=100, max_frame_bytes=4)
    ok = client(Opcode.TEXT, b"abcd", fin=False) + client(Opcode.CONTINUATION, b"efgh")
    assert feed(conn, ok) == [TextMessage("abcdefgh")]
    assert_failed(conn, feed(conn, client(Opcode.TEXT, b"abcde")), 1009)


def test_control_frames_do_not_count_towards_the_message_limit():
    conn = WebSocketConnection(max_message_bytes=4)
    data = client(Opcode.TEXT, b"ab", fin=False) + client(Opcode.PING, b"x" * 100) + client(Opcode.CONTINUATION, b"cd")
    assert feed(conn, data) == [Ping(b"x" * 100), TextMessage("abcd")]


# -- ping / pong ---------------------------------------------------------------------


@pytest.mark.parametrize("payload", [b"", b"Hello", b"\xff" * 125])
def test_ping_is_answered_with_identical_pong(payload):
    conn = WebSocketConnection()
    assert feed(conn, client(Opcode.PING, payload)) == [Ping(payload)]
    assert server_frames(conn.data_to_send()) == [Frame(Opcode.PONG, payload)]
    assert conn.data_to_send() == b""  # the outbox is drained


def test_unsolicited_pong_needs_no_reply():
    conn = WebSocketConnection()
    assert feed(conn, client(Opcode.PONG, b"x")) == [Pong(b"x")]
    assert conn.data_to_send() == b""


def test_each_ping_gets_its_own_pong():
    conn = WebSocketConnection()
    feed(conn, client(Opcode.PING, b"1") + client(Opcode.PING, b"2"))
    assert server_frames(conn.data_to_send()) == [Frame(Opcode.PONG, b"1"), Frame(Opcode.PONG, b"2")]


def test_with_latest_ping_only_a_burst_of_pings_in_one_read_gets_one_pong_the_latest():
    # RFC 6455 5.5.3: a pong for the most recent ping only. A peer that sent 10,000 empty
    # pings in one read had as many pongs made and written, one by one.
    conn = WebSocketConnection(latest_ping_only=True)
    events = feed(conn, b"".join(client(Opcode.PING, b"%d" % i) for i in range(1000)))
    assert events == [Ping(b"%d" % i) for i in range(1000)]
    assert server_frames(conn.data_to_send()) == [Frame(Opcode.PONG, b"999")]
    feed(conn, client(Opcode.PING, b"next read"))
    assert server_frames(conn.data_to_send()) == [Frame(Opcode.PONG, b"next read")]


def test_with_latest_ping_only_the_answers_keep_the_order_of_the_frames():
    conn = WebSocketConnection(latest_ping_only=True)
    data = (client(Opcode.PING, b"a") + client(Opcode.PING, b"b") + client(Opcode.TEXT, b"one")
            + client(Opcode.TEXT, b"t", fin=False) + client(Opcode.PING, b"c") + client(Opcode.PONG, b"u")
            + client(Opcode.PING, b"d") + client(Opcode.CONTINUATION, b"wo")
            + client(Opcode.PING, b"e") + client(Opcode.CLOSE, close_payload(1000)) + client(Opcode.PING, b"late"))
    assert echo_transcript(conn, data) == [
        Frame(Opcode.PONG, b"b"), Frame(Opcode.TEXT, b"one"), Frame(Opcode.PONG, b"d"), Frame(Opcode.TEXT, b"two"),
        Frame(Opcode.PONG, b"e"), close_frame(1000)]


def test_with_latest_ping_only_no_pong_follows_our_close_or_a_violation():
    conn = WebSocketConnection(latest_ping_only=True)
    conn.receive_data(client(Opcode.PING, b"p"))
    events = conn.events()
    assert next(events) == Ping(b"p")
    conn.send(CloseConnection(1000))  # the application closes while the pong is held back
    assert list(events) == [] and conn.data_to_send() == b""
    conn = WebSocketConnection(latest_ping_only=True)
    assert echo_transcript(conn, client(Opcode.PING, b"p") + raw_client(0xA1, b"rsv")) == [
        Frame(Opcode.PONG, b"p"), Frame(Opcode.CLOSE, close_payload(1002, b"reserved bits set without an extension"))]


def test_min_frame_bytes_charges_each_smaller_frame_what_it_falls_short():
    conn = WebSocketConnection(min_frame_bytes=64)
    feed(conn, client(Opcode.PING) * 10)  # 6 bytes each: header 2, mask 4
    assert conn.take_frame_surcharge() == 10 * (64 - 6)
    assert conn.take_frame_surcharge() == 0  # taken once
    feed(conn, client(Opcode.TEXT, b"x" * 58), client(Opcode.TEXT, b"x" * 200))  # 64 and 206 bytes: nothing owed
    assert conn.take_frame_surcharge() == 0
    empty_text = client(Opcode.TEXT, b"", fin=False)
    feed(conn, empty_text[:3], empty_text[3:], client(Opcode.CONTINUATION, b"ab"))  # one frame split: counted once
    assert conn.take_frame_surcharge() == (64 - 6) + (64 - 8)
    assert WebSocketConnection().take_frame_surcharge() == 0  # by default a frame costs its bytes only
    default = WebSocketConnection()
    feed(default, client(Opcode.PING) * 10)
    assert default.take_frame_surcharge() == 0


# -- closing handshake ---------------------------------------------------------------


VALID_RECEIVED_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]
INVALID_RECEIVED_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


@pytest.mark.parametrize("code", VALID_RECEIVED_CODES)
def test_peer_close_is_echoed(code):
    conn = WebSocketConnection()
    events = feed(conn, client(Opcode.CLOSE, close_payload(code, b"bye")))
    assert events == [CloseConnection(code, "bye")]
    assert server_frames(conn.data_to_send()) == [close_frame(code)]
    assert conn.state is CLOSED and not conn.failed  # the peer closed it, by the rules


@pytest.mark.parametrize("code", INVALID_RECEIVED_CODES)
def test_peer_close_with_invalid_code_fails_1002(code):
    conn = WebSocketConnection()
    assert_failed(conn, feed(conn, client(Opcode.CLOSE, close_payload(code))), 1002)


def test_empty_close_is_answered_with_empty_close():
    conn = WebSocketConnection()
    assert feed(conn, client(Opcode.CLOSE)) == [CloseConnection(1005, "")]
    assert server_frames(conn.data_to_send()) == [Frame(Opcode.CLOSE, b"")]
    assert conn.state is CLOSED


def test_close_reason_with_invalid_utf8_fails_1007():
    conn = WebSocketConnection()
    assert_failed(conn, feed(conn, client(Opcode.CLOSE, close_payload(1000, b"\xce\xba\xed\xa0\x80"))), 1007)


def test_close_reason_of_123_utf8_bytes_is_accepted():
    reason = "é" * 61 + "x"  # 123 bytes
    conn = WebSocketConnection()
    assert feed(conn, client(Opcode.CLOSE, close_payload(1000, reason.encode()))) == [CloseConnection(1000, reason)]


def test_data_after_peer_close_is_ignored():
    conn = WebSocketConnection()
    events = feed(conn, client(Opcode.CLOSE, close_payload(1000)) + client(Opcode.TEXT, b"late") + client(Opcode.PING))
    assert events == [CloseConnection(1000, "")]
    assert server_frames(conn.data_to_send()) == [close_frame(1000)]
    assert feed(conn, client(Opcode.TEXT, b"later"), b"") == []
    assert conn.data_to_send() == b""


def test_partial_message_is_dropped_when_peer_closes():
    conn = WebSocketConnection()
    events = feed(conn, client(Opcode.TEXT, b"half", fin=False) + client(Opcode.CLOSE, close_payload(1001)))
    assert events == [CloseConnection(1001, "")]


def test_server_initiated_close_handshake():
    conn = WebSocketConnection()
    sent = conn.send(CloseConnection(1001, "going away"))
    assert server_frames(sent) == [Frame(Opcode.CLOSE, close_payload(1001, b"going away"))]
    assert conn.state is CLOSING
    # Until the peer sees our close it may still send messages and pings.
    events = feed(conn, client(Opcode.TEXT, b"in flight") + client(Opcode.PING, b"p"))
    assert events == [TextMessage("in flight"), Ping(b"p")]
    assert conn.data_to_send() == b""  # nothing may follow our close frame
    assert feed(conn, client(Opcode.CLOSE, close_payload(1001))) == [CloseConnection(1001, "")]
    assert conn.state is CLOSED
    assert conn.data_to_send() == b""  # no echo: we already sent our close


def test_violation_while_closing_does_not_send_a_second_close():
    conn = WebSocketConnection()
    conn.send(CloseConnection())
    assert [event.code for event in feed(conn, b"\x81\x01x")] == [1002]
    assert conn.state is CLOSED
    assert conn.data_to_send() == b""


@pytest.mark.parametrize("initiate_close", [False, True])
def test_eof_without_close_frame_is_1006(initiate_close):
    conn = WebSocketConnection()
    if initiate_close:
        conn.send(CloseConnection())
    assert feed(conn, client(Opcode.TEXT, b"par", fin=False), b"") == [CloseConnection(1006, "")]
    assert conn.state is CLOSED
    assert conn.data_to_send() == b""


def test_eof_after_closing_handshake_adds_no_event():
    conn = WebSocketConnection()
    feed(conn, client(Opcode.CLOSE, close_payload(1000)))
    assert feed(conn, b"") == []


# -- sending ---------------------------------------------------------------------------


def test_send_text_and_binary_produce_unmasked_frames():
    conn = WebSocketConnection()
    assert conn.send(TextMessage("Hello")) == b"\x81\x05Hello"
    assert conn.send(BinaryMessage(bytes(256))) == b"\x82\x7e\x01\x00" + bytes(256)
    assert conn.send(Ping(b"hb")) == b"\x89\x02hb"
    assert conn.send(Pong(b"hb")) == b"\x8a\x02hb"


def test_send_fragmented_text():
    conn = WebSocketConnection()
    frames = server_frames(conn.send(TextMessage("Hello€"), fragment_size=3))
    assert frames == [
        Frame(Opcode.TEXT, b"Hel", fin=False),
        Frame(Opcode.CONTINUATION, b"lo\xe2", fin=False),
        Frame(Opcode.CONTINUATION, b"\x82\xac", fin=True),
    ]


def test_fragmented_send_round_trips_through_a_server_connection():
    # Re-mask what we sent and feed it to another server: same message back.
    sender = WebSocketConnection()
    frames = server_frames(sender.send(BinaryMessage(bytes(range(100))), fragment_size=7))
    assert len(frames) == 15
    receiver = WebSocketConnection()
    data = b"".join(client(f.opcode, f.payload, fin=f.fin) for f in frames)
    assert feed(receiver, data) == [BinaryMessage(bytes(range(100)))]


@pytest.mark.parametrize(
    "event",
    [
        Ping(b"x" * 126),
        Pong(b"x" * 126),
        CloseConnection(1006, ""),
        CloseConnection(1005, "reason without code"),
        CloseConnection(1000, "x" * 124),
    ],
)
def test_illegal_sends_raise_and_do_not_change_state(event):
    conn = WebSocketConnection()
    with pytest.raises(LocalProtocolError):
        conn.send(event)
    assert conn.state is OPEN


def test_send_close_without_status_sends_empty_payload():
    conn = WebSocketConnection()
    assert conn.send(CloseConnection(1005)) == b"\x88\x00"


@pytest.mark.parametrize("event", [TextMessage("x"), BinaryMessage(b"x"), Ping(), Pong(), CloseConnection()])
def test_nothing_can_be_sent_after_close(event):
    conn = WebSocketConnection()
    conn.send(CloseConnection())
    with pytest.raises(LocalProtocolError):
        conn.send(event)
    peer_closed = WebSocketConnection()
    feed(peer_closed, client(Opcode.CLOSE))
    with pytest.raises(LocalProtocolError):
        peer_closed.send(event)


def test_send_rejects_non_events():
    with pytest.raises(TypeError):
        WebSocketConnection().send("hello")  # type: ignore[arg-type]


def test_events_are_consumed_once():
    conn = WebSocketConnection()
    conn.receive_data(client(Opcode.TEXT, b"a"))
    assert list(conn.events()) == [TextMessage("a")]
    assert list(conn.events()) == []


# -- answers in the order the frames came -------------------------------------------------


def echo_transcript(conn: WebSocketConnection, data: bytes) -> list[Frame]:
    """What a shell that follows the module's contract writes for ``data``: for each event
    the core's own replies first, then the application's answer (an echo of messages)."""
    conn.receive_data(data)
    out = b""
    for event in conn.events():
        out += conn.data_to_send()
        if isinstance(event, (TextMessage, BinaryMessage)) and conn.state is OPEN:
            out += conn.send(event)
    return server_frames(out + conn.data_to_send())


def test_pong_for_a_ping_between_fragments_goes_before_the_echo():
    # Autobahn 5.6: the ping arrives in the same read as the message's last fragment.
    frames = echo_transcript(WebSocketConnection(), FRAGMENTED_WITH_PING)
    assert frames == [Frame(Opcode.PONG, b"hb"), Frame(Opcode.TEXT, b"Hello")]


def test_every_answer_follows_the_order_of_the_frames_in_one_read():
    data = (client(Opcode.TEXT, b"one") + client(Opcode.PING, b"p")
            + client(Opcode.TEXT, b"t", fin=False) + client(Opcode.PING, b"q") + client(Opcode.CONTINUATION, b"wo")
            + client(Opcode.CLOSE, close_payload(1000)))
    assert echo_transcript(WebSocketConnection(), data) == [
        Frame(Opcode.TEXT, b"one"), Frame(Opcode.PONG, b"p"), Frame(Opcode.PONG, b"q"),
        Frame(Opcode.TEXT, b"two"), close_frame(1000)]


def test_a_message_before_a_protocol_violation_is_still_answered():
    # Autobahn 3.2 (strict): the echo of the good message, then the close with 1002.
    data = client(Opcode.TEXT, b"good") + raw_client(0xA1, b"rsv") + client(Opcode.PING)
    assert echo_transcript(WebSocketConnection(), data) == [
        Frame(Opcode.TEXT, b"good"), Frame(Opcode.CLOSE, close_payload(1002, b"reserved bits set without an extension"))]


def test_state_follows_the_events_consumed():
    conn = WebSocketConnection()
    conn.receive_data(client(Opcode.TEXT, b"last words") + client(Opcode.CLOSE, close_payload(1001)))
    events = conn.events()
    assert next(events) == TextMessage("last words")
    assert conn.state is OPEN and conn.data_to_send() == b""  # the close frame is not processed yet
    assert next(events) == CloseConnection(1001, "")
    assert conn.state is CLOSED and server_frames(conn.data_to_send()) == [close_frame(1001)]


def test_eof_is_reported_after_the_messages_before_it():
    conn = WebSocketConnection()
    conn.receive_data(client(Opcode.TEXT, b"a"))
    conn.receive_data(b"")
    conn.receive_data(client(Opcode.TEXT, b"after eof"))  # cannot happen on TCP; ignored
    assert list(conn.events()) == [TextMessage("a"), CloseConnection(1006, "")]


def test_unfinished_is_true_from_the_first_byte_of_a_message_to_its_last():
    conn = WebSocketConnection()
    assert not conn.unfinished
    text = client(Opcode.TEXT, b"hello")
    conn.receive_data(text[:1])  # half a header
    assert conn.unfinished
    conn.receive_data(text[1:4])  # inside the frame
    assert conn.unfinished
    conn.receive_data(text[4:])
    assert list(conn.events()) == [TextMessage("hello")] and not conn.unfinished
    conn.receive_data(client(Opcode.TEXT, b"frag", fin=False))  # a fragmented message
    assert conn.unfinished
    conn.receive_data(client(Opcode.PING, b"p"))  # a ping between fragments finishes nothing
    assert conn.unfinished
    conn.receive_data(client(Opcode.CONTINUATION, b"ment"))
    assert [e for e in conn.events() if type(e) is TextMessage] == [TextMessage("fragment")]
    assert not conn.unfinished


@pytest.mark.parametrize("limits", [{"max_message_bytes": -1}, {"max_frame_bytes": -1},
                                    {"max_message_bytes": -1, "max_frame_bytes": -1}])
def test_a_negative_size_limit_is_refused_when_the_connection_is_made(limits):
    with pytest.raises(ValueError):
        WebSocketConnection(**limits)
    WebSocketConnection(max_message_bytes=0, max_frame_bytes=0)  # zero: only empty messages, a real limit


@pytest.mark.parametrize("kind, opcode", [(Ping, Opcode.PING), (Pong, Opcode.PONG)])
def test_a_ping_or_pong_of_exactly_125_bytes_may_be_sent(kind, opcode):
    (frame,) = server_frames(WebSocketConnection().send(kind(b"x" * 125)))
    assert (frame.opcode, frame.payload) == (opcode, b"x" * 125)


def test_a_fragment_size_of_one_byte_is_allowed_and_of_none_refused():
    frames = server_frames(WebSocketConnection().send(BinaryMessage(b"abc"), fragment_size=1))
    assert [(f.opcode, f.payload, f.fin) for f in frames] == [
        (Opcode.BINARY, b"a", False), (Opcode.CONTINUATION, b"b", False), (Opcode.CONTINUATION, b"c", True)]
    with pytest.raises(ValueError):
        WebSocketConnection().send(BinaryMessage(b"abc"), fragment_size=0)


def test_an_idle_core_keeps_little_memory():
    # Every browser's connection holds one, logged in or not, idle most of its life: a
    # deque for its events (one at most at a time: each frame is handled as the iteration
    # reaches it) took 760 of its 1,277 bytes. (tracemalloc: allocations, not timing.)
    import gc
    import tracemalloc
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        cores = [WebSocketConnection(max_message_bytes=65535, latest_ping_only=True, min_frame_bytes=64)
                 for _ in range(500)]
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    kept = sum(stat.size_diff for stat in after.compare_to(before, "filename")
               if stat.traceback[0].filename.endswith(("connection.py", "frames.py"))) / len(cores)
    assert kept <= 700, f"{kept:.0f} bytes per idle WebSocket core"
