"""A node's says reach every node in the order it stored them, also on a store without
the one-step ROOM_SAY (the in-process tests' shared memory: the node puts each stored say
on the events stream by a script call of its own, scripts.ROOM_TEXT_ENTRY) when Redis has
just forgotten that script and another node loads it meanwhile: the rule of the node's
routes (resp.Script.in_order), as test_cluster_routes_order.py shows it for them.

Two nodes in one process (test_cluster_nodes.Cluster, one store in memory) on a real
redis-server; node 1 reaches Redis through a raw FaultProxy, which holds back the replies
on its main link: Redis runs what node 1 sends and its answers wait on their way. Every
wait has a deadline.
"""

from __future__ import annotations

import pytest
from faultproxy import DOWN, FaultProxy
from redisserver import redis_server  # noqa: F401  (a fixture)
from test_cluster_nodes import NOTICES, Cluster, wait_for

from protocol import Accepted, RoomMessage, SendRoom
from resp import Script
from server.cluster import scripts


@pytest.mark.timeout_seconds(90)
def test_a_say_redis_answered_noscript_is_not_overtaken_by_the_next_one(redis_server):  # noqa: F811
    # Ana's first say's ROOM_TEXT_ENTRY call meets a Redis without the script (NOSCRIPT:
    # it did not run); before node 1 hears that, another node loads the script and Ana's
    # second say is put on the stream. Sent again after that answer, the first came to
    # Bia after the second.
    with FaultProxy("127.0.0.1", redis_server.port, raw=True) as proxy:
        c = Cluster(redis_server.url, 1, timeout=10.0, ttl=60.0)
        try:
            c.add_through(proxy.port)
            node = c.nodes[1]
            assert not hasattr(node.relay.store, "store_room_say")  # the path under test
            with c.login(0, "Bia") as bia, c.login(1, "Ana") as ana:
                wait_for(lambda: c.call(lambda: node._where.get("bia")) is False, what="node 1 knows Bia on node 0")
                for task in (node._tasks[0], node._tasks[3]):  # the heartbeat and the gauges: Redis scripts too
                    c.call(task.cancel)
                redis = c.nodes[0]._redis
                assert c.run(redis.execute("SCRIPT", "FLUSH")) == "OK"
                for script in vars(scripts).values():  # all but ROOM_TEXT_ENTRY
                    if isinstance(script, Script) and script is not scripts.ROOM_TEXT_ENTRY:
                        c.run(redis.execute("SCRIPT", "LOAD", script.source))
                port = c.call(lambda: node._redis._link.transport.get_extra_info("sockname")[1])
                assert proxy.hold_peer(port, (DOWN,)) == 1
                ana.send(SendRoom("s1", "first"))
                wait_for(lambda: proxy.held(port, DOWN), what="Redis answering node 1's stream call")
                c.run(redis.execute("SCRIPT", "LOAD", scripts.ROOM_TEXT_ENTRY.source))  # another node's doing
                ana.send(SendRoom("s2", "second"))
                shown = [bia.expect(RoomMessage, skip=NOTICES).text]  # node 0 reads the stream meanwhile
                assert proxy.release_peer(port) == 1
                shown.append(bia.expect(RoomMessage, skip=NOTICES).text)
                assert shown == ["first", "second"], f"Bia was shown {shown}"
                answered = {ana.expect(Accepted, skip=NOTICES + (RoomMessage,)).request_id for _ in range(2)}
                assert answered == {"s1", "s2"}
        finally:
            c.close()
