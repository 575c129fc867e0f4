"""The server's sweep (pings, timeouts) looks at its sessions a slice at a time (issue 9).

One pass over every session in one loop turn was a stall of the loop every 2.5 s: 0.5-0.9 ms
at 1,000 sessions, 4-6 ms at 10,000, and every message that arrived meanwhile waited for
it (bench/PROFILE.md, "Memory p99, round two"). Now the loop runs what came meanwhile
between two slices of ``app._SWEEP_SLICE`` sessions. Driven here on a real event loop with
stand-in sessions (no sockets): a callback that schedules itself again at every loop turn
numbers the turns, and each session notes the turn in which the sweep looked at it.
"""

from __future__ import annotations

import asyncio
import time
import types

from protocol import State
from server import app
from server.config import ServerConfig


class _Session:
    """What the sweep reads of a session; notes the loop turn it was looked at in."""

    unfinished_since = None
    reading_held_since = None  # reading not held (server/intake.py)
    pinged = False
    is_open = True

    def __init__(self, turn: list[int]) -> None:
        self._turn = turn
        self.closing = False
        self.conn = types.SimpleNamespace(state=State.OPEN)
        self.connected_at = None
        self.looked_at: int | None = None
        self.sent: list[object] = []

    @property
    def last_seen(self) -> float:
        self.looked_at = self._turn[0]
        return time.monotonic()  # just heard from: neither pinged nor dropped

    def send(self, event: object) -> None:
        self.sent.append(event)


def _sweep_once(count: int) -> tuple[list[_Session], list[int]]:
    """Run the sweep of a server with ``count`` stand-in sessions for one pass; return the
    sessions and, per loop turn, how many of them it looked at. The last session is closed
    by the turn callback as soon as the sweep has looked at any other."""

    async def run() -> tuple[list[_Session], list[int]]:
        loop = asyncio.get_running_loop()
        turn = [0]
        sessions = [_Session(turn) for _ in range(count)]

        def tick() -> None:
            turn[0] += 1
            if any(s.looked_at is not None for s in sessions[:-1]):
                sessions[-1].closing = True  # closed while the pass is under way
            if not done.is_set():
                loop.call_soon(tick)

        done = asyncio.Event()
        server = app.ChatServer(ServerConfig(login_timeout=0.2))  # a pass every 0.05 s
        server.relay = types.SimpleNamespace(sessions=sessions, probes={}, expire=lambda now: None,
                                             metrics=types.SimpleNamespace(activity=lambda: 0),
                                             after=types.SimpleNamespace(look_at_clock=lambda: None))
        sweep = asyncio.create_task(server._sweep_forever())
        loop.call_soon(tick)
        deadline = loop.time() + 5.0
        try:
            while loop.time() < deadline and any(s.looked_at is None for s in sessions[:-1]):
                await asyncio.sleep(0.01)
        finally:
            done.set()
            sweep.cancel()
        per_turn: dict[int, int] = {}
        for session in sessions:
            if session.looked_at is not None:
                per_turn[session.looked_at] = per_turn.get(session.looked_at, 0) + 1
        return sessions, sorted(per_turn.values(), reverse=True)

    return asyncio.run(asyncio.wait_for(run(), 10.0))


def test_the_sweep_lets_the_loop_run_between_slices_of_sessions():
    count = 5 * app._SWEEP_SLICE
    sessions, per_turn = _sweep_once(count)
    assert all(s.looked_at is not None for s in sessions[:-1]), "the pass did not look at every session"
    # No loop turn looked at more than a slice: the reads that came meanwhile ran in between.
    assert per_turn[0] <= app._SWEEP_SLICE, f"one turn looked at {per_turn[0]} sessions"
    assert len(per_turn) >= count // app._SWEEP_SLICE
    # A session closed between two slices is skipped, not pinged nor dropped.
    assert sessions[-1].looked_at is None
    assert all(s.sent == [] for s in sessions)


def test_a_small_server_is_swept_in_one_turn():
    sessions, per_turn = _sweep_once(app._SWEEP_SLICE)
    assert per_turn == [app._SWEEP_SLICE]  # the last one too: no turn ran in between to close it
