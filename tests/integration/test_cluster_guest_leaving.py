"""A guest's leaving time reaches Redis even when Redis is away at the logout.

The nodes run in one process (test_cluster_nodes.Cluster), each with its Redis store, on
one real redis-server that syncs every write, killed and started again, or reached
through a proxy that holds a node's links back. Every wait has a deadline.
"""

from __future__ import annotations

import time

import pytest
from faultproxy import UP, FaultProxy
from redisserver import durable_redis  # noqa: F401  (a fixture)
from test_cluster_name_race import redis_call
from test_cluster_nodes import Cluster, wait_for
from wire import WireClient

import const
from protocol import Done, ErrorCode, ErrorReply, Goodbye, Hello, Ping, Revoke, UserJoined, UserLeft, Welcome
from server.cluster import bus
from server.guests import GIVEN_UP, Claim


def store_idle(store) -> bool:
    """Whether ``store`` has nothing submitted that Redis has not answered (or refused)."""
    return not store._queued and store._pipelines_made == store._pipelines_answered


@pytest.mark.timeout_seconds(90)
def test_a_guest_who_leaves_while_redis_is_down_is_held_in_redis_from_that_time(durable_redis):  # noqa: F811
    # Lia logs out while Redis is down: the node's RELEASE waits for the next beats, and the
    # store's write of her leaving time is refused. Before, nothing wrote it again: her
    # holding stayed "online" in Redis for good (CLAIM let anyone take her name at once;
    # FORGET_GUESTS, which wants the leaving time the nodes hold, never forgot it).
    c = Cluster(durable_redis.url, 1, redis_stores=True)
    try:
        server, node = c.servers[0], c.nodes[0]
        lia = c.login(0, "Lia")
        wait_for(lambda: redis_call(durable_redis.url, "HGET", "{chat}:guest:lia", "epoch") is not None,
                 what="Lia's holding stored")
        assert redis_call(durable_redis.url, "HGET", "{chat}:guest:lia", "left") is None
        durable_redis.kill()
        lia.close()
        wait_for(lambda: c.call(lambda: bool(node._unreleased)), timeout=20, what="Lia's release refused")
        wait_for(lambda: c.call(lambda: store_idle(server.relay.store)), timeout=20,
                 what="the store's writes of the logout answered")
        left_at = c.call(lambda: server.relay.logins.guests.holdings["lia"].left_at)
        assert left_at is not None
        durable_redis.start()
        wait_for(lambda: redis_call(durable_redis.url, "HEXISTS", "{chat}:who", "lia") == 0, timeout=20,
                 what="Lia's release run once Redis is back")
        stored = redis_call(durable_redis.url, "HGET", "{chat}:guest:lia", "left")
        assert stored is not None and float(stored) == left_at, (stored, left_at)
    finally:
        c.close()


def stream_entries(url: str, kind: str, key: str) -> list:
    """The ``kind`` entries of ``key`` on the events stream, decoded."""
    entries = [bus.decode(e[1][1]) for e in redis_call(url, "XRANGE", "{chat}:events", "-", "+")]
    return [e for e in entries if e.KIND == kind and e.key == key]


@pytest.mark.timeout_seconds(90)
def test_a_guest_login_ended_before_its_claim_is_answered_keeps_the_earlier_leaving_time(durable_redis):  # noqa: F811
    # Bo left and his hold is over: a new guest takes "Bo" anew, but its CLAIM waits (held
    # back by the proxy) past the login timeout, which ends that session; the node releases
    # the claim once it is answered. That session never held the name: Bo's holding in Redis
    # must keep the leaving time every node's cache holds (FORGET_GUESTS compares the two),
    # not get that release's time.
    with FaultProxy("127.0.0.1", durable_redis.port, raw=True) as proxy:
        c = Cluster(durable_redis.url, 0, redis_stores=True, config={"guest_hold": 0.2, "login_timeout": 1.0},
                    timeout=10.0, ttl=20.0)
        try:
            server = c.add_through(proxy.port)
            node = c.nodes[0]
            WireClient.login(*c.address(0), "Bo", tokens={}).close()
            left = wait_for(lambda: redis_call(durable_redis.url, "HGET", "{chat}:guest:bo", "left"),
                            what="Bo's leaving stored")
            # (its own entries, read back from the events stream, say "online", then "left")
            wait_for(lambda: c.call(lambda: server.relay.logins.guests.holdings["bo"].left_at) == float(left),
                     what="Bo's leaving in the node's cache")
            wait_for(lambda: c.call(lambda: server.relay.logins.guests.decide("bo", None, time.time())[0]
                                    is Claim.TAKE), what="Bo's hold over")
            port = c.call(lambda: node._redis._link.transport.get_extra_info("sockname")[1])
            real_claim, held = node.claim, []

            def held_claim(session, key, *args, **kwargs):
                if key == "bo" and not held:  # from now on what the node sends Redis waits (the CLAIM first)
                    held.append(proxy.hold_peer(port, (UP,)))
                return real_claim(session, key, *args, **kwargs)

            c.call(lambda: setattr(node, "claim", held_claim))
            with WireClient(*c.address(0)) as guest:
                guest.send(Hello("g", "Bo", const.PROTOCOL_VERSION))
                wait_for(lambda: b"bo" in proxy.held(port, UP), what="the CLAIM held")
                ended = guest.expect(ErrorReply, skip=(Ping,))
                assert ended.code == ErrorCode.LOGIN_TIMEOUT, ended
                proxy.release_peer(port)
                wait_for(lambda: len(stream_entries(durable_redis.url, "off", "bo")) == 2, timeout=20,
                         what="the late claim run and released")
            assert redis_call(durable_redis.url, "HGET", "{chat}:guest:bo", "left") == left
        finally:
            c.close()


