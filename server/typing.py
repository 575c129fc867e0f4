"""How often "typing" passes from one user to another: a sans-I/O gate with a clock fed in.

A client repeats ``typing`` about every ``const.TYPING_INTERVAL`` seconds while its user
types, and a receiver shows "X is typing" for ``const.TYPING_EXPIRES`` seconds after the
last one it got. The server forwards at most one ``typing`` per sender and recipient per
interval: the others say nothing the recipient does not already show, so they are
absorbed (coalesced), not refused. (The per-connection request rate still applies to every
``typing`` frame, answered ``rate_limited`` above it.)

The gate's memory is bounded by what is recent: an entry older than the interval is
worth nothing and is dropped by :meth:`TypingGate.prune` (run with the relay's periodic
expiry), so it holds at most the pairs active within one interval.
"""

from __future__ import annotations


class TypingGate:
    """Which ``typing`` frames to forward: ``allow(sender, recipient, now)``."""

    __slots__ = ("interval", "_last")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[tuple[str, str], float] = {}  # (sender, recipient) -> last forwarded at

    def allow(self, sender: str, recipient: str, now: float) -> bool:
        """True if a ``typing`` from ``sender`` to ``recipient`` at ``now`` (any monotonic
        clock, seconds) is to be forwarded; it then counts as the last one forwarded."""
        last = self._last.get((sender, recipient))
        if last is not None and now - last < self.interval:
            return False
        self._last[(sender, recipient)] = now
        return True

    def stopped(self, sender: str, recipient: str) -> None:
        """``sender`` sent ``recipient`` a message: its next ``typing`` passes at once
        (the receiver cleared "is typing" when the message came)."""
        last = self._last
        if last:  # empty unless someone typed within the interval: then no pair to build (issue 9)
            last.pop((sender, recipient), None)

    def prune(self, now: float) -> None:
        """Forget the pairs whose last ``typing`` is an interval old or more."""
        self._last = {pair: at for pair, at in self._last.items() if now - at < self.interval}

    def __len__(self) -> int:
        return len(self._last)
