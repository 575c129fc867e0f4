"""A connection's budget and its address's, spent together (server/limits.py SharedBudget):
the acks' budgets (PROTOCOL.md "Limits"). A cost passes when both let it, and is then spent
from both; refused by either, it is spent from neither. And the bucket's own wait and first
try without the clock, which the budgets build on."""

from __future__ import annotations

from server.limits import SharedBudget, TokenBucket


def test_a_cost_is_spent_from_both_or_from_neither() -> None:
    shared = TokenBucket(rate=10.0, burst=30.0)
    alice, bob = SharedBudget(TokenBucket(1.0, 20.0), shared), SharedBudget(TokenBucket(1.0, 20.0), shared)
    assert alice.take(0.0, 20.0) == 0.0
    assert (alice.own.tokens, shared.tokens) == (0.0, 10.0)
    assert alice.take(0.0, 1.0) == 1.0  # Alice's own refuses: the address's is untouched
    assert shared.tokens == 10.0
    assert bob.take(0.0, 15.0) == 0.5  # the address's refuses: Bob's own is given back
    assert (bob.own.tokens, shared.tokens) == (20.0, 10.0)
    assert bob.take(0.5, 15.0) == 0.0
    assert (bob.own.tokens, shared.tokens) == (5.0, 0.0)


def test_the_first_try_without_the_clock_spends_what_both_hold() -> None:
    shared = TokenBucket(rate=10.0, burst=30.0)
    alice, bob = SharedBudget(TokenBucket(1.0, 20.0), shared), SharedBudget(TokenBucket(1.0, 20.0), shared)
    assert alice.take(0.0, 1.0) == 0.0 and bob.take(0.0, 1.0) == 0.0  # (after a take: see take_held)
    assert alice.take_held(19.0)
    assert not bob.take_held(19.0)  # 9 left to the address: neither is spent
    assert (bob.own.tokens, shared.tokens) == (19.0, 9.0)
    assert bob.take_held(9.0) and (bob.own.tokens, shared.tokens) == (10.0, 0.0)


def test_a_take_given_back_is_as_if_never_taken_and_never_past_the_burst():
    bucket = TokenBucket(rate=1.0, burst=2.0)
    assert bucket.take_one(0.0) == 0.0 and bucket.take_one(0.0) == 0.0
    assert bucket.take_one(0.0) > 0  # spent
    bucket.give_back()
    assert bucket.take_one(0.0) == 0.0  # the one given back
    bucket.give_back()
    bucket.give_back()
    bucket.give_back(5.0)
    assert bucket.tokens == 2.0


def test_a_first_try_without_the_clock_may_spend_every_token_held_and_no_more():
    bucket = TokenBucket(rate=1.0, burst=3.0)
    assert bucket.take_one(0.0) == 0.0  # two left
    assert bucket.take_held(2.0) and bucket.tokens == 0.0
    assert not bucket.take_held(0.5) and bucket.tokens == 0.0


def test_the_wait_counts_the_refill_since_the_last_take_and_takes_nothing():
    bucket = TokenBucket(rate=2.0, burst=2.0)
    assert bucket.take_one(10.0) == 0.0 and bucket.take_one(10.0) == 0.0  # empty at 10 s
    assert bucket.wait(10.25) == 0.25  # half a token there: a quarter of a second to go
    assert bucket.wait(10.5) == 0.0  # exactly one
    assert bucket.wait(10.5, 2.0) == 0.5 and bucket.wait(100.0, 5.0) == 0.0  # a cost above the burst: the burst
    assert bucket.tokens == 0.0 and bucket.take_one(10.5) == 0.0  # nothing was spent by waiting


def test_the_wait_forgives_a_rounding_error_as_the_take_does():
    bucket = TokenBucket(rate=5.0, burst=1.0)
    assert bucket.take_one(0.1) == 0.0
    assert bucket.wait(0.3) == 0.0  # (0.3 - 0.1) x 5 is 0.9999999999999999 in floats: a whole token
    assert bucket.take_one(0.3) == 0.0


def test_a_refused_take_says_how_long_until_the_token_is_there_as_take_does():
    bucket, same = TokenBucket(rate=4.0, burst=1.0), TokenBucket(rate=4.0, burst=1.0)
    assert bucket.take_one(0.0) == same.take(0.0) == 0.0
    assert bucket.take_one(0.1) == same.take(0.1) == 0.15  # 0.4 of a token there: 0.6 more at 4 a second


def test_a_connections_floor_lets_pass_what_the_spent_address_refuses_within_its_own_burst():
    # The acks' floor (const.ACKS_*FLOOR*): the address's budget is spent by others; Carol's
    # floor still lets her small frames pass, spent from her own and the floor, never a frame
    # above the floor's burst (a bucket would charge it as its burst), and the wait she is
    # told is the sooner of the address's and the floor's.
    shared = TokenBucket(rate=10.0, burst=30.0)
    assert shared.take(0.0, 30.0) == 0.0  # spent by someone else
    carol = SharedBudget(TokenBucket(100.0, 200.0), shared, TokenBucket(rate=1.0, burst=5.0))
    assert carol.take(0.0, 3.0) == 0.0
    assert (carol.own.tokens, shared.tokens, carol.floor.tokens) == (197.0, 0.0, 2.0)
    assert carol.take(0.0, 6.0) == 0.6  # above the floor's burst: the address's wait
    assert carol.take(0.0, 3.0) == 0.3  # the address's three come first (0.3 s), not the floor's one more (1 s)
    assert carol.own.tokens == 197.0  # refused: given back
    assert carol.take(0.0, 2.0) == 0.0 and carol.floor.tokens == 0.0
    assert carol.take(0.1, 2.0) == 0.1  # the address's one more (0.1 s) before the floor's 1.9 (1.9 s)
    no_floor = SharedBudget(TokenBucket(100.0, 200.0), shared)
    assert no_floor.take(0.0, 1.0) == 0.1 and no_floor.own.tokens == 200.0
