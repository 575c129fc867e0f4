"""Rate limits: token buckets per connection and per address, and connections per address."""

from __future__ import annotations

from dataclasses import dataclass

_EPSILON = 1e-9


@dataclass(slots=True)
class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``.

    :meth:`take` spends ``cost`` tokens (one by default; bytes for a byte budget) and
    returns 0.0, or, when the bucket holds fewer, spends nothing and returns the seconds
    until they will be there (for ``retry_after``). A cost above ``burst`` is charged as
    ``burst``, so every request can pass once the bucket is full.
    """

    rate: float
    burst: float
    tokens: float = -1.0
    updated: float = 0.0

    def __post_init__(self) -> None:
        # Floats, whatever the config gave (the byte budget's are ints): see take.
        self.rate, self.burst = float(self.rate), float(self.burst)

    def take(self, now: float, cost: float = 1.0) -> float:
        # Called up to three times per message (connection, address, bytes): written with
        # comparisons rather than min()/max() calls, which were most of its time, and with
        # float operands only (0.0, not 0; rate and burst made floats; the byte budget's
        # cost passed as one): Python 3.11 specialises float-with-float arithmetic and
        # comparisons, not int-with-float (issue 9: 2,560 instructions a take, 3,240 with an
        # int cost; 2,170 and 2,200 all float).
        burst = self.burst
        tokens = self.tokens
        if tokens < 0.0:  # first use: start full
            tokens = burst
        else:
            tokens += (now - self.updated) * self.rate
            if tokens > burst:
                tokens = burst
        self.updated = now
        if cost > burst:
            cost = burst
        # The tolerance absorbs rounding: a client that waits exactly the time returned
        # may find 0.9999999999 tokens, and must not be refused again for it.
        if tokens >= (cost - _EPSILON * cost if cost > 1.0 else cost - _EPSILON):
            tokens -= cost
            self.tokens = tokens if tokens > 0.0 else 0.0
            return 0.0
        self.tokens = tokens
        return (cost - tokens) / self.rate
