"""A Redis that stalls for less than a node's timeout while the node's inbox reader waits
for the events reader (ClusterNode._catch_up, bounded by CATCH_UP_SECONDS): the wait ends
at its bound, and nothing else the node has in flight on its command connection fails.

Before, _catch_up's XREVRANGE carried the bound as its own timeout on the node's shared
connection, and a command that times out closes the connection it was sent on: a stall
of 0.5 to 2 s, which the node's timeout is there to ride out, failed every claim, route
and beat in flight with it (a login then answered "unavailable"). One node on a real
redis-server, paused by its PID (SIGSTOP) until the wait has ended.
"""

from __future__ import annotations

import asyncio
import time

from redisserver import redis_server  # noqa: F401  (a fixture)
from test_cluster_nodes import NOTICES, Cluster

import const
from protocol import ErrorReply, Hello, Welcome
from server.cluster.node import CATCH_UP_SECONDS
from wire import WireClient


def test_a_stall_shorter_than_the_timeout_fails_nothing_in_flight_beside_the_wait(redis_server):  # noqa: F811
    cluster = Cluster(redis_server.url, 1)
    try:
        node = cluster.nodes[0]
        with redis_server.paused():
            # In flight on the node's command connection (a claim, a route, a beat would be).
            ping = asyncio.run_coroutine_threadsafe(node._redis.execute("PING"), cluster.loop)
            began = time.monotonic()
            cluster.run(node._catch_up(), timeout=CATCH_UP_SECONDS + 3)
            waited = time.monotonic() - began
        assert CATCH_UP_SECONDS - 0.05 <= waited < CATCH_UP_SECONDS + 2.5, waited
        assert ping.result(5) in ("PONG", b"PONG")  # before: the connection was closed under it
        # And the node goes on: a login is welcomed.
        client = WireClient(*cluster.address(0))
        try:
            client.send(Hello("h", "Conceição", const.PROTOCOL_VERSION))
            answer = client.expect((Welcome, ErrorReply), skip=NOTICES, timeout=10)
            assert isinstance(answer, Welcome), answer
        finally:
            client.close()
    finally:
        cluster.close()
