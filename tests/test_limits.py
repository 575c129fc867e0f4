"""Rate limits and connection limits: the token bucket alone, then on a real server."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from protocol import Accepted, ErrorCode, ErrorReply, SendDirect, UserJoined, UserLeft, UserList, WhoRequest
from server import ServerConfig, ServerThread
from server.limits import TokenBucket
from server.relay import Relay
from tests.test_durability import stored, wait_until
from tests.test_store import FakeSession, open_store
from tests.wire import WireClient

NOTICES = (UserJoined, UserLeft)


# --- The token bucket -------------------------------------------------------------------


def test_a_bucket_starts_full_and_refills_at_its_rate():
    bucket = TokenBucket(rate=2.0, burst=3.0)
    assert [bucket.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(100.0) == pytest.approx(0.5)
    assert bucket.take(100.25) == pytest.approx(0.25)  # half a token back; a refusal costs nothing
    assert bucket.take(100.5) == 0.0
    assert bucket.take(1000.0) == 0.0  # a long pause refills it, up to the burst only
    assert [bucket.take(1000.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(0.5)]


def test_waiting_exactly_the_time_a_refusal_names_is_always_enough():
    rng = random.Random(1)
    for _ in range(20000):
        rate, burst = rng.choice([0.3, 1.0, 2.0, 3.0, 7.0, 13.7, 30.0, 200.0]), rng.choice([1.0, 2.0, 5.0, 60.0])
        bucket = TokenBucket(rate, burst)
        now = rng.uniform(0, 1e6)  # time.monotonic() values are large floats
        for _ in range(int(burst)):
            assert bucket.take(now) == 0.0
        now += rng.uniform(0, 0.5 / rate)
        wait = bucket.take(now)
        assert wait > 0
        assert bucket.take(now + wait) == 0.0, (rate, burst, wait)


# --- On a real server -------------------------------------------------------------------


def limited(**limits) -> ServerConfig:
    settings = dict(rate_per_connection=1e6, burst_per_connection=1e6, rate_per_address=1e6,
                    burst_per_address=1e6)
    settings.update(limits)
    return ServerConfig(host="127.0.0.1", port=0, **settings)


def test_a_burst_beyond_the_connection_limit_is_refused_with_retry_after_then_served_again():
    with ServerThread(limited(rate_per_connection=4.0, burst_per_connection=3.0)) as server, \
            WireClient.login(server.host, server.port, "Alice") as alice:
        alice.send_raw(b"".join(alice.conn.send(WhoRequest(f"w{i}")) for i in range(5)))
        replies = [alice.expect(ErrorReply if i >= 3 else UserList, skip=NOTICES) for i in range(5)]
        assert [r.request_id for r in replies] == [f"w{i}" for i in range(5)]
        for error in replies[3:]:
            assert error.code == ErrorCode.RATE_LIMITED
            assert 0 < error.retry_after <= 0.25 + 0.01
        time.sleep(replies[-1].retry_after)  # waiting what the server asked is enough
        alice.send(WhoRequest("again"))
        assert alice.expect(UserList, skip=NOTICES).request_id == "again"


def test_a_rate_limited_message_is_not_stored_and_its_error_carries_the_request_id():
    with ServerThread(limited(rate_per_connection=1.0, burst_per_connection=1.0)) as server, \
            WireClient.login(server.host, server.port, "Alice") as alice, \
            WireClient.login(server.host, server.port, "Bob"):
        alice.send_raw(alice.conn.send(SendDirect("first", "Bob", "1"))
                       + alice.conn.send(SendDirect("second", "Bob", "2")))
        # The refusal is immediate; the acceptance waits for the commit: either may come first.
        first, second = sorted((alice.expect((Accepted, ErrorReply), skip=NOTICES) for _ in range(2)),
                               key=lambda e: e.request_id)
        assert isinstance(first, Accepted) and first.request_id == "first"
        assert (second.code, second.request_id) == (ErrorCode.RATE_LIMITED, "second") and second.retry_after > 0
        assert stored(server, "SELECT client_id FROM messages") == [("first",)]


def test_the_address_limit_counts_every_connection_from_the_address():
    with ServerThread(limited(rate_per_address=0.5, burst_per_address=4.0)) as server, \
            WireClient.login(server.host, server.port, "Alice") as alice, \
            WireClient.login(server.host, server.port, "Bob") as bob:
        for i in range(2):
            alice.send(WhoRequest(f"a{i}"))
            assert alice.expect(UserList, skip=NOTICES).request_id == f"a{i}"
            bob.send(WhoRequest(f"b{i}"))
            assert bob.expect(UserList, skip=NOTICES).request_id == f"b{i}"
        alice.send(WhoRequest("a-over"))
        error = alice.expect_error(ErrorCode.RATE_LIMITED, skip=NOTICES)
        assert error.request_id == "a-over" and error.retry_after > 1.0


def test_reconnecting_does_not_refill_the_address_limit():
    with ServerThread(limited(rate_per_address=0.1, burst_per_address=2.0)) as server:
        with WireClient.login(server.host, server.port, "Alice") as alice:
            for i in range(2):
                alice.send(WhoRequest(f"w{i}"))
                alice.expect(UserList, skip=NOTICES)
        wait_until(lambda: server.call(lambda: not server.server.relay.sessions), what="the disconnect")
        with WireClient.login(server.host, server.port, "Alice") as alice:
            alice.send(WhoRequest("fresh?"))
            assert alice.expect_error(ErrorCode.RATE_LIMITED, skip=NOTICES).request_id == "fresh?"


def test_connections_beyond_the_per_address_limit_are_refused_and_closed():
    with ServerThread(limited(max_connections_per_address=2)) as server:
        first = WireClient.login(server.host, server.port, "Alice")
        second = WireClient.login(server.host, server.port, "Bob")
        with first, second, WireClient(server.host, server.port) as third:
            events = third.wait_closed()
            assert [e.code for e in events if isinstance(e, ErrorReply)] == [ErrorCode.TOO_MANY_CONNECTIONS]
            # The two admitted are still served.
            first.send(WhoRequest("w"))
            assert [u.name for u in first.expect(UserList, skip=NOTICES).users] == ["Alice", "Bob"]
        # Once they are gone, the address may connect again.
        wait_until(lambda: server.call(lambda: not server.server.relay.sessions), what="the disconnects")
        with WireClient.login(server.host, server.port, "Carol"):
            pass


def test_a_refused_extra_connection_does_not_use_up_a_place():
    with ServerThread(limited(max_connections_per_address=1)) as server:
        with WireClient.login(server.host, server.port, "Alice"):
            for _ in range(3):
                with WireClient(server.host, server.port) as extra:
                    extra.wait_closed()
        wait_until(lambda: server.call(lambda: not server.server.relay.sessions), what="the disconnects")
        with WireClient.login(server.host, server.port, "Bob"):
            pass


def test_an_address_bucket_is_forgotten_once_it_has_refilled_and_nobody_is_connected():
    loop = asyncio.new_event_loop()
    store = open_store(loop)
    try:
        relay = Relay(ServerConfig(rate_per_address=1.0, burst_per_address=2.0), store)
        session = FakeSession(1, address="192.0.2.7")
        relay.connected(session)
        bucket = relay._per_address["192.0.2.7"][1]
        bucket.take(time.monotonic())
        relay.disconnected(session, None)
        relay.expire(time.time())
        assert relay._per_address["192.0.2.7"] == (0, bucket)  # still draining: kept
        bucket.updated -= 10.0  # as if the last request was long ago: full again
        relay.expire(time.time())
        assert "192.0.2.7" not in relay._per_address
    finally:
        store.close()
        loop.close()