@pytest.mark.timeout_seconds(90)
def test_a_guest_online_on_a_node_that_dies_is_noted_gone_even_if_its_holding_said_it_left(
        durable_redis):  # noqa: F811
    # Lia left node 1 (her holding in Redis has her leaving time) and comes back there with
    # her token; node 1's store loses Redis just as her CLAIM runs (its link cut, no new one
    # taken), so its write that she is online again is refused, and her holding in Redis
    # keeps the old leaving time. Then node 1 dies, and node 0 reaps it. Before, the REAP
    # noted a leaving only for a holding that said online: none for her, and node 0 (told
    # by node 1 that she was back) held her name as online for good.
    with FaultProxy("127.0.0.1", durable_redis.port, raw=True) as proxy:
        c = Cluster(durable_redis.url, 1, redis_stores=True, beat=0.2, ttl=1.0)
        try:
            server = c.add_through(proxy.port)
            node, store = c.nodes[1], server.relay.store
            tokens: dict = {}
            WireClient.login(*c.address(1), "Lia", tokens=tokens).close()
            before = wait_for(lambda: redis_call(durable_redis.url, "HGET", "{chat}:guest:lia", "left"),
                              what="Lia's leaving stored")
            real_claim = node.claim

            def claim_with_the_store_cut(session, key, *args, **kwargs):
                if key == "lia":
                    proxy.refuse_new = True
                    proxy.cut_peer(store._client._link.transport.get_extra_info("sockname")[1])
                return real_claim(session, key, *args, **kwargs)

            c.call(lambda: setattr(node, "claim", claim_with_the_store_cut))
            guests = c.servers[0].relay.logins.guests
            with WireClient.login(*c.address(1), "Lia", tokens=tokens):  # welcomed back (login asserts it)
                wait_for(lambda: c.call(lambda: store.failures.operations_failed > 0 and store_idle(store)),
                         timeout=20, what="the store's writes of the login refused")
                wait_for(lambda: c.call(lambda: guests.holdings["lia"].left_at is None),
                         what="node 0 hears she is back")
                assert redis_call(durable_redis.url, "HGET", "{chat}:guest:lia", "left") == before
                c.crash(1)
            left_at = wait_for(lambda: c.call(lambda: guests.holdings["lia"].left_at), timeout=20,
                               what="node 0 notes that she left with node 1")
            assert float(redis_call(durable_redis.url, "HGET", "{chat}:guest:lia", "left")) == left_at > float(before)
        finally:
            proxy.refuse_new = False
            c.close()


def heard_given_up(guests, key: str) -> bool:
    """Whether a node's cache ``guests`` has heard that guest ``key`` gave its name up
    (the revoke's holding event) and left (its leaving's): the events stream's order."""
    holding = guests.holdings.get(key)
    return holding is not None and holding.token_hash == GIVEN_UP and holding.left_at is not None


@pytest.mark.timeout_seconds(90)
def test_a_guest_who_gives_its_name_up_on_one_node_leaves_it_to_a_hello_on_another_at_once(durable_redis):  # noqa: F811
    # Ana revokes her own token on node 0 and says bye: Redis keeps her holding given up
    # (no token hash), so node 1's hello for "Ana" without the token is welcomed as soon as
    # node 1 has heard that she left (before: name_taken for GUEST_HOLD, by the node's cache
    # and by CLAIM's check of the hold in Redis alike), and takes the name anew.
    c = Cluster(durable_redis.url, 2, redis_stores=True)
    try:
        mine: dict = {}
        ana = WireClient.login(*c.address(0), "Ana", tokens=mine)
        token = ana.welcome.resume
        ana.send(Revoke("r1", token))
        assert ana.expect(Done, skip=(UserJoined, UserLeft)).request_id == "r1"
        assert redis_call(durable_redis.url, "HGET", "{chat}:guest:ana", "token") == b""
        ana.send(Goodbye("quit"))
        ana.wait_closed()
        ana.close()
        other = c.servers[1].relay.logins.guests
        wait_for(lambda: c.call(lambda: heard_given_up(other, "ana")), what="node 1 heard that Ana gave up and left")
        with WireClient(*c.address(1)) as stranger:
            stranger.send(Hello("h1", "Ana", const.PROTOCOL_VERSION))
            welcome = stranger.expect(Welcome)
            assert welcome.resume and welcome.resume != token
        assert redis_call(durable_redis.url, "HGET", "{chat}:guest:ana", "token") not in (None, b"")
    finally:
        c.close()


@pytest.mark.timeout_seconds(90)
def test_a_name_given_up_on_one_node_may_be_registered_on_another_at_once(durable_redis):  # noqa: F811
    # As above, but the next hello registers the name: SAVE_ACCOUNT's check of the hold in
    # Redis passes over a holding given up (before: name_taken until the hold's end).
    c = Cluster(durable_redis.url, 2, redis_stores=True)
    try:
        ana = WireClient.login(*c.address(0), "Ana", tokens={})
        ana.send(Revoke("r1", ana.welcome.resume))
        assert ana.expect(Done, skip=(UserJoined, UserLeft)).request_id == "r1"
        ana.send(Goodbye("quit"))
        ana.wait_closed()
        ana.close()
        other = c.servers[1].relay.logins.guests
        wait_for(lambda: c.call(lambda: heard_given_up(other, "ana")), what="node 1 heard that Ana gave up and left")
        with WireClient(*c.address(1)) as newcomer:
            newcomer.send(Hello("h1", "Ana", const.PROTOCOL_VERSION, "a long enough password", True))
            assert newcomer.expect(Welcome).registered
    finally:
        c.close()
