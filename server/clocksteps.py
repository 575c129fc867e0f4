"""Steps of the wall clock, told from the monotonic clock: a sans-I/O watch, both fed in.

The wall clock (time.time) steps: NTP corrects a clock that was minutes or hours off, a VM
is restored from a snapshot, someone sets a laptop's clock. The monotonic clock does not.
Between two looks, the wall clock moving by other than the monotonic clock is a step; a
difference within ``tolerance`` is NTP slewing the clock (or the two reads' own distance)
and is not one. A deadline that is stored or shared as a wall time (a room mute's end)
is moved by each step a shell sees, so that it keeps its length.
"""

from __future__ import annotations


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
