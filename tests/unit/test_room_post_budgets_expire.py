"""The budget of posts per member and room (RoomDesk.over_post_budget): spent once per
post, over it one ``rate_limited`` counted once; the room's owner is not paced; and a
budget full again is forgotten by the desk's periodic expire, so that its memory is that
of the members who posted lately, not of everyone who ever did. No sockets
(test_room_replay's fakes)."""

from __future__ import annotations

import time

from test_room_replay import FakeSession, setting

import const


def test_a_member_s_budget_refuses_past_its_burst_and_is_forgotten_once_full_again() -> None:
    desk, relay, _laptop = setting()  # Olga owns #redes; Bob is a member
    relay.config.room_posts_per_second, relay.config.room_post_burst = 1.0, 3.0
    bob, olga = FakeSession("Bob"), FakeSession("Olga")
    for session in (bob, olga):
        session.registered, session.address = True, "10.0.0.7"
    assert [desk.over_post_budget(bob, f"b{n}", "#redes") for n in range(4)] == [False, False, False, True]
    assert relay.metrics.room_rate_limited == 1
    assert not any(desk.over_post_budget(olga, f"o{n}", "#redes") for n in range(20))  # the owner
    assert list(desk._post_budgets) == [("#redes", "bob")]
    desk.expire(time.time())
    assert list(desk._post_budgets) == [("#redes", "bob")]  # not full yet: kept
    desk._post_budgets["#redes", "bob"].updated -= 3.0 / 1.0  # as if its refill time had passed
    desk.expire(time.time())
    assert desk._post_budgets == {}
    assert const.ROOM_POST_BURST >= 5 and 1 <= const.ROOM_POSTS_PER_SECOND <= 2  # a paste passes; a loop is paced
