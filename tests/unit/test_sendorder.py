"""server/sendorder.py: a conversation held behind messages refused for now, on a fake clock."""

from protocol import ErrorCode
from server import sendorder
from server.sendorder import DEFAULT_ROOM, HOLD_SECONDS, MAX_HELD_IDS, MAX_HOLDS, OVERFLOW_SECONDS, held, refused


def test_later_messages_wait_for_the_refused_one_and_it_ends_the_hold():
    holds = refused(None, "bob", "one", ErrorCode.UNAVAILABLE, 5.0, now=100.0)
    answer = held(holds, "bob", "two", now=101.0)
    assert (answer.code, answer.request_id, answer.retry_after) == (ErrorCode.UNAVAILABLE, "two", 4.0)
    assert "'one'" in answer.message and "4.0 s" in answer.message and "nothing was done" in answer.message
    assert held(holds, "carol", "three", now=101.0) is None  # another conversation is free
    assert held(holds, "bob", "one", now=106.0) is None  # a refused one: taken
    assert held(holds, "bob", "four", now=106.0) is not None  # "two" (held, so noted) first
    assert held(holds, "bob", "two", now=106.0) is None
    assert held(holds, "bob", "four", now=106.0) is None and holds == {}  # every noted one came again


def test_refusals_that_reach_the_relay_out_of_order_let_each_refused_one_through():
    # A rate limit answers at once, the store later: "seven" was noted before "one".
    holds = refused(None, "bob", "seven", ErrorCode.RATE_LIMITED, 0.3, now=0.0)
    holds = refused(holds, "bob", "one", ErrorCode.UNAVAILABLE, 5.0, now=0.1)
    assert held(holds, "bob", "one", now=6.0) is None  # the client writes them again in its order
    assert held(holds, "bob", "seven", now=6.0) is None and holds == {}


def test_each_real_refusal_renews_the_hold_and_the_wait_is_never_zero():
    holds = refused(None, "bob", "one", ErrorCode.UNAVAILABLE, 5.0, now=0.0)
    holds = refused(holds, "bob", "one", ErrorCode.UNAVAILABLE, 5.0, now=HOLD_SECONDS - 1)
    answer = held(holds, "bob", "two", now=HOLD_SECONDS + 30)  # past the first hold's end, not the second's
    assert answer is not None and answer.retry_after == 0.1  # the refusal's own wait has passed


def test_the_hold_lapses_for_a_message_given_up_and_held_ones_do_not_renew_it():
    holds = refused(None, sendorder.DEFAULT_ROOM, "one", ErrorCode.UNAVAILABLE, 5.0, now=0.0)
    for n in range(10):
        assert held(holds, sendorder.DEFAULT_ROOM, f"new{n}", now=HOLD_SECONDS - 1 + n / 100) is not None
    assert held(holds, sendorder.DEFAULT_ROOM, "later", now=HOLD_SECONDS) is None and holds == {}


def test_holds_are_bounded_per_session():
    holds = None
    for n in range(MAX_HOLDS - 1):
        holds = refused(holds, sendorder.room(f"#r{n}"), f"id{n}", ErrorCode.UNAVAILABLE, 5.0, now=float(n))
    last = sendorder.room(f"#r{MAX_HOLDS - 2}")
    for n in range(MAX_HELD_IDS - (MAX_HOLDS - 1)):  # held, so noted, up to the bound
        assert held(holds, last, f"more{n}", now=20.0) is not None
    assert sum(len(h.refused) for h in holds.values()) == MAX_HELD_IDS
    # Full: a new conversation refused is held without its id, overflowed: every message of
    # it refused for OVERFLOW_SECONDS, then it is free (taken in the order they come again).
    holds = refused(holds, "zed", "z1", ErrorCode.UNAVAILABLE, 0.5, now=50.0)
    assert len(holds) == MAX_HOLDS and sum(len(h.refused) for h in holds.values()) == MAX_HELD_IDS
    assert held(holds, "zed", "z2", now=51.0) is not None
    assert held(holds, "zed", "z1", now=51.0) is not None
    assert held(holds, "zed", "z1", now=50.0 + OVERFLOW_SECONDS) is None and "zed" not in holds
    # One more held with no room to note it: left out, it could be let through after later
    # ones noted before it (written again after a fresh one, say), so its hold overflows.
    answer = held(holds, last, "one-more", now=60.0)
    assert "in your order" in answer.message and answer.retry_after == OVERFLOW_SECONDS
    assert held(holds, last, "more0", now=61.0) is not None  # noted before, refused as any
    assert sum(len(h.refused) for h in holds.values()) == MAX_HOLDS - 2  # its ids forgotten
    assert held(holds, last, "one-more", now=60.0 + OVERFLOW_SECONDS) is None and last not in holds


