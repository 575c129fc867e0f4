"""An edit stored by one node and routed to nobody (the route failed with Redis, or the
node died between the two calls) reaches its recipient, who stayed connected to another
node, as her outcomes do: when Redis answers her node again, and when the editor's node is
reaped. Before, it came only at her next login (PROTOCOL.md, "edited"): the chaos run with
20 clients, seed 185, ended with two recipients reading an edit older than one their
senders were told was stored.

Two nodes on one loop (test_cluster_nodes.Cluster) and a real redis-server; wire clients
with the feature ``edits``. Every wait has a deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from redisserver import RedisServer, redis_server  # noqa: F401  (a fixture)
from test_cluster_conversation import dm, log_in, online
from test_cluster_nodes import Cluster, wait_for

from protocol import Done, Edit, Edited, Ping, Queued, UserLeft


@contextmanager
def an_edit_routed_to_nobody(redis: RedisServer) -> Iterator[tuple]:
    """Bia (node 1) sent Ana (node 0) a message, which Ana confirmed, and edited it: node 1
    stored the edit and routed it nowhere. (The cluster, Ana, the message's id.)"""
    c = Cluster(redis.url, 2, beat=0.2, ttl=1.0)
    try:
        with log_in(c, 0, "Ana") as ana, log_in(c, 1, "Bia") as bia:
            online(c, "Ana", "Bia")
            msg_id = dm(bia, ana, "d1", "Ana", "oi")
            node, dropped = c.nodes[1], []
            c.call(lambda: setattr(node, "conversation", lambda *route: dropped.append(route)))
            bia.send(Edit("e1", msg_id, "oi!"))
            bia.expect(Done, skip=(Ping,))
            wait_for(lambda: dropped, what="the edit that node 1 never routes")
            assert not [e for e in ana.drain(quiet=0.3) if isinstance(e, Edited)]
            yield c, ana, msg_id
    finally:
        c.close()


def test_an_edit_routed_to_nobody_is_told_when_redis_answers_the_recipients_node_again(
        redis_server):  # noqa: F811
    with an_edit_routed_to_nobody(redis_server) as (c, ana, msg_id):
        c.call(c.servers[0].relay.resync, time.time())  # what node 0 does once Redis answers after a break
        edited = ana.expect(Edited, skip=(Ping,), timeout=5)
        assert (edited.msg_id, edited.text) == (msg_id, "oi!")


@pytest.mark.timeout_seconds(60)
def test_an_edit_routed_to_nobody_by_a_node_that_died_is_told_once_the_node_is_reaped(
        redis_server):  # noqa: F811
    with an_edit_routed_to_nobody(redis_server) as (c, ana, msg_id):
        c.crash(1)
        got = [ana.expect((UserLeft, Edited), skip=(Ping, Queued), timeout=15) for _ in range(2)]
        assert sorted(type(e).__name__ for e in got) == ["Edited", "UserLeft"], got
        [edited] = [e for e in got if isinstance(e, Edited)]
        assert (edited.msg_id, edited.text) == (msg_id, "oi!")
