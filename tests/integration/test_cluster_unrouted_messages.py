"""A direct message one node stored and routed to nobody (its ROUTES call failed, or the
node died between the two calls) reaches its recipient, who stayed connected to another
node: once Redis answers the sender's node again, and once that node, dead, is reaped.
Before, it came only at her next login: the chaos run with 20 clients, cluster seed 943,
ended with five messages stored, their senders told ``queued``, and their recipients
online on another node, never shown them (the senders' node lost its link to Redis for
a second just after storing them).

Two nodes on one loop (test_cluster_nodes.Cluster: one store in memory) and a real
redis-server; wire clients. Every wait has a deadline.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from redisserver import redis_server  # noqa: F401  (a fixture)
from test_cluster_conversation import log_in, no, online
from test_cluster_nodes import NOTICES, Cluster, wait_for

from protocol import Delivered, DirectMessage, Queued, Receipt, SendDirect
from resp.aio import RedisConnectionError


@contextmanager
def ana_and_bia(redis) -> Iterator[tuple]:
    """Ana on node 0 and Bia on node 1, each seen online by both: (the cluster, Ana, Bia)."""
    c = Cluster(redis.url, 2, beat=0.2, ttl=1.0)
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
