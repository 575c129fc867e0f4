"""A node's routes reach the other nodes' inboxes in the order it sent them, also when
Redis has just forgotten the routing script (restarted, ``SCRIPT FLUSH``) and another node
loads it meanwhile.

Two nodes in one process (test_cluster_nodes.Cluster, one store in memory, so every direct
message across nodes is routed by a ROUTES call of the node) on a real redis-server; node 1
reaches Redis through a raw FaultProxy, which holds back the replies on its main link:
Redis runs what node 1 sends and its answers wait on their way. Every wait has a deadline.
"""

from __future__ import annotations

import pytest
from faultproxy import DOWN, FaultProxy
from redisserver import redis_server  # noqa: F401  (a fixture)
from test_cluster_nodes import NOTICES, Cluster, wait_for

from protocol import Accepted, DirectMessage, SendDirect
from resp import Script
from server.cluster import scripts


@pytest.mark.timeout_seconds(90)
def test_a_route_redis_answered_noscript_is_not_overtaken_by_the_next_one(redis_server):  # noqa: F811
    # Ana's first message's ROUTES call meets a Redis without the script (NOSCRIPT: it
    # did not run); before node 1 hears that, another node loads the script (as its own
    # call does after NOSCRIPT) and node 1 routes Ana's second message, which runs. Sent
    # again after that answer, the first came to Bia after the second.
    with FaultProxy("127.0.0.1", redis_server.port, raw=True) as proxy:
        # A long timeout and TTL: the held replies must not time out, and node 1, whose
        # heartbeat is stopped so that its link carries the routes alone, is not reaped.
        c = Cluster(redis_server.url, 1, timeout=10.0, ttl=60.0)
        try:
            c.add_through(proxy.port)
            node = c.nodes[1]
            with c.login(0, "Bia") as bia, c.login(1, "Ana") as ana:
                wait_for(lambda: c.call(lambda: node._where.get("bia")) is False, what="node 1 knows Bia on node 0")
                for task in (node._tasks[0], node._tasks[3]):  # the heartbeat and the gauges: Redis scripts too
                    c.call(task.cancel)
                redis = c.nodes[0]._redis
                assert c.run(redis.execute("SCRIPT", "FLUSH")) == "OK"
                for script in vars(scripts).values():  # all but ROUTES: node 1's link meets NOSCRIPT only there
                    if isinstance(script, Script) and script is not scripts.ROUTES:
                        c.run(redis.execute("SCRIPT", "LOAD", script.source))
                port = c.call(lambda: node._redis._link.transport.get_extra_info("sockname")[1])
                assert proxy.hold_peer(port, (DOWN,)) == 1
                ana.send(SendDirect("d1", "Bia", "first"))
                wait_for(lambda: proxy.held(port, DOWN), what="Redis answering node 1's routes call")
                c.run(redis.execute("SCRIPT", "LOAD", scripts.ROUTES.source))  # another node's doing
                ana.send(SendDirect("d2", "Bia", "second"))
                shown = [bia.expect(DirectMessage, skip=NOTICES).text]  # node 0 reads its inbox meanwhile
                assert proxy.release_peer(port) == 1
                shown.append(bia.expect(DirectMessage, skip=NOTICES).text)
                assert shown == ["first", "second"], f"Bia was shown {shown}"
                assert {ana.expect(Accepted, skip=NOTICES).request_id for _ in range(2)} == {"d1", "d2"}
        finally:
            c.close()
