"""Framing: frames split anywhere, frames packed together, oversized frames, EOF."""

from __future__ import annotations

import random

import pytest

from helpers import HELLO, SAMPLES, TEXT, WELCOME, open_pair, ready_receiver
from protocol import (
    Connection, ConnectionClosed, DirectMessage, ErrorCode, FrameRejected, Ping, Pong,
    Receipt, Role, SendDirect, SendRoom, State, WhoRequest,
)
from protocol import codec


def _id(event):
    return type(event).__name__


def _splits_a_character(frame: bytes, at: int) -> bool:
    try:
        frame[:at].decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


# --- One frame, split anywhere ------------------------------------------------------------


@pytest.mark.parametrize("event", SAMPLES, ids=_id)
def test_frame_split_in_two_at_every_byte(event):
    frame = codec.encode(event)
    # (both parts non-empty: receive_data(b"") would mean EOF)
    for at in range(1, len(frame)):
        conn = ready_receiver(event)
        conn.receive_data(frame[:at])
        assert list(conn.events()) == [], at
        conn.receive_data(frame[at:])
        assert list(conn.events()) == [event], at
        assert conn.next_event() is None


@pytest.mark.parametrize("event", SAMPLES, ids=_id)
def test_frame_fed_one_byte_at_a_time(event):
    frame = codec.encode(event)
    conn = ready_receiver(event)
    seen = []
    for i in range(len(frame)):
        conn.receive_data(frame[i:i + 1])
        got = list(conn.events())
        assert got == ([event] if i == len(frame) - 1 else []), i
        seen += got
    assert seen == [event]


def test_split_positions_really_cut_through_multibyte_characters():
    frame = codec.encode(SendDirect("r", "bob", TEXT))
    cuts = [at for at in range(len(frame)) if _splits_a_character(frame, at)]
    # "🌍" is four bytes (three inner cuts), "á"/"ç"/"ã" two bytes (one inner cut each).
    assert len(cuts) == 3 + 3


# --- Several frames -----------------------------------------------------------------------

STREAM = [
    SendDirect("r1", "bob", TEXT),
    Ping("p-1"),
    SendRoom("r2", "🌍🌍"),
    Receipt(9),
    WhoRequest("r3"),
]
STREAM_BYTES = b"".join(codec.encode(e) for e in STREAM)


def test_several_frames_in_one_read():
    server = open_pair().server
    server.receive_data(STREAM_BYTES)
    assert list(server.events()) == STREAM
    assert server.data_to_send() == codec.encode(Pong("p-1"))


