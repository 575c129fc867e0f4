"""SessionLimits: a connection's three token buckets taken in one call (issue 9, round
eleven) answer exactly as the relay's three separate takes did."""

from __future__ import annotations

import random

from server.limits import SessionLimits, TokenBucket


def one_by_one(requests: TokenBucket, address: TokenBucket, message_bytes: TokenBucket, now: float,
               cost: float | None) -> float:
    """The relay's _rate_limited before round eleven: request bucket, then the address's,
    then (for a message) the byte budget, stopping at the first refusal."""
    wait = requests.take(now)
    if not wait:
        wait = address.take(now)
    if not wait and cost is not None:
        wait = message_bytes.take(now, cost)
    return wait


def buckets(rng: random.Random) -> tuple[TokenBucket, TokenBucket, TokenBucket]:
    return (TokenBucket(rng.choice([0.5, 2.0, 10.0]), rng.choice([1.0, 3.0, 20.0])),
            TokenBucket(rng.choice([1.0, 5.0, 30.0]), rng.choice([2.0, 10.0, 60.0])),
            TokenBucket(rng.choice([100.0, 1000.0]), rng.choice([500.0, 3000.0])))


def test_one_call_answers_and_spends_exactly_as_three_takes_did():
    rng = random.Random(11)
    for _ in range(200):
        seed = rng.random()
        old, new = buckets(random.Random(seed)), buckets(random.Random(seed))
        # Two connections from one address share its bucket, in both versions.
        limits = [SessionLimits(new[0], new[1], new[2]),
                  SessionLimits(TokenBucket(new[0].rate, new[0].burst), new[1],
                                TokenBucket(new[2].rate, new[2].burst))]
        olds = [old, (TokenBucket(old[0].rate, old[0].burst), old[1], TokenBucket(old[2].rate, old[2].burst))]
        now = rng.uniform(0, 1e5)
        for _ in range(100):
            now += rng.choice([0.0, 0.001, 0.05, 0.3, 2.0])
            which = rng.randrange(2)
            cost = rng.choice([None, None, 0.0, 1.0, 80.0, 700.0, 5000.0])
            expected = one_by_one(*olds[which], now, cost)
            got = limits[which].take(now) if cost is None else limits[which].take(now, cost)
            assert got == expected
            for before, after in zip(olds[which], (limits[which].requests, limits[which].address,
                                                   limits[which].message_bytes)):
                assert (after.tokens, after.updated) == (before.tokens, before.updated)


def test_a_refusal_spends_nothing_from_the_buckets_after_it():
    limits = SessionLimits(TokenBucket(1.0, 1.0), TokenBucket(1.0, 5.0), TokenBucket(10.0, 100.0))
    assert limits.take(10.0, 50.0) == 0.0
    assert limits.take(10.0, 50.0) == 1.0  # the connection's bucket refuses...
    assert limits.address.tokens == 4.0 and limits.message_bytes.tokens == 50.0  # ...nothing after it is spent
    # A second later the byte budget holds 60 of the 80 asked: refused for 2 s, the request's
    # and the address's tokens spent (as by the separate takes).
    assert limits.take(11.0, 80.0) == 2.0
    assert (limits.requests.tokens, limits.address.tokens, limits.message_bytes.tokens) == (0.0, 4.0, 60.0)
    # A request without message bytes does not touch the budget.
    assert limits.take(12.0) == 0.0 and limits.message_bytes.updated == 11.0
