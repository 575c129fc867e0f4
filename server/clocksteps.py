"""Steps of the wall clock, told from the monotonic clock: a sans-I/O watch, both fed in;
and the wall clock as the protocol says it to clients (:func:`wall_ms`).

The wall clock (time.time) steps: NTP corrects a clock that was minutes or hours off, a VM
is restored from a snapshot, someone sets a laptop's clock. The monotonic clock does not.
Between two looks, the wall clock moving by other than the monotonic clock is a step; a
difference within ``tolerance`` is NTP slewing the clock (or the two reads' own distance)
and is not one. A deadline that is stored or shared as a wall time (a room mute's end)
is moved by each step a shell sees, so that it keeps its length.
"""

from __future__ import annotations

import time


class StepWatch:
    """``step(wall, steady)`` at each look: how far the wall clock stepped since the last."""

    __slots__ = ("tolerance", "_last")

    def __init__(self, tolerance: float = 1.0) -> None:
        self.tolerance = tolerance
        self._last: tuple[float, float] | None = None  # (wall, steady) at the last look

    def step(self, wall: float, steady: float) -> float:
        """Seconds the wall clock stepped (forward: above 0) since the last call, or 0.0
        (none, within the tolerance, or the first call); ``wall``: time.time(),
        ``steady``: time.monotonic(), read together."""
        last, self._last = self._last, (wall, steady)
        if last is None:
            return 0.0
        stepped = (wall - last[0]) - (steady - last[1])
        return stepped if abs(stepped) > self.tolerance else 0.0


class MessageAges:
    """The edit window (const.EDIT_WINDOW) on a clock that never steps while the server runs.

    A message's age on the wall clock is ``now - sent_at``, both wall times, and a step
    between the two is in it: a clock stepped back an hour let a two hours' old message be
    edited, stepped forward it refused a fresh one. Each :meth:`look` (the server's sweep,
    and every edit) feeds a :class:`StepWatch`; a step it sees is noted after the messages
    given out by the look before it (``last_msg_id``: ids only grow), and the window for a
    message (:meth:`window_for`) is moved by the steps after it, so that ``now - sent_at``
    against it is the message's age on the monotonic clock. A message given out between
    those two looks counts as after the step (the looks are seconds apart).

    In memory only: across a restart the stored wall time (``sent_at``) is all there is,
    and a step while the server was down is in a message's age. In a cluster another node
    may have taken the message, on its own wall clock: this node's steps still correct its
    own ``now``, which is what they moved.
    """

    __slots__ = ("_watch", "_steps", "_last_id", "_too_old")

    def __init__(self, tolerance: float = 1.0) -> None:
        self._watch = StepWatch(tolerance)
        self._steps: list[tuple[float, int, float]] = []  # (steady at the step, last id before it, seconds)
        self._last_id = 0  # the last message id at the last look
        self._too_old = 0  # ids up to this one were taken before a step older than a window

    def look(self, wall: float, steady: float, last_msg_id: int) -> float:
        """Note any step of the wall clock since the last look; returns it (0.0: none).
        ``wall``: time.time(), ``steady``: time.monotonic(), read together;
        ``last_msg_id``: the highest message id given out now."""
        stepped = self._watch.step(wall, steady)
        if stepped:
            self._steps.append((steady, self._last_id, stepped))
        self._last_id = max(self._last_id, last_msg_id)
        return stepped

    def window_for(self, msg_id: int, window: float, steady: float) -> float | None:
        """The window to hold ``now - sent_at`` of message ``msg_id`` to (wall times) for
        its age to be held to ``window`` seconds: ``window`` plus the steps since it was
        taken. None: it was taken before a step more than ``window`` ago, so it is older
        than that whatever the wall clock says (and that step is forgotten)."""
        kept = []
        for at, last_id, stepped in self._steps:
            if steady - at > window:
                self._too_old = max(self._too_old, last_id)
            else:
                kept.append((at, last_id, stepped))
        self._steps = kept
        if msg_id <= self._too_old:
            return None
        return window + sum(stepped for _at, last_id, stepped in kept if msg_id <= last_id)


def wall_ms() -> int:
    """The wall clock as the protocol says it (a welcome's and a pong's ``now``): whole
    milliseconds since the epoch."""
    return int(time.time() * 1000)