def test_one_conversation_more_than_a_session_may_hold_holds_them_all_for_a_wait():
    # Letting the oldest hold go let "#r0"'s next message be taken ahead of "id0", refused
    # and not yet written again: a conversation's order broken as a refusal left out does.
    holds = None
    for n in range(MAX_HOLDS + 1):
        holds = refused(holds, sendorder.room(f"#r{n}"), f"id{n}", ErrorCode.UNAVAILABLE, 0.5, now=float(n))
    assert len(holds) == 1  # one hold stands for them all
    for n in range(MAX_HOLDS + 1):
        assert held(holds, sendorder.room(f"#r{n}"), f"later{n}", now=MAX_HOLDS + 1.0) is not None
    assert held(holds, "carol", "new", now=MAX_HOLDS + 1.0) is not None  # every conversation: it stands for all
    assert held(holds, sendorder.room("#r0"), "id0", now=MAX_HOLDS + OVERFLOW_SECONDS) is None and holds == {}


def test_a_refusal_with_no_room_left_holds_back_every_later_message_not_only_the_noted_ones():
    # Found with Redis's memory filled and freed every few ms (test_flapping_store.py, the
    # room): a rate limit refuses m12 to m139 at once, noted up to the bound; then the
    # store's refusal of m11, sent before them, reaches the relay, with no room to note it.
    holds = None
    for n in range(12, 12 + MAX_HELD_IDS):
        holds = refused(holds, DEFAULT_ROOM, f"m{n}", ErrorCode.RATE_LIMITED, 0.3, now=0.0)
    holds = refused(holds, DEFAULT_ROOM, "m11", ErrorCode.UNAVAILABLE, 0.5, now=0.1)
    # Written again in her order: none of the later ones may be taken before m11.
    for n in range(11, 12 + MAX_HELD_IDS + 5):
        answer = held(holds, DEFAULT_ROOM, f"m{n}", now=1.0)
        assert answer is not None and answer.code == ErrorCode.UNAVAILABLE, n
    assert answer.retry_after == OVERFLOW_SECONDS - 0.9 and "in your order" in answer.message
    # The wait over, the conversation is free: her messages are taken as she writes them again.
    assert held(holds, DEFAULT_ROOM, "m11", now=0.1 + OVERFLOW_SECONDS) is None and holds == {}


def test_a_frame_without_id_holds_nothing():
    assert refused(None, "bob", None, ErrorCode.RATE_LIMITED, 1.0, now=0.0) is None


def _f_refused_again() -> dict:
    """"e", "f", "g" refused; written again in order, "e" and "f" let through, and "f"
    refused again at once (over the budget once more)."""
    holds = None
    for request_id in ("e", "f", "g"):
        holds = refused(holds, "bob", request_id, ErrorCode.RATE_LIMITED, 0.3, now=0.0)
    assert held(holds, "bob", "e", now=1.0) is None
    assert held(holds, "bob", "f", now=1.0) is None
    return refused(holds, "bob", "f", ErrorCode.RATE_LIMITED, 0.3, now=1.0)


