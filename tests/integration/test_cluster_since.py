"""Feature since across the nodes of a cluster: a device that logs in on one node finds what
another device of the account took on the other node, from a person it never talked with.

Two nodes and one real redis-server (the cluster tests' fixture: one shared in-memory store,
and each node's own Redis store, whose SINCE script walks the ids). Every wait is bounded.
"""

from __future__ import annotations

import const
from protocol import SINCE_FEATURE, Hello, SincePage, SinceRequest, Welcome
from test_cluster_conversation import PASSWORD, cluster, dm, log_in, online  # noqa: F401  (a fixture)
from test_cluster_nodes import NOTICES
from redisserver import redis_server  # noqa: F401  (a fixture)
from wire import WireClient


def test_a_device_on_the_other_node_finds_a_new_contacts_message_another_device_took(cluster):  # noqa: F811
    c = cluster()
    device_a = log_in(c, 0, "João", PASSWORD, register=True)
    ana, carol = log_in(c, 0, "Ana"), log_in(c, 1, "Carol")
    online(c, "joão", "ana", "carol")
    taken = dm(ana, device_a, "a1", "João", "oi, João")  # device A took it: delivered, no queue
    dm(carol, ana, "c1", "Ana", "not João's")
    device_b = WireClient(*c.address(1))
    device_b.send(Hello("h", "João", const.PROTOCOL_VERSION, PASSWORD, False, None, (SINCE_FEATURE,)))
    assert SINCE_FEATURE in device_b.expect(Welcome, skip=NOTICES).features
    device_b.send(SinceRequest("s", 0, 50))
    page = device_b.expect(SincePage, skip=NOTICES)
    assert [(m.msg_id, m.sender, m.to, m.text, m.state) for m in page.messages] == [
        (taken, "Ana", "João", "oi, João", "delivered")]
    assert page.next_id is None
    for client in (device_a, device_b, ana, carol):
        client.close()
