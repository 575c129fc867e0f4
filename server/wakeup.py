"""One timer for a sans-I/O core's next deadline: the shells' way to be woken on time.

A core (server/rooms.py's mute ends, server/roomreads.py's coalesced lists) says when it
next needs the time (``next_deadline()``); its shell asks :class:`Wakeup` to call it back
then. Only the earliest deadline asked has a timer: asking again for the same or a later
one sets none (the timer already set fires first, and the shell asks again then), and an
earlier one sets another. No timer at all without ``schedule`` (the loop's ``call_later``):
the shell is then woken by whatever else calls it.
"""

from __future__ import annotations

from collections.abc import Callable


class Wakeup:
    def __init__(self, schedule: Callable[[float, Callable[[], None]], object] | None,
                 clock: Callable[[], float], late: float = 0.01) -> None:
        """``clock``: the clock the deadlines are on; ``late``: seconds after a deadline
        that its timer fires (the loop's clock and ``clock`` may differ slightly)."""
        self._schedule = schedule
        self._clock = clock
        self._late = late
        self._due = float("inf")  # when the earliest timer set is due (inf: none)

    def at(self, due: float | None, fire: Callable[[], None]) -> None:
        """Call ``fire`` a little after ``due`` (on ``clock``), unless a timer is set for
        ``due`` or sooner; None: nothing is due."""
        if due is None or self._schedule is None or due >= self._due:
            return
        self._due = due

        def woken() -> None:
            if self._due <= due:
                self._due = float("inf")
            fire()

        self._schedule(max(0.0, due - self._clock()) + self._late, woken)
