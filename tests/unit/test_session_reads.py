"""The chat session's read path (issue 9): asyncio's BufferedProtocol over one shared buffer.

These drive :class:`server.session.ClientSession` the way asyncio does, without a socket:
``get_buffer()``, bytes written into what it returns, ``buffer_updated(n)``. A stub relay
records the events the session hands it.
"""

from __future__ import annotations

import asyncio
import threading

import const
from const import PROTOCOL_VERSION
from protocol import Receipt, SendDirect, Welcome
from server.config import ServerConfig
from server.session import READ_BUFFER_BYTES, ClientSession

FRAMES = ('{"type":"send","id":"1","to":"Bob","text":"h\u00e9llo \u2603 \U0001f600"}\n'
          '{"type":"receipt","msg_id":7}\n').encode("utf-8")
EXPECTED = [SendDirect("1", "Bob", "h\u00e9llo \u2603 \U0001f600"), Receipt(7)]


class StubRelay:
    """What the session calls on the relay while reading: handle() (and its config)."""

    config = ServerConfig()

    def __init__(self) -> None:
        self.events: list = []

    def handle(self, session: ClientSession, event: object) -> None:
        self.events.append((session, event))


def _logged_in(relay: StubRelay) -> ClientSession:
    session = ClientSession(relay, batcher=None)  # type: ignore[arg-type]
    session.conn.send(Welcome("h", "Alice", PROTOCOL_VERSION, "test", 30.0))  # now sends may come
    return session


def _read(session: ClientSession, data: bytes) -> None:
    """One read as asyncio's transports do it: into the buffer the protocol lends (a read
    of nothing is the end of the stream, which asyncio reports with eof_received)."""
    if not data:
        return
    buffer = session.get_buffer(-1)
    assert len(buffer) >= len(data)
    buffer[:len(data)] = data
    session.buffer_updated(len(data))


def test_the_session_is_a_buffered_protocol_so_asyncio_reads_into_its_buffer() -> None:
    assert isinstance(ClientSession(StubRelay(), None), asyncio.BufferedProtocol)  # type: ignore[arg-type]


def test_frames_split_at_every_byte_across_two_reads_give_the_same_events() -> None:
    # Every split, UTF-8 sequences of 2, 3 and 4 bytes cut in the middle included.
    for cut in range(len(FRAMES) + 1):
        relay = StubRelay()
        session = _logged_in(relay)
        _read(session, FRAMES[:cut])
        _read(session, FRAMES[cut:])
        assert [event for _, event in relay.events] == EXPECTED, cut


def test_frames_fed_a_byte_at_a_time_give_the_same_events() -> None:
    relay = StubRelay()
    session = _logged_in(relay)
    for i in range(len(FRAMES)):
        _read(session, FRAMES[i:i + 1])
    assert [event for _, event in relay.events] == EXPECTED


def test_sessions_reading_in_turn_share_the_buffer_but_not_the_bytes() -> None:
    # Two connections interleave partial frames through the one buffer: each keeps its own.
    relay = StubRelay()
    alice, bob = _logged_in(relay), _logged_in(relay)
    assert alice.get_buffer(-1).obj is bob.get_buffer(-1).obj  # one buffer, not one each
    half = len(FRAMES) // 2
    _read(alice, FRAMES[:half])
    _read(bob, b'{"type":"receipt","msg_id":1')
    _read(alice, FRAMES[half:])
    _read(bob, b'}\n')
    assert [(s, e) for s, e in relay.events if s is alice] == [(alice, e) for e in EXPECTED]
    assert [e for s, e in relay.events if s is bob] == [Receipt(1)]


def test_an_unfinished_frame_keeps_the_time_of_its_first_byte_across_reads() -> None:
    # The FRAME_TIMEOUT bookkeeping: unfinished_since is set by the first byte of a frame
    # and cleared once the bytes end on a newline.
    session = _logged_in(StubRelay())
    _read(session, FRAMES[:5])
    since = session.unfinished_since
    assert since is not None
    _read(session, FRAMES[5:10])
    assert session.unfinished_since == since
    _read(session, FRAMES[10:])
    assert session.unfinished_since is None


def test_frames_that_fill_more_than_the_buffer_arrive_in_several_reads() -> None:
    # A frame near the frame limit (keys a receiver does not know are ignored: padding)
    # and one after it: more bytes than one read can take.
    relay = StubRelay()
    session = _logged_in(relay)
    pad = "x" * (const.MAX_FRAME_BYTES - 100)
    data = ('{"type":"receipt","msg_id":1,"pad":"%s"}\n{"type":"receipt","msg_id":2,"pad":"%s"}\n'
            % (pad, pad[:1000])).encode()
    assert len(data) > READ_BUFFER_BYTES
    for start in range(0, len(data), READ_BUFFER_BYTES):
        _read(session, data[start:start + READ_BUFFER_BYTES])
    assert [event for _, event in relay.events] == [Receipt(1), Receipt(2)]


def test_each_thread_has_its_own_buffer() -> None:
    # Servers run in several threads at once (the tests do): a read in one must never land
    # in the buffer another thread is reading from.
    here = ClientSession(StubRelay(), None).get_buffer(-1)  # type: ignore[arg-type]
    there: list = []
    thread = threading.Thread(target=lambda: there.append(ClientSession(StubRelay(), None).get_buffer(-1)))
    thread.start()
    thread.join(5)
    assert there and there[0].obj is not here.obj


def test_a_frame_for_a_session_whose_stream_ended_is_dropped_without_an_error_logged(caplog) -> None:
    # The client's end of stream is read (eof_received: the connection is CLOSING, the
    # server's answers only) and, in the same loop turn before asyncio's connection_lost,
    # another session sends this one a frame that is no answer (a dm): it is not for a
    # client that left, and not a relay bug (the full suite caught it logged as an error,
    # 2026-11-30, for a Queued, which now goes out: an answer the client may still read).
    import logging

    from protocol import DirectMessage
    from protocol.connection import State

    relay = StubRelay()
    session = _logged_in(relay)
    session.eof_received()
    assert session.conn.state is State.CLOSING and not session.closing
    with caplog.at_level(logging.INFO, logger="chat"):
        session.send(DirectMessage(7, "Bob", "Alice", "hi", 1.0))
    assert session._unsent_bytes == 0  # nothing written
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
