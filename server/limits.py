"""Rate limits: token buckets per connection and per address, and connections per address."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

_EPSILON = 1e-9
# The least wait a refusal names, in its words and in its retry_after alike: a bucket that
# refills 30 tokens a second has one again within 0.034 s, and a client told so came back
# that soon with every other request it held, each refused again for as little (a full
# disk's 150 queued messages made 8,483 refusals in 90 s). A tenth of a second is still
# true (the token is there by then) and leaves room to breathe.
MIN_RETRY_AFTER = 0.1
# Seconds a wait may fall short of its due by rounding alone (retry_seconds drops less than
# a picosecond; a float clock's sums, less than this): what is left of a wait after it is
# not a wait. A client that waited as told must not be refused again for it.
WAIT_ROUNDING = 1e-9


def wait_words(seconds: float) -> str:
    """A wait as an error's message says it: tenths of a second, rounded up, at least
    MIN_RETRY_AFTER (never "try again in 0.0 s", which reads as "now", and is not)."""
    return f"{max(MIN_RETRY_AFTER, math.ceil(seconds * 10 - _EPSILON) / 10):.1f} s"


def retry_seconds(seconds: float) -> float:
    """A wait as an error's ``retry_after`` says it: rounded up to the millisecond (never
    too early, but for WAIT_ROUNDING), and at least MIN_RETRY_AFTER, as its words
    (:func:`wait_words`). The one rule for every ``retry_after`` of a wait."""
    return max(MIN_RETRY_AFTER, math.ceil(seconds * 1000 - _EPSILON) / 1000)


@dataclass(slots=True)
class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``.

    :meth:`take` spends ``cost`` tokens (one by default; bytes for a byte budget) and
    returns 0.0, or, when the bucket holds fewer, spends nothing and returns the seconds
    until they will be there (for ``retry_after``). A cost above ``burst`` is charged as
    ``burst``, so every request can pass once the bucket is full. :meth:`take_one` is
    ``take(now)``, answer and state the same to the bit, for the message path.
    """

    rate: float
    burst: float
    tokens: float = -1.0  # set to burst by __post_init__: a new bucket is full
    # When it was last taken. Never, to begin with: minus infinity refills any tokens to
    # the burst at the first take, whatever the clock says, so no take needs a test for
    # "first use" (and expire() forgets an untaken bucket as a refilled one).
    updated: float = -math.inf
    # What take(now, 1.0) charges, and the least it lets pass, as take computes them: for
    # take_one, which would otherwise compute them on every call.
    one: float = field(init=False, repr=False)
    one_threshold: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Floats, whatever the config gave (the byte budget's are ints): see take.
        self.rate, self.burst = float(self.rate), float(self.burst)
        if self.tokens < 0.0:
            self.tokens = self.burst
        self.one = self.burst if 1.0 > self.burst else 1.0  # take's clamp to the burst
        self.one_threshold = self.one - _EPSILON  # take's tolerance, for a cost of at most one

    def take(self, now: float, cost: float = 1.0) -> float:
        # Called once per message (the byte budget; the request buckets use take_one): written with
        # comparisons rather than min()/max() calls, which were most of its time, and with
        # float operands only (0.0, not 0; rate and burst made floats; the byte budget's
        # cost passed as one): Python 3.11 specialises float-with-float arithmetic and
        # comparisons, not int-with-float (issue 9: 2,560 instructions a take, 3,240 with an
        # int cost; 2,170 and 2,200 all float).
        burst = self.burst
        tokens = self.tokens + (now - self.updated) * self.rate
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

    def wait(self, now: float, cost: float = 1.0) -> float:
        """The seconds until :meth:`take` of ``cost`` would pass (0.0: now), taking
        nothing: for the whole wait of a request that several buckets must let pass."""
        tokens = self.tokens + (now - self.updated) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        cost = min(cost, self.burst)
        if tokens >= cost - _EPSILON * max(cost, 1.0):
            return 0.0
        return (cost - tokens) / self.rate

    def give_back(self, cost: float = 1.0) -> None:
        """Undo a :meth:`take` (or take_one) of ``cost`` that passed, whose request took
        nothing after all: at most up to the burst."""
        tokens = self.tokens + (cost if cost < self.burst else self.burst)
        self.tokens = tokens if tokens < self.burst else self.burst

    def take_held(self, cost: float) -> bool:
        """Spend ``cost`` from the tokens held at the last :meth:`take` (or take_one),
        without the clock: True if they sufficed (spent), else False (nothing spent: call
        take, which refills). A first try for a budget on the message path (the acks'):
        no clock, no refill, a few operations. It never lets more pass than take would,
        ``burst`` + ``rate`` x the time since the first take: what it spends was counted by
        a take, and the next take's refill counts from that take. Only after a take (a new
        bucket's first take refills it to the burst whatever it spent before)."""
        tokens = self.tokens
        if tokens >= cost:
            self.tokens = tokens - cost
            return True
        return False

    def take_one(self, now: float) -> float:
        """:meth:`take` with a cost of one, to the bit, in fewer operations: the cost
        clamped and the tolerance computed once, in __post_init__ (issue 9, round
        thirteen: about 1,700 instructions against 2,250). The request buckets take two
        per rated request. tests/integration/test_limits.py holds both methods to one
        reference, answer by answer."""
        tokens = self.tokens + (now - self.updated) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        self.updated = now
        if tokens >= self.one_threshold:
            tokens -= self.one
            self.tokens = tokens if tokens > 0.0 else 0.0
            return 0.0
        self.tokens = tokens
        return (self.one - tokens) / self.rate


@dataclass(slots=True)
class SharedBudget:
    """A connection's token bucket (``own``) and its address's (``shared``, the same
    object for all the address's connections), spent together: a cost passes when both
    let it, and is then spent from both; refused, from neither. With a ``floor`` (the
    connection's own, as the request rate's: const.py), a cost the address's refuses
    still passes if the floor holds all of it (spent from ``own`` and the floor), so that
    one connection's flood cannot leave its address's other connections nothing; a cost
    above the floor's burst never passes on it (a bucket charges such a cost as its burst)."""

    own: TokenBucket
    shared: TokenBucket
    floor: TokenBucket | None = None

    def take(self, now: float, cost: float = 1.0) -> float:
        """:meth:`TokenBucket.take` of both: 0.0, or the seconds until the one that
        refuses would let ``cost`` pass (the connection's first; the address's, or the
        floor if it would be sooner)."""
        own = self.own
        wait = own.take(now, cost)
        if wait:
            return wait
        wait = self.shared.take(now, cost)
        if wait:
            floor = self.floor
            if floor is not None and cost <= floor.burst:
                floor_wait = floor.take(now, cost)
                if not floor_wait:
                    return 0.0  # on the floor: spent from own and the floor
                wait = min(wait, floor_wait)
            own.tokens += cost if cost < own.burst else own.burst  # given back: neither is spent
        return wait

    def take_held(self, cost: float) -> bool:
        """:meth:`TokenBucket.take_held` of both (the same contract): True, spent from
        both, or False, spent from neither."""
        own, shared = self.own, self.shared
        if own.tokens >= cost and shared.tokens >= cost:
            own.tokens -= cost
            shared.tokens -= cost
            return True
        return False


# Standings of a password check (see CheckBudget), best first.
KNOWN, CLEAN, CONTESTED, FAILING = 0, 1, 2, 3


class CheckBudget:
    """One token bucket (``rate`` per second, at most ``burst``) for the password checks of
    everyone, served by standing so that guessers cannot starve the others:

    - FAILING (a check from an address with a recent wrong password) may take a token only
      while ``reserved`` are left after it: the bucket's bottom is kept for the others, so
      an address that keeps guessing waits for the refill above it;
    - CONTESTED (from an address with no recent wrong password, of a name that had one from
      elsewhere) may take a token while half of ``reserved`` is left: a guesser's ever new
      addresses, whose first guesses look clean, leave the bottom to checks of names
      nobody is guessing (a registration, another account), yet come before FAILING ones,
      so the owner logging in from a new address is no worse off than among clean ones;
    - CLEAN (an address with no recent wrong password) may take down to zero;
    - KNOWN (an address the account logged in from with its password before) may moreover
      run ``overdraft`` tokens into debt, paid back from the refill before anyone else
      takes again.

    So in any span of T seconds at most ``rate * T + burst + overdraft`` checks pass (the
    CPU bound holds), and a better standing always gets a token first. :meth:`take`
    returns 0.0 (taken) or the seconds until a token would be there for that standing
    (``retry_after``), spending nothing. ``reserved`` is kept below ``burst - 1``: a
    full bucket lets every standing pass.
    """

    __slots__ = ("rate", "burst", "floors", "tokens", "updated")

    def __init__(self, rate: float, burst: float, reserved: float, overdraft: float) -> None:
        self.rate, self.burst = float(rate), float(burst)
        reserved = max(0.0, min(float(reserved), self.burst - 1.0))
        # The tokens a take must leave, by standing.
        self.floors = (-float(overdraft), 0.0, reserved / 2, reserved)
        self.tokens = self.burst
        self.updated = -math.inf

    def _refill(self, now: float) -> float:
        tokens = self.tokens + (now - self.updated) * self.rate
        self.tokens = tokens if tokens < self.burst else self.burst
        self.updated = now
        return self.tokens

    def take(self, standing: int, now: float) -> float:
        tokens = self._refill(now)
        need = self.floors[standing] + 1.0
        if tokens >= need - _EPSILON:  # see TokenBucket.take for the tolerance
            self.tokens = tokens - 1.0
            return 0.0
        return (need - tokens) / self.rate

    def give_back(self, now: float) -> None:
        """Undo one :meth:`take` whose check was not run after all."""
        tokens = self._refill(now) + 1.0
        self.tokens = tokens if tokens < self.burst else self.burst
