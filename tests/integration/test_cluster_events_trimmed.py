"""A node cut off from Redis for longer than the events stream keeps its entries comes
back to a stream trimmed past its position: it loads the registry again rather than read
on and keep, for good, the users who left meanwhile and miss those who came.

Time compressed: the heartbeat's trim (scripts.BEAT, EVENTS_KEPT_MS: an hour) keeps one
second here, the same script with that one number changed. Node 1 reaches Redis through
a raw FaultProxy that freezes its links and refuses new ones (a network partition).
"""

from __future__ import annotations

from faultproxy import FaultProxy
from redisserver import redis_server  # noqa: F401  (a fixture)
from test_cluster_nodes import Cluster, wait_for, who

from resp import Script
from server.cluster import scripts
from server.cluster.node import _stream_id, _text

KEPT_MS = 1000


def test_a_node_back_after_the_stream_was_trimmed_past_it_loads_the_registry_again(redis_server,  # noqa: F811
                                                                                   monkeypatch):
    kept = str(scripts.EVENTS_KEPT_MS).encode()
    assert kept in scripts.BEAT.source
    monkeypatch.setattr(scripts, "BEAT", Script(scripts.BEAT.source.replace(kept, str(KEPT_MS).encode())))
    with FaultProxy("127.0.0.1", redis_server.port, raw=True) as proxy:
        cluster = Cluster(redis_server.url, 1)
        try:
            cluster.add_through(proxy.port)
            node0, node1 = cluster.nodes
            ana, bia, carl = cluster.login(0, "Ana"), cluster.login(1, "Bia"), cluster.login(0, "Carl")
            wait_for(lambda: who(bia) == ["Ana", "Bia", "Carl"], what="all three online for node 1")
            proxy.refuse_new = True
            proxy.freeze_all()
            carl.close()  # Carl leaves, and Dan comes, while node 1 hears nothing
            dan = cluster.login(0, "Dan")
            wait_for(lambda: who(ana) == ["Ana", "Dan"], timeout=20, what="node 1's Bia reaped, Carl gone, Dan on")
            position = cluster.call(lambda: node1._last_event)

            def trimmed_past_node_1() -> bool:
                info = cluster.run(node0._redis.execute("XINFO", "STREAM", node0.prefix + "events"))
                fields = dict(zip(map(_text, info[::2]), info[1::2]))
                first = fields.get("first-entry")
                return not first or _stream_id(first[0]) > _stream_id(position)

            wait_for(trimmed_past_node_1, timeout=20, what="node 0's beats trimming the stream past node 1")
            proxy.refuse_new = False  # node 1's links time out and come back; it rejoins
            wait_for(lambda: who(ana) == ["Ana", "Bia", "Dan"], timeout=30, what="Bia online again for node 0")
            # Before: node 1 read on from its position and told Bia ["Ana", "Bia", "Carl"] for good.
            wait_for(lambda: who(bia) == ["Ana", "Bia", "Dan"], timeout=30, what="node 1's directory right again")
            for client in (ana, bia, dan):
                client.close()
        finally:
            cluster.close()