@pytest.mark.parametrize("frames_before", range(len(STREAM)))
def test_frames_plus_partial_frame_then_the_rest(frames_before):
    server = open_pair().server
    head = b"".join(codec.encode(e) for e in STREAM[:frames_before])
    partial = codec.encode(STREAM[frames_before])
    for cut in (1, len(partial) // 2, len(partial) - 1):
        server.receive_data(head + partial[:cut])
        assert list(server.events()) == STREAM[:frames_before]
        server.receive_data(partial[cut:])
        assert list(server.events()) == [STREAM[frames_before]]


def test_stream_of_frames_split_in_two_at_every_byte():
    ends = {len(b"".join(codec.encode(e) for e in STREAM[:n])) for n in range(len(STREAM) + 1)}
    for at in range(1, len(STREAM_BYTES)):
        server = open_pair().server
        server.receive_data(STREAM_BYTES[:at])
        first = list(server.events())
        # The first read yields exactly the frames it completes.
        assert len(b"".join(codec.encode(e) for e in first)) == max(n for n in ends if n <= at), at
        server.receive_data(STREAM_BYTES[at:])
        assert first + list(server.events()) == STREAM, at


def test_crlf_line_endings_are_accepted():
    server = open_pair().server
    server.receive_data(b"".join(codec.encode(e)[:-1] + b"\r\n" for e in STREAM))
    assert list(server.events()) == STREAM


def test_blank_lines_are_ignored():
    server = open_pair().server
    server.receive_data(b"\n\r\n   \n\t\r\n" + codec.encode(STREAM[0]) + b"\n \n")
    assert list(server.events()) == [STREAM[0]]
    server.receive_data(b"  ")
    server.receive_data(b"")
    assert list(server.events()) == [ConnectionClosed()]  # whitespace left over is no frame


# --- Oversized frames ---------------------------------------------------------------------

LIMIT = 256
VALID = SendRoom("after", "still here 🌍")


def _limited_server() -> Connection:
    return open_pair(max_frame_bytes=LIMIT).server


def _codes(events):
    return [e.code if type(e) is FrameRejected else e for e in events]


def _ping_frame(total: int, ending: bytes = b"\n") -> bytes:
    """A valid ping frame exactly ``total`` bytes long, ``ending`` included (JSON whitespace pads)."""
    body = b'{"type":"ping","token":"t"}'
    return body + b" " * (total - len(body) - len(ending)) + ending


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
@pytest.mark.parametrize("one_byte_at_a_time", [False, True])
def test_frame_of_exactly_the_limit_is_accepted_and_one_more_byte_is_not(ending, one_byte_at_a_time):
    for total, expected in ((LIMIT, [Ping("t")]), (LIMIT + 1, [ErrorCode.FRAME_TOO_LARGE])):
        server = _limited_server()
        data = _ping_frame(total, ending) + codec.encode(VALID)
        got = []
        for chunk in ([data[i:i + 1] for i in range(len(data))] if one_byte_at_a_time else [data]):
            server.receive_data(chunk)
            got += server.events()
        assert _codes(got) == expected + [VALID], total


def test_oversized_frame_with_newline_in_one_read():
    server = _limited_server()
    server.receive_data(b"x" * (LIMIT * 3) + b"\n" + codec.encode(VALID))
    got = list(server.events())
    assert _codes(got) == [ErrorCode.FRAME_TOO_LARGE, VALID]
    assert got[0].request_id is None and str(LIMIT) in got[0].message


@pytest.mark.parametrize("chunk", [1, 7, 100, LIMIT - 1, LIMIT, LIMIT + 1, 1000])
def test_oversized_frame_arriving_in_pieces_is_reported_once_and_skipped(chunk):
    server = _limited_server()
    # A frame that starts out as valid JSON, so nothing of it may leak out as an event.
    big = codec.encode(SendRoom("big", "y" * (LIMIT * 4)))
    data = codec.encode(Ping("before")) + big + codec.encode(VALID)
    got = []
    for i in range(0, len(data), chunk):
        server.receive_data(data[i:i + chunk])
        got += server.events()
        assert len(server._buffer) <= LIMIT
    assert _codes(got) == [Ping("before"), ErrorCode.FRAME_TOO_LARGE, VALID]
    assert server.state is State.OPEN


def test_oversized_frame_without_newline_then_eof():
    server = _limited_server()
    server.receive_data(b"z" * (LIMIT + 10))
    assert _codes(server.events()) == [ErrorCode.FRAME_TOO_LARGE]
    server.receive_data(b"more of the same frame")
    server.receive_data(b"")
    assert list(server.events()) == [ConnectionClosed()]


# --- The smaller limit before the welcome (const.MAX_LOGIN_FRAME_BYTES on a server) -------

LOGIN_LIMIT = 128  # over the hello of the samples


def _server_before_welcome() -> Connection:
    return Connection(Role.SERVER, max_frame_bytes=LIMIT, max_login_frame_bytes=LOGIN_LIMIT)


def _welcome(server: Connection) -> None:
    server.send(WELCOME)
    assert server.state is State.OPEN


@pytest.mark.parametrize("one_byte_at_a_time", [False, True])
def test_before_the_welcome_a_frame_over_the_login_limit_is_refused_with_that_limit(one_byte_at_a_time):
    for total, expected in ((LOGIN_LIMIT, Ping("t")), (LOGIN_LIMIT + 1, ErrorCode.FRAME_TOO_LARGE)):
        server = _server_before_welcome()
        data = _ping_frame(total) + codec.encode(Ping("next"))
        got = []
        for chunk in ([data[i:i + 1] for i in range(len(data))] if one_byte_at_a_time else [data]):
            server.receive_data(chunk)
            got += server.events()
            assert len(server._buffer) <= LOGIN_LIMIT or not one_byte_at_a_time
        assert _codes(got) == [expected, Ping("next")], total
        if expected is ErrorCode.FRAME_TOO_LARGE:
            assert str(LOGIN_LIMIT) in got[0].message


def test_before_the_welcome_an_unfinished_frame_is_held_to_the_login_limit():
    server = _server_before_welcome()
    largest, got = _feed_garbage(server, 100 * LIMIT, 7, drain=True)
    assert largest <= LOGIN_LIMIT
    assert _codes(got) == [ErrorCode.FRAME_TOO_LARGE]


def test_after_the_welcome_a_frame_has_the_whole_limit_and_no_more():
    server = _server_before_welcome()
    server.receive_data(codec.encode(HELLO))
    assert list(server.events()) == [HELLO]
    _welcome(server)
    server.receive_data(_ping_frame(LIMIT) + _ping_frame(LIMIT + 1))
    assert _codes(server.events()) == [Ping("t"), ErrorCode.FRAME_TOO_LARGE]


def test_a_whole_frame_behind_the_hello_is_judged_when_taken_after_the_welcome():
    # One read: the hello and a frame over the login limit behind it. A server takes the
    # hello, welcomes it, then takes the frame: under the whole limit, it is read.
    server = _server_before_welcome()
    server.receive_data(codec.encode(HELLO) + _ping_frame(LIMIT) + _ping_frame(LIMIT + 1))
    assert server.next_event() == HELLO
    _welcome(server)
    assert _codes(server.events()) == [Ping("t"), ErrorCode.FRAME_TOO_LARGE]
    # Not welcomed (a refused hello): the same frame is over the login limit.
    server = _server_before_welcome()
    server.receive_data(codec.encode(HELLO) + _ping_frame(LIMIT))
    assert _codes(server.events()) == [HELLO, ErrorCode.FRAME_TOO_LARGE]


def _feed_garbage(conn: Connection, total: int, chunk: int, drain: bool) -> tuple[int, list]:
    """Feed ``total`` bytes without a newline; return the largest buffer seen and the events."""
    piece = b"\x00garbage{[" * (chunk // 10 + 1)
    largest, got = 0, []
    for _ in range(total // chunk):
        conn.receive_data(piece[:chunk])
        if drain:
            got += conn.events()
        largest = max(largest, len(conn._buffer))
    return largest, got


@pytest.mark.parametrize("chunk", [1000, 4096, 65536])
def test_receive_buffer_stays_bounded_under_10mb_without_newline(chunk):
    conn = Connection(Role.SERVER, max_frame_bytes=1024)
    largest, got = _feed_garbage(conn, 10 * 1024 * 1024, chunk, drain=True)
    assert largest <= 1024
    assert _codes(got) == [ErrorCode.FRAME_TOO_LARGE]
    conn.receive_data(b"end of garbage\n" + codec.encode(Ping("alive")))
    assert list(conn.events()) == [Ping("alive")]
    assert conn.data_to_send() == codec.encode(Pong("alive"))


def test_receive_buffer_bounded_even_before_events_are_drained():
    conn = Connection(Role.SERVER, max_frame_bytes=64 * 1024)
    largest, _ = _feed_garbage(conn, 10 * 1024 * 1024, 4096, drain=False)
    assert largest <= 64 * 1024


# --- EOF ----------------------------------------------------------------------------------


def test_eof_yields_connection_closed_once():
    client = open_pair().client
    client.receive_data(b"")
    assert list(client.events()) == [ConnectionClosed()]
    assert client.state is State.CLOSED
    assert client.next_event() is None
    assert list(client.events()) == []


def test_eof_in_the_middle_of_a_frame():
    client = open_pair().client
    frame = codec.encode(DirectMessage(1, "zoë", "bob", TEXT, 1.0))
    client.receive_data(frame[:-5])
    assert list(client.events()) == []
    client.receive_data(b"")
    got = list(client.events())
    assert _codes(got) == [ErrorCode.TRUNCATED_FRAME, ConnectionClosed()]
    assert client.state is State.CLOSED


@pytest.mark.parametrize("same_read", [True, False])
def test_complete_frames_before_eof_are_delivered_first(same_read):
    server = open_pair().server
    partial = codec.encode(SendRoom("r9", "cut"))[:10]
    server.receive_data(STREAM_BYTES + partial)
    if not same_read:
        assert list(server.events()) == STREAM
    server.receive_data(b"")
    got = list(server.events())
    expected = (STREAM if same_read else []) + [ErrorCode.TRUNCATED_FRAME, ConnectionClosed()]
    assert _codes(got) == expected


# --- events() abandoned part-way ----------------------------------------------------------


@pytest.mark.parametrize("stop_after", range(1, len(STREAM)))
def test_abandoned_events_iterator_loses_nothing(stop_after):
    server = open_pair().server
    server.receive_data(STREAM_BYTES)
    first = []
    for event in server.events():
        first.append(event)
        if len(first) == stop_after:
            break
    assert first == STREAM[:stop_after]
    assert list(server.events()) == STREAM[stop_after:]


def test_next_event_returns_none_when_more_data_is_needed():
    server = open_pair().server
    frame = codec.encode(STREAM[0])
    server.receive_data(frame[:-1])
    assert server.next_event() is None
    server.receive_data(b"\n")
    assert server.next_event() == STREAM[0]
    assert server.next_event() is None


# --- How long a frame has been unfinished (const.FRAME_TIMEOUT) ----------------------------


def test_unfinished_since_is_when_the_first_byte_of_the_unfinished_frame_came():
    conn = Connection(Role.SERVER)
    assert conn.unfinished_since is None
    conn.receive_data(b'{"type":"ping"', now=100.0)
    assert conn.unfinished_since == 100.0
    for second in (110.0, 120.0, 130.0):  # a byte every 10 s does not move it
        conn.receive_data(b" ", now=second)
        assert conn.unfinished_since == 100.0
    conn.receive_data(b'}\n', now=140.0)  # finished, and nothing after it
    assert conn.unfinished_since is None
    assert [type(e) for e in conn.events()] == [Ping]


def test_a_read_that_ends_one_frame_and_starts_another_restarts_the_clock():
    conn = Connection(Role.SERVER)
    conn.receive_data(b'{"type":"ping"}\n{"type":', now=5.0)
    assert conn.unfinished_since == 5.0
    conn.receive_data(b'"ping"}\n{', now=9.0)
    assert conn.unfinished_since == 9.0
    conn.receive_data(b'"type":"ping"}\n', now=12.0)
    assert conn.unfinished_since is None
    assert [type(e) for e in conn.events()] == [Ping, Ping, Ping]


def test_an_oversized_frame_being_skipped_counts_as_unfinished():
    conn = Connection(Role.SERVER, max_frame_bytes=64)
    conn.receive_data(b"x" * 100, now=1.0)
    conn.receive_data(b"x" * 100, now=2.0)
    assert conn.unfinished_since == 1.0
    conn.receive_data(b"x\n", now=3.0)
    assert conn.unfinished_since is None


def test_without_a_time_nothing_is_tracked():
    conn = Connection(Role.SERVER)
    conn.receive_data(b'{"type":"pi')
    assert conn.unfinished_since is None


def test_unfinished_since_follows_the_last_newline_of_every_read_as_before() -> None:
    # Issue 9, round fourteen: the last byte and ``in`` instead of rfind. The rule as it was
    # written with rfind, against random reads (bytes and bytearray) of newlines, CRs,
    # spaces and letters, one to four bytes long, so every position of a newline occurs.
    rng = random.Random(14)
    for trial in range(300):
        conn, expected = Connection(Role.SERVER), None
        for step in range(30):
            data = bytes(rng.choice(b"\n\r a") for _ in range(rng.randint(1, 4)))
            if trial % 2:
                data = bytearray(data)
            now = float(trial * 100 + step)
            last_newline = data.rfind(b"\n")
            if last_newline < 0:
                expected = now if expected is None else expected
            else:
                expected = now if last_newline < len(data) - 1 else None
            conn.receive_data(data, now)
            assert conn.unfinished_since == expected, (trial, step, data)
            while conn.next_event() is not None:  # (blank lines and bad frames: keep the buffer short)
                pass


def test_a_frame_ending_in_crlf_is_read_as_the_same_frame_without_the_cr() -> None:
    # The CR is cut before anything reads the frame (round fourteen checks it by a slice):
    # even a rejection names the same place, and a CR alone is a blank line.
    for frame in (b'{"type":"hello","id":"h","name":"ab","version":1', b'{"type":"send","id":"r1","to":"bo"',
                  b'{"type":"ping"}', b"", b" "):
        answers = []
        for ending in (b"\r\n", b"\n"):
            conn = Connection(Role.SERVER)
            conn.receive_data(frame + ending)
            answers.append(conn.next_event())
        assert answers[0] == answers[1], frame


@pytest.mark.parametrize("blank", [b"\n", b"\r\n", b"\n\n"])
def test_a_long_read_that_starts_with_a_blank_line_yields_every_frame_in_it(blank):
    server = _limited_server()
    frames = codec.encode(VALID) * (LIMIT // len(codec.encode(VALID)) + 2)  # over the limit in all
    server.receive_data(blank + frames)
    assert _codes(list(server.events())) == [VALID] * frames.count(b"\n")
