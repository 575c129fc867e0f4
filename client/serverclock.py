"""The server's wall clock as this client reckons it: the ``now`` the server last said (its
welcome's, its pongs': PROTOCOL.md, "welcome"), moved on by the monotonic clock since.

The times the server gives are on its clock: a kept guest name's ``until``, a message's
``sent_at`` (so the end of its edit window). Their wait is the time less the server's now,
not this computer's, whose clock may be hours off (never set, a dead battery): one 2 h
behind said a hold of 9 minutes was "2 h 9 min from now", one 2 h ahead gave Edit up on a
message of a minute ago. Until the server says its time (an older server never does),
this computer's own clock is all there is. Sans-I/O: the times are fed in; the monotonic
clock stands still while some computers sleep, so a wait read just after a sleep is late
by it until the next pong says the time again (one comes within a heartbeat).

One per process (:data:`SERVER_CLOCK`): a terminal, a window or a ``--send`` talks to one
service at a time; the shells (client/core.py) feed it and the words about time
(client/display.py, client/gui/model.py) read it through :func:`server_now`.
"""

from __future__ import annotations

import time


class ServerClock:
    """``heard(now_ms, steady)`` at each ``now`` from the server; ``now(wall, steady)``:
    the server's time then, in seconds (``wall`` itself while nothing was heard)."""

    __slots__ = ("_heard",)

    def __init__(self) -> None:
        self._heard: tuple[float, float] | None = None  # (the server's seconds, monotonic then)

    def heard(self, now_ms: int | None, steady: float) -> None:
        """The server said its time ``now_ms`` (ms since the epoch; None: it did not) at
        ``steady`` (time.monotonic())."""
        if now_ms is not None:
            self._heard = (now_ms / 1000, steady)

    def now(self, wall: float, steady: float) -> float:
        """The server's time at ``steady`` (time.monotonic()), or ``wall`` (time.time(),
        read with it) while it never said it."""
        heard = self._heard
        return wall if heard is None else heard[0] + (steady - heard[1])

    def forget(self) -> None:
        """Nothing heard any more (a test's clock put back)."""
        self._heard = None


SERVER_CLOCK = ServerClock()


def server_now() -> float:
    """The server's wall clock now, as this client reckons it (time.time() until it said)."""
    return SERVER_CLOCK.now(time.time(), time.monotonic())


def on_this_clock(server_time: float) -> float:
    """The time this computer's clock will read when the server's reads ``server_time``:
    a time the server gave (a mute's end, a kept name's), to say as "until HH:MM" on the
    clock its reader sees."""
    return server_time + (time.time() - server_now())