def test_one_let_through_and_refused_again_at_once_holds_back_the_noted_ones_behind_it():
    # Three refused; written again in order, the first passes, the second is over the
    # budget again (the relay says so at once): the third, noted, must not overtake it.
    holds = _f_refused_again()
    answer = held(holds, "bob", "g", now=1.0)
    assert answer is not None and "'f'" in answer.message
    assert held(holds, "bob", "f", now=2.0) is None
    assert held(holds, "bob", "g", now=2.0) is None and holds == {}


def test_those_refused_again_go_first_in_the_order_they_were_let_through():
    # "f" refused again at once, then the store refuses "e", let through before it.
    holds = _f_refused_again()
    holds = refused(holds, "bob", "e", ErrorCode.UNAVAILABLE, 5.0, now=1.01)
    assert "'e'" in held(holds, "bob", "f", now=7.0).message  # "e" first
    assert held(holds, "bob", "e", now=7.0) is None
    assert held(holds, "bob", "f", now=7.0) is None
    assert held(holds, "bob", "g", now=7.0) is None and holds == {}


def test_what_is_remembered_as_let_through_is_bounded_per_session():
    holds = None
    for n in range(MAX_HELD_IDS):
        holds = refused(holds, sendorder.room(f"#r{n % MAX_HOLDS}"), f"id{n}", ErrorCode.UNAVAILABLE, 5.0, now=0.0)
    for n in range(MAX_HELD_IDS):
        assert held(holds, sendorder.room(f"#r{n % MAX_HOLDS}"), f"id{n}", now=6.0) is None
    assert holds == {}  # every one came again: nothing is kept
    holds = refused(None, "bob", "first", ErrorCode.UNAVAILABLE, 5.0, now=0.0)
    holds = refused(holds, "bob", "second", ErrorCode.UNAVAILABLE, 5.0, now=0.0)
    for n in range(MAX_HELD_IDS):  # a long hold: many come and go through it
        holds = refused(holds, "bob", f"m{n}", ErrorCode.UNAVAILABLE, 5.0, now=1.0)
        assert held(holds, "bob", f"m{n}", now=1.0) is None
    assert sum(len(hold.taken) for hold in holds.values()) == MAX_HELD_IDS
    holds = refused(holds, "bob", "last", ErrorCode.UNAVAILABLE, 5.0, now=1.0)
    assert held(holds, "bob", "last", now=1.0) is None  # one more: the oldest let through is forgotten
    assert sum(len(hold.taken) for hold in holds.values()) == MAX_HELD_IDS
    # The store refuses m0 now: perhaps let through and forgotten, so it would have to go
    # before "second"; not known, so the hold overflows rather than let "second" pass first.
    holds = refused(holds, "bob", "m0", ErrorCode.UNAVAILABLE, 5.0, now=2.0)
    assert held(holds, "bob", "second", now=3.0) is not None
    until = 2.0 + max(5.0, OVERFLOW_SECONDS)  # the refusal's wait, and at least OVERFLOW_SECONDS
    assert held(holds, "bob", "m0", now=until - 0.1) is not None
    assert held(holds, "bob", "m0", now=until) is None and holds == {}


def test_the_bound_counts_the_ids_let_through_and_refused_again_with_the_refused_ones():
    holds = refused(None, "bob", "a", ErrorCode.UNAVAILABLE, 5.0, now=0.0)
    holds = refused(holds, "bob", "b", ErrorCode.UNAVAILABLE, 5.0, now=0.0)
    assert held(holds, "bob", "a", now=6.0) is None  # written again: let through
    holds = refused(holds, "bob", "a", ErrorCode.RATE_LIMITED, 0.3, now=6.1)  # and refused again: it goes first
    assert list(holds["bob"].again) == ["a"] and list(holds["bob"].refused) == ["b"]
    for n in range(MAX_HELD_IDS - 2):  # held, so noted: "a" and "b" count, one each
        assert held(holds, "bob", f"more{n}", now=6.2) is not None
    assert not holds["bob"].overflow_until
    assert held(holds, "bob", "one too many", now=6.2) is not None and holds["bob"].overflow_until > 0
