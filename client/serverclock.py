"""The server's wall clock as this client reckons it: the ``now`` the server last said (its
welcome's, its pongs', a kept name's refusal's: PROTOCOL.md, "welcome"), moved on since by
the client's clock of waits (client/clock.py: it counts a sleep, and a step of this
computer's clock back changes nothing).

The times the server gives are on its clock: a kept guest name's ``until``, a mute's, a
message's ``sent_at`` (so the end of its edit window). Their wait is the time less the
server's now, not this computer's, whose clock may be hours off (never set, a dead
battery): one 2 h behind said a hold of 9 minutes was "2 h 9 min from now", one 2 h ahead
gave Edit up on a message of a minute ago. Until the server says its time (an older
server never does), this computer's own clock is all there is.

One per process (:data:`SERVER_CLOCK`): a terminal, a window or a ``--send`` talks to one
service at a time. The client core tells it each ``now`` as it comes (client/core.py), and
it reads its own clock of waits then, so that the core is given no clock of its own for
it; the words about time (client/display.py, client/gui/model.py) read it through
:func:`server_now` and :func:`on_this_clock`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .clock import WaitsClock


class ServerClock:
    """``heard(now_ms)`` at each ``now`` from the server; ``now()``: the server's time, in
    seconds (this computer's wall clock while nothing was heard). ``clock``: the clock of
    waits it moves on by (a test's fake)."""

    __slots__ = ("_clock", "_heard")

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = WaitsClock() if clock is None else clock
        self._heard: tuple[float, float] | None = None  # (the server's seconds, our clock then)

    def heard(self, now_ms: int | None) -> None:
        """The server said its time ``now_ms`` (ms since the epoch; None: it did not)."""
        if now_ms is not None:
            self._heard = (now_ms / 1000, self._clock())

    def now(self) -> float:
        """The server's time now, or time.time() while it never said it."""
        heard = self._heard
        return time.time() if heard is None else heard[0] + (self._clock() - heard[1])

    def forget(self) -> None:
        """Nothing heard any more (a test's clock put back)."""
        self._heard = None


SERVER_CLOCK = ServerClock()


def server_now() -> float:
    """The server's wall clock now, as this client reckons it (time.time() until it said)."""
    return SERVER_CLOCK.now()


def on_this_clock(server_time: float) -> float:
    """The time this computer's clock will read when the server's reads ``server_time``:
    a time the server gave (a mute's end, a kept name's), to say as "until HH:MM" on the
    clock its reader sees."""
    return server_time + (time.time() - server_now())
