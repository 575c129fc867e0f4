"""The read budget of a connection (const.READ_BYTES_*, server/session.py): bytes a second,
spent per read, over which the server stops reading that connection until it refills.

These drive :class:`server.session.ClientSession` as asyncio does (get_buffer, the bytes,
buffer_updated) on an event loop whose clock, and the session's, is a fake one: the test
moves time on and lets the loop run the timers that are due.
"""

from __future__ import annotations

import asyncio
import types

import pytest

import const
from const import PROTOCOL_VERSION
from protocol import Pong, Welcome
from server import session as session_module
from server.config import ServerConfig
from server.session import OVER_BUDGET_READ_BYTES, ClientSession

RATE, BURST = 10_000.0, 40_000  # bytes a second, and the burst
CHECK = 1_000  # bytes read between two looks at the clock: every read below is more
PONG = b'{"type":"pong","token":"x"}\n'


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class StubRelay:
    """What the session calls on the relay while reading: handle(), and its config."""

    def __init__(self, **config: object) -> None:
        # (A request rate of one a second: one that raised the read budget would be 1 KiB a second.
        # The bytes alone unless a test says otherwise: PONG is shorter than the least a frame costs.)
        config.setdefault("read_bytes_min_per_frame", 0)
        self.config = ServerConfig(read_bytes_per_connection=RATE, read_bytes_burst_per_connection=BURST,
                                   read_check_bytes=CHECK, rate_per_connection=1.0, **config)  # type: ignore[arg-type]
        self.events: list = []

    def handle(self, session: ClientSession, event: object) -> None:
        self.events.append(event)


class Transport:
    """Whether the session reads: pause_reading and resume_reading, as asyncio's."""

    def __init__(self) -> None:
        self.reading = True
        self.pauses = 0

    def pause_reading(self) -> None:
        self.pauses += self.reading
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return False


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(session_module, "time", types.SimpleNamespace(monotonic=clock))
    return clock


def run(clock: Clock, scenario) -> None:
    """Run ``scenario(loop)`` (a coroutine function) on a loop that keeps ``clock``'s time."""
    loop = asyncio.new_event_loop()
    loop.time = clock  # type: ignore[method-assign]
    try:
        loop.run_until_complete(scenario(loop))
    finally:
        loop.close()


async def turns(n: int = 3) -> None:
    """Let the loop run what is due now (the clock is not moved)."""
    for _ in range(n):
        await asyncio.sleep(0)


def session_of(relay: StubRelay) -> tuple[ClientSession, Transport]:
    session = ClientSession(relay, batcher=None)  # type: ignore[arg-type]
    session.conn.send(Welcome("h", "Alice", PROTOCOL_VERSION, "test", 30.0))
    transport = session.transport = Transport()  # type: ignore[assignment]
    return session, transport


