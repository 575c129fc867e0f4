"""In a cluster, a guest's hello whose resume token this node's cache does not take is
checked against the holding in Redis (LoginDesk.reread_holding): the guest may have taken
the name on another node a moment ago. When that read fails, the cache's decision may be
wrong (its own name refused ``name_taken``, or taken anew past the hold: a new token, its
queue and history lost), so the hello is answered ``unavailable``, to try again.
"""

from __future__ import annotations

import time

from server.login import Claim
from server.store import StoreUnavailable
import const
from protocol import ErrorCode, Hello

from test_login_budget import Desk

TOKEN = "t" * 43


def _unread_desk() -> Desk:
    desk = Desk()
    desk.desk.reread_holding = lambda key, now, callback, on_error: on_error(StoreUnavailable("redis away"))
    return desk


def _guest_login(desk: Desk):
    results = []
    desk.desk.login(Hello("h", "Bia", const.PROTOCOL_VERSION, resume=TOKEN), "10.9.0.1", results.append)
    desk.run()
    return results[0]


def test_a_token_the_cache_does_not_know_is_not_taken_anew_when_redis_cannot_be_read():
    result = _guest_login(_unread_desk())  # the cache has no holding of "bia": it would TAKE it
    assert result.error is not None and result.error.code == ErrorCode.UNAVAILABLE, result
    assert result.error.retry_after


def test_a_token_the_cache_holds_for_another_is_not_refused_name_taken_when_redis_cannot_be_read():
    desk = _unread_desk()
    guests = desk.desk.guests
    guests.install("bia", guests.hold_for_nobody("bia", "Bia", 5, time.time()))  # the cache's stale holder
    assert guests.decide("bia", TOKEN, time.time())[0] is Claim.HELD
    result = _guest_login(desk)
    assert result.error is not None and result.error.code == ErrorCode.UNAVAILABLE, result


def test_a_name_redis_says_nobody_holds_is_taken():
    desk = Desk()
    desk.desk.reread_holding = lambda key, now, callback, on_error: callback(None)  # Redis: nobody holds it
    result = _guest_login(desk)
    assert result.error is None and result.claim is Claim.TAKE, result
