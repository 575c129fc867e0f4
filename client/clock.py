"""The client's clock of waits: seconds that never go back and that count a sleep.

The shells time their waits and deadlines (liveness, held messages, read marks, the
account credential's age) on one clock, and CPython's monotonic clock is the wrong one
for a laptop: on Linux and macOS it stands still while the computer sleeps. A lid closed
for twenty minutes then looks like no time at all, so the connection that died meanwhile
(the server gave the session up after ``const.HEARTBEAT_TIMEOUT``; in another room the
laptop has another address, and nothing comes back on the old one) is watched for its
whole heartbeat timeout again before the client reconnects. The wall clock saw the
sleep, but it also steps when the computer's time is set or corrected.

So :class:`WaitsClock` moves on as the monotonic clock does, or as the wall clock does
where that moved on further since the last reading; a step of the wall clock back changes
nothing, a step forward is taken for a sleep (it costs at most one reconnection). The
page's ``monotonicSeconds()`` (webclient/protocol.js) keeps the same rule.

A sleep is seen only when the clock is read: a shell waiting in ``select``, a timer or an
asyncio loop sleeps on the monotonic clock, which did not move. So a shell never waits
longer than :data:`WAKE_CHECK` seconds without reading it (:func:`next_wait`): a computer
that wakes is noticed within that, not at the next heartbeat. The threaded shell
(client/library.py) and the asyncio one (client/aio.py) both keep that rule.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# The longest a shell waits without reading the clock of waits (see the module docstring).
WAKE_CHECK = 5.0


def next_wait(deadline: float | None, now: float) -> float | None:
    """How long a shell may wait now for ``deadline`` (a time of the clock of waits, read
    ``now``): until it, but never longer than :data:`WAKE_CHECK`, after which the shell
    reads the clock again and asks anew. None: no deadline (wait for input alone). The
    one rule of both shells' waits: the threaded one's reads and backoff, the asyncio one's."""
    return None if deadline is None else min(WAKE_CHECK, max(0.0, deadline - now))


class WaitsClock:
    """A callable clock (seconds) for waits, safe to read from any thread: it never goes
    back, and moves on by the larger of the monotonic clock's and the wall clock's moves
    since its last reading. Its first reading is the monotonic clock's; its values are
    comparable with nothing but its own."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = lambda: time.time()) -> None:
        # The wall clock is looked up at each reading (not bound here), so a test that
        # steps time.time steps this clock's view of it too.
        self._monotonic = monotonic
        self._wall = wall
        self._lock = threading.Lock()
        self._last: tuple[float, float, float] | None = None  # monotonic, wall, our value

    def __call__(self) -> float:
        with self._lock:
            steady, wall = self._monotonic(), self._wall()
            if self._last is None:
                at = steady
            else:
                last_steady, last_wall, last_at = self._last
                at = last_at + max(steady - last_steady, wall - last_wall, 0.0)
            self._last = (steady, wall, at)
            return at
