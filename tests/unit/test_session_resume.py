"""A session's resume_writing acts at the next loop turn (server/session.py): asyncio calls
it from inside its write handler, where ending the connection would end it twice
(tests/integration/test_transport_endings.py). Until then the session still counts as
paused, and a pause meanwhile means it never stopped being paused."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from server.config import ServerConfig
from server.session import ClientSession


def _session() -> tuple[ClientSession, list]:
    drained: list = []
    relay = SimpleNamespace(config=ServerConfig(), drained=drained.append)
    return ClientSession(relay, None), drained  # type: ignore[arg-type]


def _turns(scenario) -> None:
    """Run the generator ``scenario`` in a loop: each ``yield`` lets one loop turn go by."""
    async def main() -> None:
        for _ in scenario():
            await asyncio.sleep(0)  # what was called soon runs
    asyncio.run(main())


def test_the_session_resumes_at_the_next_turn_and_is_paused_until_then():
    session, drained = _session()

    def scenario():
        session.pause_writing()
        session.resume_writing()
        assert session.write_paused and drained == []  # nothing overtakes what was held meanwhile
        yield
        assert not session.write_paused and drained == [session]
    _turns(scenario)


def test_a_pause_before_that_turn_means_it_never_stopped_being_paused():
    session, drained = _session()

    def scenario():
        session.pause_writing()
        session.resume_writing()
        session.pause_writing()
        yield
        yield
        assert session.write_paused and drained == []
        session.resume_writing()  # asyncio's next resume
        yield
        assert not session.write_paused and drained == [session]
    _turns(scenario)


def test_a_closing_session_resumes_without_asking_the_relay_for_more():
    session, drained = _session()

    def scenario():
        session.pause_writing()
        session.resume_writing()
        session.closing = True
        yield
        assert not session.write_paused and drained == []
    _turns(scenario)


def test_outside_a_loop_it_resumes_at_once():
    session, drained = _session()
    session.pause_writing()
    session.resume_writing()
    assert not session.write_paused and drained == [session]