def read(session: ClientSession, nbytes: int, frame: bytes = PONG) -> list[int]:
    """``nbytes`` of whole ``frame`` read as asyncio's transports read them: as much as the
    buffer the session lends takes, then again while the transport reads (the first read
    in any case: one under way when reading stopped). Returns the size of each read."""
    data = frame * (nbytes // len(frame))
    reads: list[int] = []
    while data and (not reads or session.transport.reading):  # type: ignore[union-attr]
        buffer = session.get_buffer(-1)
        chunk, data = data[:len(buffer)], data[len(buffer):]
        buffer[:len(chunk)] = chunk
        session.buffer_updated(len(chunk))
        reads.append(len(chunk))
    return reads


def test_reading_stops_at_the_end_of_the_burst_and_goes_on_once_it_has_refilled(clock: Clock) -> None:
    relay = StubRelay()
    session, transport = session_of(relay)

    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        for _ in range(4):
            read(session, 9_996)  # 357 pongs: 39,984 bytes of the 40,000
        assert transport.reading
        read(session, 2_016)  # 16 bytes left: 2,000 over
        assert not transport.reading and transport.pauses == 1
        assert len(relay.events) == (4 * 9_996 + 2_016) // len(PONG)  # what was read is handled
        clock.now += 0.19  # 1,900 bytes back of the 2,000: not yet
        await turns()
        assert not transport.reading
        clock.now += 0.011
        await turns()
        assert transport.reading and transport.pauses == 1
        # Nothing is left: the next read stops it again, for as long as it takes to refill.
        read(session, 1_008)  # 10 bytes came back in the 0.001 s over the wait: 998 over
        assert not transport.reading and transport.pauses == 2
        clock.now += 0.099
        await turns()
        assert not transport.reading
        clock.now += 0.001
        await turns()
        assert transport.reading

    run(clock, scenario)


def test_a_connection_under_the_rate_is_never_stopped(clock: Clock) -> None:
    relay = StubRelay()
    session, transport = session_of(relay)

    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        for _ in range(200):  # 9,996 bytes a second for 200 s: just under the 10,000
            read(session, 9_996)
            clock.now += 1.0
            await turns(1)
            assert transport.reading

    run(clock, scenario)


def test_a_full_budget_holds_the_burst_and_no_more_however_long_the_connection_was_idle(clock: Clock) -> None:
    relay = StubRelay()
    session, transport = session_of(relay)

    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        clock.now += 3600.0
        read(session, 39_984)
        read(session, 2_016)  # the burst and no more, refilled at most to the burst
        assert transport.pauses == 1 and not transport.reading
        clock.now += 0.21
        await turns()
        assert transport.reading

    run(clock, scenario)


def test_reading_held_by_a_request_and_by_the_budget_goes_on_when_neither_holds(clock: Clock) -> None:
    relay = StubRelay()
    session, transport = session_of(relay)

    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        read(session, 39_984)
        read(session, 2_016)
        assert not transport.reading
        session.hold_reading()  # a history request waits (server/intake.py)
        clock.now += 1.0  # the budget's time has come, but the request still waits
        await turns()
        assert not transport.reading
        session.release_reading(lambda: None)
        await turns()
        assert transport.reading
        # The other way round: the request is released before the budget is back.
        read(session, 9_996 + 20_160)
        assert not transport.reading
        session.hold_reading()
        session.release_reading(lambda: None)
        await turns()
        assert not transport.reading  # the budget still stops it
        clock.now += 1.2  # 30,156 bytes after 1.2 s: 4,000 bytes a second over, for 2.2 s
        await turns()
        assert not transport.reading
        clock.now += 1.02
        await turns()
        assert transport.reading

    run(clock, scenario)


def test_reads_that_come_while_reading_is_stopped_make_the_wait_longer(clock: Clock) -> None:
    # Over TLS or a WebSocket, bytes already under way are read after pause_reading.
    relay = StubRelay()
    session, transport = session_of(relay)

    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        read(session, 39_984)
        read(session, 2_016)  # 0.2 s to wait
        read(session, 1_008)  # 0.1 s more
        clock.now += 0.25  # the first stop's timer: the budget is still spent
        await turns()
        assert not transport.reading
        clock.now += 0.052
        await turns()
        assert transport.reading

    run(clock, scenario)


def test_a_connection_over_its_budget_is_read_in_bites_until_a_read_finds_it_back_under(clock: Clock) -> None:
    relay = StubRelay()
    session, transport = session_of(relay)

    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        assert read(session, 39_984) == [39_984]  # the whole buffer lent
        read(session, 2_016)
        assert not transport.reading
        clock.now += 0.2
        await turns()
        # Back to nothing: what comes now is over again, read a bite at a time, each
        # counted (one stop each, for as long as it takes to refill).
        assert read(session, 2 * OVER_BUDGET_READ_BYTES) == [OVER_BUDGET_READ_BYTES]
        assert not transport.reading and transport.pauses == 2
        clock.now += OVER_BUDGET_READ_BYTES / RATE
        await turns()
        assert transport.reading
        # The client stops for a while: the read that finds the budget back takes a bite,
        # and the next ones the whole buffer again.
        clock.now += 10.0
        assert read(session, 20_000) == [OVER_BUDGET_READ_BYTES, 19_992 - OVER_BUDGET_READ_BYTES]  # (whole pongs)
        assert transport.reading and transport.pauses == 2

    run(clock, scenario)


def test_the_budget_follows_a_raised_request_rate() -> None:
    assert ServerConfig(read_bytes_per_connection=RATE, rate_per_connection=1.0).read_budget[0] == RATE
    assert ServerConfig(read_bytes_per_connection=RATE, rate_per_connection=300.0).read_budget[0] == 300 * 1024
    assert ServerConfig().read_budget[0] == 256 * 1024  # the shipped request rate is far below
    with pytest.raises(ValueError, match="READ_BYTES_PER_SECOND_PER_CONNECTION"):
        ServerConfig(read_bytes_per_connection=0)


def test_pongs_are_handled_as_events(clock: Clock) -> None:
    relay = StubRelay()
    session, _ = session_of(relay)
    read(session, len(PONG))
    assert relay.events == [Pong("x")]


def test_each_frame_read_costs_the_budget_the_least_a_frame_costs(clock: Clock) -> None:
    # Six connections writing empty lines or minimal pings (16 bytes) as fast as the server
    # read them got 16,000 frames a second each through a budget of bytes alone (100,000 a
    # second in all), and the server's core spent half its time on them.
    relay = StubRelay(read_bytes_min_per_frame=64)
    session, transport = session_of(relay)

    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        read(session, 600, b"\n")  # 600 empty lines, 600 bytes: counted as 38,400
        assert transport.reading
        read(session, 480, b'{"type":"pong"}\n')  # 30 pongs, 480 bytes: 1,920, past the 40,000
        assert not transport.reading and transport.pauses == 1
        assert relay.events == [Pong("")] * 30  # every frame read is handled (the blank lines are nothing)
        clock.now += 0.031  # 320 bytes over: 0.032 s
        await turns()
        assert not transport.reading
        clock.now += 0.001
        await turns()
        assert transport.reading

    run(clock, scenario)


def test_frames_of_the_least_a_frame_costs_or_more_cost_their_bytes(clock: Clock) -> None:
    relay = StubRelay(read_bytes_min_per_frame=64)
    session, transport = session_of(relay)
    big = b'{"type":"pong","token":"%s"}\n' % (b"x" * 101)
    assert len(big) == 128

    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        read(session, 39_936, big)  # 312 frames: 39,936 bytes of the 40,000
        assert transport.reading
        read(session, 1_024, big)  # (counted once CHECK bytes are read)
        assert not transport.reading and len(relay.events) == 320

    run(clock, scenario)


def test_the_least_a_frame_costs_is_the_shipped_one_by_default() -> None:
    assert ServerConfig().read_bytes_min_per_frame == const.READ_BYTES_MIN_PER_FRAME == 64
