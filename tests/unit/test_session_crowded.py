"""The others' mark of a session's queue (server/session.py, ``crowded``): what other users'
acts make the server send waits once more than 1/64 of the hard mark waits; the relay is
asked to look again unless asyncio will tell (a lagging session's resume_writing)."""

from __future__ import annotations

from types import SimpleNamespace

import const
from server.config import ServerConfig
from server.session import ClientSession

HARD = 64 * 1024
MARK = HARD // const.OTHERS_SHARE


class Transport:
    def __init__(self, buffered: int) -> None:
        self.buffered = buffered

    def get_write_buffer_size(self) -> int:
        return self.buffered


def _session(buffered: int) -> tuple[ClientSession, list]:
    rechecks: list = []
    relay = SimpleNamespace(config=ServerConfig(max_outgoing_bytes=HARD), recheck_later=rechecks.append)
    session = ClientSession(relay, None)  # type: ignore[arg-type]
    session.transport = Transport(buffered)  # type: ignore[assignment]
    session._buffered = buffered
    return session, rechecks


def test_under_the_mark_others_frames_go_and_nothing_is_asked():
    session, rechecks = _session(MARK)
    assert not session.crowded() and rechecks == []


def test_over_the_mark_they_wait_and_the_relay_looks_again():
    session, rechecks = _session(MARK + 1)
    assert session.crowded() and rechecks == [session]


def test_the_transports_figure_decides_once_the_bound_is_over_the_mark():
    session, rechecks = _session(MARK * 4)
    session.transport.buffered = MARK // 2  # it took some since the last flush
    assert not session.crowded() and rechecks == []
    assert session._buffered == MARK // 2  # the bound is the real figure now


def test_a_lagging_session_is_crowded_and_resume_writing_will_tell():
    session, rechecks = _session(HARD // 2 + 1)
    session.write_paused = True
    assert session.lagging and session.crowded() and rechecks == []


def test_a_transport_holding_exactly_the_mark_is_not_crowded():
    # "More than the others' mark": the bound is over it, the transport's figure is the mark.
    session, rechecks = _session(MARK * 4)
    session.transport.buffered = MARK
    assert not session.crowded() and rechecks == []
    session, rechecks = _session(MARK * 4)
    session.transport.buffered = MARK + 1
    assert session.crowded() and rechecks == [session]
