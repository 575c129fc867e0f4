"""The chat session's write path when asyncio closed the transport under it (issue 9,
round eleven): ``send`` no longer asks the transport for every event, so what it promised
must hold where the frames go out: nothing is written to a closing transport, and one
still flushing our last frames is not dropped as a slow consumer. And the two ways a
session ends: ``end`` writes what this turn queued, then its reason; ``abort`` writes
nothing more."""

from __future__ import annotations

import json
from types import SimpleNamespace

from const import MAX_OUTGOING_BYTES, MAX_OUTGOING_BYTES_BEFORE_LOGIN, PROTOCOL_VERSION, SHUTDOWN_REASON
from protocol import Delivered, Welcome
from server.config import ServerConfig
from server.session import ClientSession


class ClosingTransport:
    """A transport asyncio has closed (a reset, an end of stream) that still holds
    ``buffered`` bytes of ours; its protocol's connection_lost has not run yet."""

    def __init__(self, buffered: int) -> None:
        self.buffered, self.written, self.aborted = buffered, [], False

    def is_closing(self) -> bool:
        return True

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def abort(self) -> None:
        self.aborted = True


class Batcher:
    def __init__(self) -> None:
        self.sessions: list = []

    def add(self, session: ClientSession) -> None:
        self.sessions.append(session)


def _session(buffered: int, limit: int = 1000) -> tuple[ClientSession, ClosingTransport, Batcher]:
    relay = SimpleNamespace(config=ServerConfig(max_outgoing_bytes=limit))
    batcher = Batcher()
    session = ClientSession(relay, batcher)  # type: ignore[arg-type]
    session.conn.send(Welcome("h", "Alice", PROTOCOL_VERSION, "test", 30.0))
    session.transport = ClosingTransport(buffered)  # type: ignore[assignment]
    return session, session.transport, batcher


def test_frames_for_a_transport_closed_under_the_session_are_never_written():
    session, transport, batcher = _session(buffered=0)
    for msg_id in range(1, 4):
        session.send(Delivered(str(msg_id), msg_id))
    for queued in batcher.sessions:
        queued.flush()
    assert transport.written == [] and not transport.aborted and not session.closing


def test_a_transport_flushing_our_last_frames_is_not_dropped_as_a_slow_consumer():
    # Over the hard mark with what it still holds: before round eleven send() skipped the
    # frame; now _write drops it, and neither aborts the connection nor changes its reason.
    session, transport, batcher = _session(buffered=5000)
    for msg_id in range(1, 50):
        session.send(Delivered(str(msg_id), msg_id))
    assert not transport.aborted and session.leave_reason != "slow consumer" and not session.closing
    for queued in batcher.sessions:
        queued.flush()
    assert transport.written == [] and not transport.aborted


class OpenTransport(ClosingTransport):
    """A transport that is open and holds nothing: what a session writes is all its own."""

    def __init__(self) -> None:
        super().__init__(0)
        self.closed = False

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def test_the_frames_of_one_turn_are_counted_in_order_and_the_one_past_the_hard_mark_drops_the_client():
    # send() queues a turn's frames after the first itself, not through _write (issue 9,
    # round perfpy): each still counts toward the hard mark, and the one that passes it
    # drops the client at once, none after it queued.
    session, _, batcher = _session(buffered=0, limit=1000)
    transport = session.transport = OpenTransport()  # type: ignore[assignment]
    logged: list = []
    session.relay.log_lines = SimpleNamespace(log=lambda *line: logged.append(line))
    frames = []
    for msg_id in range(1, 100):
        event = Delivered(f"r{msg_id}", msg_id)
        frame = session.conn.send(event)
        session.send(event)
        if sum(map(len, frames)) + len(frame) > 1000:
            break
        frames.append(frame)
        assert session._unsent == frames and session._unsent_bytes == sum(map(len, frames))
        assert batcher.sessions == [session] and not session.closing
    assert session.closing and session.leave_reason == "slow consumer" and session._unsent is None
    assert len(transport.written) == 1 and b'"slow_consumer"' in transport.written[0] and len(logged) == 1
    session.send(Delivered("late", 1000))
    assert session._unsent is None and len(transport.written) == 1


def test_an_end_sends_what_this_turn_queued_before_its_reason():
    # A session ended for anything but a slow consumer (a newcomer it makes way for, an
    # account deleted): the answers queued this turn go out first, then the error frame.
    session, _, batcher = _session(buffered=0)
    transport = session.transport = OpenTransport()  # type: ignore[assignment]
    session.send(Delivered("r1", 1))
    queued = session._unsent
    session.give_way("the address is full")
    assert session.closing and transport.closed and batcher.sessions == [session]
    assert len(transport.written) == 1
    *answers, reason = transport.written[0].splitlines(keepends=True)
    assert answers == queued and json.loads(reason)["code"] == "too_many_connections", transport.written


def test_an_abort_drops_the_connection_at_once_with_nothing_queued_written():
    session, _, batcher = _session(buffered=0)
    transport = session.transport = OpenTransport()  # type: ignore[assignment]
    session.send(Delivered("r1", 1))
    session.abort(SHUTDOWN_REASON)
    assert transport.aborted and session.closing and session.leave_reason == SHUTDOWN_REASON
    for queued in batcher.sessions:
        queued.flush()
    assert transport.written == []


def test_an_abort_before_the_connection_was_made_only_marks_the_session_closing():
    session = ClientSession(SimpleNamespace(config=ServerConfig()), Batcher())  # type: ignore[arg-type]
    session.abort(SHUTDOWN_REASON)
    assert session.closing and session.leave_reason == SHUTDOWN_REASON


class KeepingTransport(OpenTransport):
    """An open transport whose peer reads nothing: it keeps all that is written to it."""

    def get_write_buffer_size(self) -> int:
        return sum(map(len, self.written))


def test_the_hard_mark_is_the_small_one_until_the_welcome_names_the_session():
    # Before login the server sends only pongs, errors and refusals, and one address may
    # hold a thousand connections: each may have const.MAX_OUTGOING_BYTES_BEFORE_LOGIN
    # waiting, not the megabyte of a user logged in (the relay names the session as it
    # welcomes it).
    for name in (None, "Alice"):
        session, _, batcher = _session(buffered=0, limit=MAX_OUTGOING_BYTES)
        session.name = name
        transport = session.transport = KeepingTransport()  # type: ignore[assignment]
        session.relay.log_lines = SimpleNamespace(log=lambda *line: None)
        msg_id = 0
        while transport.get_write_buffer_size() <= 2 * MAX_OUTGOING_BYTES_BEFORE_LOGIN and not session.closing:
            for _ in range(100):
                msg_id += 1
                session.send(Delivered(f"r{msg_id}", msg_id))
            session.flush()
        waiting = transport.get_write_buffer_size()
        if name is None:
            assert session.leave_reason == "slow consumer", waiting
            assert waiting < MAX_OUTGOING_BYTES_BEFORE_LOGIN + 8192, waiting  # (+ its last turn's 4.4 KB, the error)
        else:
            assert not session.closing, waiting
