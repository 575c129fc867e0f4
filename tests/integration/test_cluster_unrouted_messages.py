"""A direct message one node stored and routed to nobody (its ROUTES call failed, or the
node died between the two calls) reaches its recipient, who stayed connected to another
node: once Redis answers the sender's node again, and once that node, dead, is reaped;
and a message stored after it does not reach her before it.
Before, it came only at her next login: the chaos run with 20 clients, cluster seed 943,
ended with five messages stored, their senders told ``queued``, and their recipients
online on another node, never shown them (the senders' node lost its link to Redis for
a second just after storing them).

Two nodes on one loop (test_cluster_nodes.Cluster: one store in memory, or each node its
Redis store) and a real redis-server; wire clients. Every wait has a deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from redisserver import redis_server  # noqa: F401  (a fixture)
from test_cluster_conversation import log_in, no, online
from test_cluster_nodes import NOTICES, Cluster, wait_for

from protocol import Accepted, Delivered, DirectMessage, Queued, Receipt, SendDirect
from resp.aio import RedisConnectionError
from server.cluster import scripts


@contextmanager
def ana_and_bia(redis, redis_stores: bool = False) -> Iterator[tuple]:
    """Ana on node 0 and Bia on node 1, each seen online by both: (the cluster, Ana, Bia)."""
    c = Cluster(redis.url, 2, redis_stores=redis_stores, beat=0.2, ttl=1.0)
    try:
        with log_in(c, 0, "Ana") as ana, log_in(c, 1, "Bia") as bia:
            online(c, "Ana", "Bia")
            yield c, ana, bia
    finally:
        c.close()


def test_a_message_whose_route_failed_reaches_its_recipient_once_redis_answers_the_senders_node(
        redis_server):  # noqa: F811
    with ana_and_bia(redis_server) as (c, ana, bia):
        redis, failed = c.nodes[1]._redis, []
        real = redis.pipeline_now

        def losing_the_message(commands):
            if not failed and b'"k":"dm"' in commands[0]:
                failed.append(commands)
                raise RedisConnectionError("Redis went away (the test)")
            return real(commands)

        c.call(setattr, redis, "pipeline_now", losing_the_message)
        bia.send(SendDirect("d1", "ana", "oi"))
        queued = bia.expect(Queued, skip=NOTICES)
        assert failed, "node 1's route of the message did not fail"
        got = ana.expect(DirectMessage, skip=NOTICES, timeout=10)
        assert (got.msg_id, got.text) == (queued.msg_id, "oi")
        ana.send(Receipt(got.msg_id))
        assert bia.expect(Delivered, skip=NOTICES).msg_id == queued.msg_id
        no(ana, DirectMessage)  # once


def bias_first_route_fails(c, hold_after: bool = False) -> tuple[list, list, asyncio.Event]:
    """Node 1 routes Bia's message "d1" by a ROUTES call (as when it waits on an earlier
    route of hers), and that call fails. With ``hold_after``, the ROUTES calls after it wait,
    in their order, until the event returned is set (a slow link to Redis): (the failed
    calls, the held ones, that event)."""
    node = c.nodes[1]
    store, redis = node._store, node._redis
    real_router, real_pipeline = store.router, redis.pipeline_now
    routes_call = scripts.ROUTES.source  # (sent as EVAL: node._send_routes)
    failed: list = []
    held: list = []
    go = asyncio.Event()

    def routing_the_first_by_routes(fields):
        return None if fields[6] == "d1" else real_router(fields)

    def slow_routes(commands):
        if routes_call not in commands[0] or (not failed and b'"k":"dm"' not in commands[0]):
            return real_pipeline(commands)
        if not failed:
            failed.append(commands)
            raise RedisConnectionError("Redis went away (the test)")
        if not hold_after or go.is_set():
            return real_pipeline(commands)
        held.append(commands)

        async def later():
            await go.wait()
            return await real_pipeline(commands)
        return later()

    c.call(setattr, store, "router", routing_the_first_by_routes)
    c.call(setattr, redis, "pipeline_now", slow_routes)
    return failed, held, go


def ana_is_shown_both_in_order(ana, bia, first: int, second: int) -> None:
    """Ana is shown "um" then "dois", each once, and Bia hears both delivered."""
    shown = [ana.expect(DirectMessage, skip=NOTICES, timeout=10) for _ in range(2)]
    assert [(m.msg_id, m.text) for m in shown] == [(first, "um"), (second, "dois")]
    for message in shown:
        ana.send(Receipt(message.msg_id))
    assert {bia.expect(Delivered, skip=NOTICES).msg_id for _ in range(2)} == {first, second}
    no(ana, DirectMessage)  # each once


def test_a_message_stored_after_one_whose_route_failed_does_not_reach_the_recipient_before_it(
        redis_server):  # noqa: F811
    """Bia's second message, stored while the first waits to be routed again, would go in
    the entry its store script writes, ahead of the first's notice: Ana was shown "dois"
    before "um". It waits behind that route instead."""
    with ana_and_bia(redis_server, redis_stores=True) as (c, ana, bia):
        failed, _held, _go = bias_first_route_fails(c)
        bia.send(SendDirect("d1", "ana", "um"))
        first = bia.expect(Queued, skip=NOTICES).msg_id
        assert failed, "node 1's route of the first message did not fail"
        bia.send(SendDirect("d2", "ana", "dois"))
        second = bia.expect(Accepted, skip=NOTICES).msg_id
        ana_is_shown_both_in_order(ana, bia, first, second)


def test_nor_while_the_route_of_the_earlier_ones_notice_is_on_its_way(redis_server):  # noqa: F811
    """The notice of "um" is routed again, on a slow link: until Redis has it, "dois" (on
    the store's own link) is not routed by its store script either."""
    with ana_and_bia(redis_server, redis_stores=True) as (c, ana, bia):
        _failed, held, go = bias_first_route_fails(c, hold_after=True)
        bia.send(SendDirect("d1", "ana", "um"))
        first = bia.expect(Queued, skip=NOTICES).msg_id
        wait_for(lambda: c.call(lambda: any(b'"k":"waiting"' in commands[0] for commands in held)),
                 what="node 1 routing the notice of the first message again")
        bia.send(SendDirect("d2", "ana", "dois"))
        no(ana, DirectMessage, quiet=0.5)  # "dois" waits behind the notice
        c.call(go.set)
        second = bia.expect(Accepted, skip=NOTICES).msg_id
        ana_is_shown_both_in_order(ana, bia, first, second)


@pytest.mark.timeout_seconds(60)
def test_a_message_stored_by_a_node_that_died_before_routing_it_reaches_its_recipient_once_the_node_is_reaped(
        redis_server):  # noqa: F811
    with ana_and_bia(redis_server) as (c, ana, bia):
        dropped = []
        c.call(setattr, c.nodes[1], "route", lambda message, _callback: dropped.append(message))
        bia.send(SendDirect("d1", "ana", "oi"))
        wait_for(lambda: dropped, what="the message that node 1 stores and never routes")
        no(ana, DirectMessage, quiet=0.3)
        c.crash(1)
        got = ana.expect(DirectMessage, skip=NOTICES, timeout=15)
        assert (got.msg_id, got.text) == (dropped[0].msg_id, "oi")
        no(ana, DirectMessage)  # once
