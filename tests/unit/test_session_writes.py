"""The chat session's write path when asyncio closed the transport under it (issue 9,
round eleven): ``send`` no longer asks the transport for every event, so what it promised
must hold where the frames go out: nothing is written to a closing transport, and one
still flushing our last frames is not dropped as a slow consumer."""

from __future__ import annotations

from types import SimpleNamespace

from const import PROTOCOL_VERSION
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
