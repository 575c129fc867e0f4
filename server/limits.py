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

    def take(self, now: float, cost: float = 1.0) -> float:
        if self.tokens < 0:  # first use: start full
            self.tokens, self.updated = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        cost = min(cost, self.burst)
        # The tolerance absorbs rounding: a client that waits exactly the time returned
        # may find 0.9999999999 tokens, and must not be refused again for it.
        if self.tokens >= cost - _EPSILON * max(1.0, cost):
            self.tokens = max(0.0, self.tokens - cost)
            return 0.0
        return (cost - self.tokens) / self.rate
