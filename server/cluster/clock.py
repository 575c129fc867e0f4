"""A node's wall clock against Redis's, the one clock every node of a cluster can read.

What needs one clock across nodes already reads Redis's (heartbeat deadlines and reaping,
login lockouts: key TTLs), and history is ordered by message ids, which Redis gives out.
But a message's ``sent_at``, a session's "online since", when a guest left (its hold, and
when its name is forgotten), edit windows, mutes and expiry times are written by each
node's own clock and compared by another's. So a node measures its offset from Redis's
time once per beat (scripts.GAUGES answers Redis's time) and says so when it is off by
more than ``limit`` seconds: those times then disagree between nodes by that much. Only
said, not corrected: the times are read on the message's path, which stays as it is. One
time is corrected, as it is read off that path: a ``typing``'s, whose age decides whether
it is still worth showing (a few seconds: less than the skew a node may have), goes by
Redis's clock between nodes (to_redis, from_redis).

Sans-I/O: times come in as arguments (docs/cluster.md, "Clocks").
"""

from __future__ import annotations

# Seconds of offset from Redis's clock past which a node says its clock is off: well
# above what NTP keeps (milliseconds), well below what people notice in a chat's times.
CLOCK_SKEW_LIMIT = 1.0


class ClockSkew:
    """This node's clock against Redis's: :meth:`measured` per reading; ``offset`` is the
    last (Redis's time minus this node's, seconds; None before the first)."""

    def __init__(self, limit: float = CLOCK_SKEW_LIMIT) -> None:
        self.limit = limit
        self.offset: float | None = None
        self._off = False  # told that it is off, and not yet that it agrees again

    def to_redis(self, local: float) -> float:
        """``local`` (a time on this node's clock) on Redis's clock, by the last offset
        measured (as it is before the first): a time another node will compare with its
        own clock (bus.Conversation's ``at``), which it takes back with :meth:`from_redis`."""
        return local + (self.offset or 0.0)

    def from_redis(self, shared: float) -> float:
        """A time on Redis's clock (another node's :meth:`to_redis`) on this node's."""
        return shared - (self.offset or 0.0)

    def measured(self, before: float, redis_time: float, after: float) -> str | None:
        """Redis answered ``redis_time`` to a question asked at ``before`` and answered at
        ``after`` (this node's clock): its time was read somewhere in between, so only
        an offset beyond ``limit`` plus half the round trip proves the clock off. Returns
        the sentence to log when the clock turns out off, or right again; else None. A
        clock that went back meanwhile (set by hand, or by NTP) measured nothing."""
        if after < before:
            return None
        offset = self.offset = redis_time - (before + after) / 2
        slack = (after - before) / 2
        if not self._off and abs(offset) > self.limit + slack:
            self._off = True
            side = "behind" if offset > 0 else "ahead of"
            return (f"this node's clock is {abs(offset):.1f} s {side} Redis's: the times it writes (messages' "
                    f"sent_at, 'online since', when a guest left, edits' windows, mutes, expiries) disagree by "
                    f"that much with the other nodes'; set the clock right (NTP)")
        if self._off and abs(offset) + slack <= self.limit:
            self._off = False
            return f"this node's clock agrees with Redis's again (within {self.limit:.1f} s)"
        return None
