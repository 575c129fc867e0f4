"""Rate limits: token buckets per connection and per address, and connections per address."""

from __future__ import annotations

from dataclasses import dataclass

_EPSILON = 1e-9


@dataclass(slots=True)
class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``.

    :meth:`take` spends one token and returns 0.0, or, when the bucket is empty, spends
    nothing and returns the seconds until a token will be there (for ``retry_after``).
    """

    rate: float
    burst: float
    tokens: float = -1.0
    updated: float = 0.0

    def take(self, now: float) -> float:
        if self.tokens < 0:  # first use: start full
            self.tokens, self.updated = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        # The tolerance absorbs rounding: a client that waits exactly the time returned
        # may find 0.9999999999 tokens, and must not be refused again for it.
        if self.tokens >= 1.0 - _EPSILON:
            self.tokens = max(0.0, self.tokens - 1.0)
            return 0.0
        return (1.0 - self.tokens) / self.rate
